"""berth as users deploy it: the image scripts/build-image.sh makes (FROM scratch, no base
image pulled), started with the compose files users copy. On one machine
(deploy/compose/single): skopeo pushes and pulls through the published port; data lives in
the named volume across a restart; the container runs as a non-root user and reports its
health. Replicated (deploy/compose/replicated): two berth containers over PostgreSQL and
Garage behind nginx, the images of those made by scripts/build-deps-images.sh; pushes and
pulls go through nginx, also with one replica killed. Needs the Docker engine
(BERTH_REQUIRE_DOCKER=1 turns a skip into a failure)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import requests

import images as im
from conftest import REPO_ROOT, berth_bin, free_port
from test_docker import docker, docker_engine  # noqa: F401

pytestmark = pytest.mark.berth_only

COMPOSE = REPO_ROOT / "deploy/compose/single/docker-compose.yml"
REPLICATED = REPO_ROOT / "deploy/compose/replicated/docker-compose.yml"


def compose(project: str, env: dict, *args: str, check: bool = True,
            file=COMPOSE) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker-compose", "-f", str(file), "-p", project, *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    if check and proc.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)}: {proc.returncode}\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def wait_healthy(container: str, deadline_s: float = 60) -> str:
    deadline = time.time() + deadline_s
    state = ""
    while time.time() < deadline:
        state = docker("inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()
        if state == "healthy":
            return state
        time.sleep(0.5)
    raise AssertionError(f"{container} is {state!r} after {deadline_s}s:\n"
                         f"{docker('logs', container, check=False).stderr}")


@pytest.fixture
def image(docker_engine):  # noqa: F811
    tag = f"berth-test:{os.getpid()}"
    out = subprocess.run([str(REPO_ROOT / "scripts/build-image.sh"), berth_bin(), tag],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    yield tag
    docker("rmi", "-f", tag, check=False)


def test_the_single_machine_compose_file_serves_pushes_and_keeps_them(image, workdir):
    project = f"berthtest{os.getpid()}"
    port = free_port()
    env = {"BERTH_IMAGE": image, "BERTH_PORT": str(port)}
    compose(project, env, "up", "-d")
    try:
        container = compose(project, env, "ps", "-q", "berth").stdout.strip()
        assert wait_healthy(container) == "healthy"
        config = json.loads(docker("inspect", container).stdout)[0]["Config"]
        assert config["User"] == "10001:10001", "not root"
        logs = docker("logs", container).stderr
        password = re.search(r"password: (\S+)", logs).group(1)
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/v2/", timeout=10).status_code == 401
        assert requests.get(f"{url}/v2/", auth=("admin", password), timeout=10).ok

        layout = im.build_image(workdir / "src", "v1", layers=2)
        ref = f"docker://127.0.0.1:{port}/deploy/app:v1"
        im.copy(layout.ref, ref, f"--dest-creds=admin:{password}")
        # The data is in the volume: a restart keeps the image and the user.
        compose(project, env, "restart")
        assert wait_healthy(container) == "healthy"
        raw = im.skopeo("inspect", "--raw", "--tls-verify=false", f"--creds=admin:{password}",
                        ref).stdout.encode()
        assert im.sha256(raw) == layout.digest
        out = workdir / "pulled"
        im.copy(ref, f"dir:{out}", f"--src-creds=admin:{password}")
        assert (out / "manifest.json").read_bytes() == layout.top.data
        assert im.dir_blobs(out) == layout.all_blobs()
    finally:
        compose(project, env, "down", "-v", check=False)


def test_the_replicated_compose_file_serves_through_nginx_with_a_replica_down(image, workdir):
    built = subprocess.run([str(REPO_ROOT / "scripts/build-deps-images.sh")],
                           capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stderr
    project = f"berthrep{os.getpid()}"
    port = free_port()
    env = {"BERTH_IMAGE": image, "BERTH_PORT": str(port)}
    compose(project, env, "up", "-d", file=REPLICATED)
    try:
        replicas = [compose(project, env, "ps", "-q", name, file=REPLICATED).stdout.strip()
                    for name in ("berth-1", "berth-2")]
        for container in replicas:
            assert wait_healthy(container, 120) == "healthy"
        logs = "".join(docker("logs", c).stderr for c in replicas)
        password = re.search(r"password: (\S+)", logs).group(1)
        creds = f"admin:{password}"
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/v2/", auth=("admin", password), timeout=10).ok

        layout = im.build_image(workdir / "src", "v1", layers=3)
        im.copy(layout.ref, f"docker://127.0.0.1:{port}/team/app:v1", f"--dest-creds={creds}")
        # One replica gone: nginx sends everything to the other, which has it all.
        docker("kill", replicas[0])
        im.copy(layout.ref, f"docker://127.0.0.1:{port}/team/app:v2", f"--dest-creds={creds}")
        for tag in ("v1", "v2"):
            out = workdir / f"pulled-{tag}"
            im.copy(f"docker://127.0.0.1:{port}/team/app:{tag}", f"dir:{out}",
                    f"--src-creds={creds}")
            assert (out / "manifest.json").read_bytes() == layout.top.data
            assert im.dir_blobs(out) == layout.all_blobs()
    finally:
        compose(project, env, "down", "-v", check=False, file=REPLICATED)
