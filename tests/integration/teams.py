"""Users, projects and roles for tests: berth's CLI for users, Harbor's API (as any client
would call it) for projects and members."""

from __future__ import annotations

import asyncio

import requests
from harborapi import HarborAsyncClient

from test_auth import admin_password, run_berth

# Harbor's role ids.
PROJECT_ADMIN, DEVELOPER, GUEST, MAINTAINER, LIMITED_GUEST = 1, 2, 3, 4, 5


def add_user(reg, name: str, password: str, admin: bool = False):
    args = ["user", "add", name, "--password-stdin", "--config", str(reg.config_path)]
    run_berth(*args, *(["--admin"] if admin else []), stdin=password + "\n")


def member_of(reg, project: str, user: str, role: int = DEVELOPER):
    """Gives `user` `role` in `project`, which the administrator creates if missing."""
    api = f"{reg.url}/api/v2.0"
    admin = ("admin", admin_password(reg))
    tls = dict(verify=reg.verify, cert=reg.cert, timeout=30)
    r = requests.post(f"{api}/projects", auth=admin, json={"project_name": project}, **tls)
    assert r.status_code in (201, 409), r.text
    r = requests.post(f"{api}/projects/{project}/members", auth=admin, **tls,
                      json={"role_id": role, "member_user": {"username": user}})
    assert r.status_code == 201, r.text


class Harbor:
    """harborapi's async client, called synchronously (its own sync client cannot run a
    method that calls another: the event loop is already running)."""

    def __init__(self, reg, user: str, password: str):
        self.client = HarborAsyncClient(url=f"{reg.url}/api/v2.0", username=user,
                                        secret=password, retry=None)
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name):
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self.loop.run_until_complete(method(*args, **kwargs))
