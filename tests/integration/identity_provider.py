"""A real OpenID Connect provider for the tests (`oidc-provider-mock` from PyPI) on a
loopback port, and a browser's walk through its sign-in form, done with requests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import requests

from servers import free_port


class Provider:
    def __init__(self, users: list[dict]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "oidc_provider_mock", "-p", str(self.port)]
        for claims in users:
            args += ["--user-claims", json.dumps(claims)]
        # authlib refuses plain HTTP unless told this is a test.
        env = dict(os.environ, AUTHLIB_INSECURE_TRANSPORT="1")
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/.well-known/openid-configuration",
                                timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited: {self.proc.stderr.read()}")
            time.sleep(0.1)
        raise RuntimeError("the OIDC provider did not start within 30s")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def berth_config(self, admin_group: str = "registry-admins") -> str:
        return ("auth:\n  local:\n    service: test-registry\n"
                "berth:\n  oidc:\n"
                f"    endpoint: {self.url}\n    clientid: berth\n    clientsecret: berth-secret\n"
                "    scope: openid,profile,email\n    userclaim: preferred_username\n"
                f"    groupsclaim: groups\n    admingroup: {admin_group}\n")


def browser_sign_in(reg, subject: str, session: requests.Session | None = None):
    """A browser's sign-in: berth → the provider's form → the subject chosen → berth's
    callback. Returns (the callback's response, the CLI secret it shows or None)."""
    s = session or requests.Session()
    start = s.get(f"{reg.url}/c/oidc/login", allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.text
    form = start.headers["Location"]
    assert s.get(form, timeout=30).status_code == 200
    chosen = s.post(form, data={"sub": subject}, allow_redirects=False, timeout=30)
    assert chosen.status_code == 302, chosen.text
    back = s.get(chosen.headers["Location"], allow_redirects=False, timeout=30)
    found = re.search(r'<code id="cli-secret">([^<]+)</code>', back.text)
    return back, found.group(1) if found else None
