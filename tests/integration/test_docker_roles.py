"""The Docker engine column of the role matrix: `docker login`, `docker push` and `docker
pull` as each of Harbor's roles, a pull-only robot and an OIDC user's CLI secret, against
the real binary with berth's token service. The daemon runs on this host and reaches the
registry on loopback (Docker's default insecure range); each identity logs in with its own
client configuration directory, so nothing leaks between them or into the machine's.

Skipped without a Docker engine (a failure with BERTH_REQUIRE_DOCKER=1, as test_docker)."""

from __future__ import annotations

import uuid

import pytest
from harborapi.models import ProjectMember, ProjectReq

from conftest import LOCAL_AUTH
from identity_provider import Provider, browser_sign_in
from teams import DEVELOPER, GUEST, LIMITED_GUEST, MAINTAINER, PROJECT_ADMIN, Harbor, add_user
from test_auth import admin_password
from test_docker import build_busybox_image, docker, docker_engine, local_images  # noqa: F401
from test_robots import project_robot

pytestmark = pytest.mark.berth_only

# What the engine may do as each role (Harbor's table; deletes are not the engine's).
ALLOWED = {
    PROJECT_ADMIN: {"pull", "push"},
    MAINTAINER: {"pull", "push"},
    DEVELOPER: {"pull", "push"},
    GUEST: {"pull"},
    LIMITED_GUEST: {"pull"},
    None: set(),
}


class DockerClient:
    """The docker CLI with a configuration directory of its own."""

    def __init__(self, workdir, host: str, user: str, secret: str):
        self.config = workdir / f"docker-{uuid.uuid4().hex[:8]}"
        self.config.mkdir()
        self.host = host
        login = docker("--config", str(self.config), "login", "-u", user, "--password-stdin",
                       host, check=False, input_text=secret)
        assert login.returncode == 0, f"docker login as {user}: {login.stderr}"

    def run(self, *args):
        return docker("--config", str(self.config), *args, check=False)

    def can(self, image_id: str, ref: str) -> set[str]:
        """What this identity managed: pushing `image_id` as `ref`, pulling `ref` back."""
        done = set()
        target = f"{self.host}/{ref}"
        docker("tag", image_id, target)
        pushed = self.run("push", target)
        if pushed.returncode == 0:
            done.add("push")
        else:
            assert "denied" in pushed.stderr.lower() or "unauthorized" in pushed.stderr.lower(), \
                pushed.stderr
        docker("rmi", "-f", target, check=False)
        return done

    def pulls(self, ref: str) -> bool:
        pulled = self.run("pull", f"{self.host}/{ref}")
        docker("rmi", "-f", f"{self.host}/{ref}", check=False)
        return pulled.returncode == 0


def test_each_role_pushes_and_pulls_with_the_docker_engine(docker_engine, local_images,
                                                          make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH)
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    image_id = build_busybox_image(workdir / "ctx", f"berth-roles-{uuid.uuid4().hex[:8]}",
                                   "roles")
    local_images.append(image_id)
    owner = DockerClient(workdir, reg.host, "admin", password)
    assert owner.can(image_id, "team/base:v1") == {"push"}

    seen = {}
    for role in ALLOWED:
        user = f"docker-{role or 'none'}"
        add_user(reg, user, f"{user}-password")
        if role is not None:
            admin.add_project_member_user("team", user, role)
        client = DockerClient(workdir, reg.host, user, f"{user}-password")
        done = client.can(image_id, f"team/pushed-{role or 'none'}:v1")
        if client.pulls("team/base:v1"):
            done.add("pull")
        seen[role] = done
    assert seen == ALLOWED

    # Production's read-only robot: logs in like a user, pulls, pushes nothing.
    robot = admin.create_robot(project_robot("prod", "team", "repository:pull"))
    prod = DockerClient(workdir, reg.host, robot.name, robot.secret)
    assert prod.pulls("team/base:v1")
    assert prod.can(image_id, "team/by-robot:v1") == set()


def test_an_oidc_user_logs_the_engine_in_with_the_cli_secret(docker_engine, local_images,
                                                           make_registry, workdir):
    provider = Provider([{"sub": "erin-sub", "preferred_username": "erin",
                          "groups": ["platform"]}])
    try:
        reg = make_registry(extra_config=provider.berth_config())
        admin = Harbor(reg, "admin", admin_password(reg))
        admin.create_project(ProjectReq(project_name="team"))
        admin.add_project_member("team", ProjectMember(role_id=DEVELOPER, member_group={
            "group_name": "platform", "group_type": 3}))
        _, secret = browser_sign_in(reg, "erin-sub")
        image_id = build_busybox_image(workdir / "ctx", f"berth-oidc-{uuid.uuid4().hex[:8]}",
                                       "oidc")
        local_images.append(image_id)
        erin = DockerClient(workdir, reg.host, "erin", secret)
        assert erin.can(image_id, "team/app:v1") == {"push"}
        assert erin.pulls("team/app:v1")
        wrong = docker("--config", str(workdir), "login", "-u", "erin", "--password-stdin",
                       reg.host, check=False, input_text="not-the-secret")
        assert wrong.returncode != 0
    finally:
        provider.stop()
