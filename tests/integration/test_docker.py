"""The Docker engine against the registry: build an image FROM scratch around busybox,
push it, forget it locally, pull it back and run it.

Skipped when no Docker engine answers `docker info`, unless BERTH_REQUIRE_DOCKER=1 (set by
scripts/test.sh on machines that have one), which turns the skip into a failure.
The daemon runs on this host, so it reaches the registry on loopback; Docker treats
127.0.0.0/8 as an insecure (plain HTTP) registry range by default.
"""

import json
import os
import random
import shutil
import subprocess
import uuid

import pytest
import requests

import images as im


def docker(*args, check=True, timeout=180, cwd=None, input_text=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, input=input_text)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited with {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def docker_engine():
    try:
        info = subprocess.run(["docker", "info", "--format", "{{json .}}"], capture_output=True,
                              text=True, timeout=60)
        ok, why = info.returncode == 0, info.stderr.strip()
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        ok, why = False, str(e)
    if not ok:
        message = f"no Docker engine: `docker info` failed: {why}"
        if os.environ.get("BERTH_REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (BERTH_REQUIRE_DOCKER=1)")
        pytest.skip(message)
    return json.loads(info.stdout)


@pytest.fixture
def local_images(docker_engine):
    """Names and IDs to remove from the engine when the test ends, pass or fail."""
    created: list[str] = []
    yield created
    for ref in reversed(created):
        docker("rmi", "-f", ref, check=False)


def build_busybox_image(context, tag: str, marker: str) -> str:
    """FROM scratch: busybox, its applets as symlinks (a second layer, made by running
    busybox inside the build), and a file with `marker` in it. Returns the image ID."""
    context.mkdir()
    shutil.copy(im.BUSYBOX, context / "busybox")  # keeps the executable bit
    (context / "marker.txt").write_text(marker)
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "COPY marker.txt /etc/marker.txt\n"
        'CMD ["/bin/sh"]\n')
    docker("build", "-q", "--force-rm", "-t", tag, ".", cwd=context)
    return docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def test_build_push_pull_run(docker_engine, local_images, registry, workdir):
    if "127.0.0.0/8" not in json.dumps(docker_engine.get("RegistryConfig", {})):
        pytest.fail("the Docker engine does not treat 127.0.0.0/8 as insecure; "
                    "this test needs a plain-HTTP loopback registry")
    port = registry.port
    # `localhost` resolves into 127.0.0.0/8, so Docker talks plain HTTP to it.
    repo = f"localhost:{port}/x/busybox"
    image = f"{repo}:1"
    marker = f"berth docker test {uuid.uuid4()}"
    local_images.append(image)
    image_id = build_busybox_image(workdir / "ctx", image, marker)
    local_images.append(image_id)

    push = docker("push", image)
    pushed_digest = next(w for w in push.stdout.split() if w.startswith("sha256:"))

    # What the registry now holds: a schema 2 manifest whose config is the image ID.
    r = requests.get(f"{registry.url}/v2/x/busybox/manifests/1",
                     headers={"Accept": im.DOCKER_MANIFEST}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == im.DOCKER_MANIFEST
    assert r.headers["Docker-Content-Digest"] == pushed_digest == im.sha256(r.content)
    manifest = r.json()
    assert manifest["config"]["digest"] == image_id
    assert len(manifest["layers"]) == 3
    for layer in manifest["layers"]:
        head = requests.head(f"{registry.url}/v2/x/busybox/blobs/{layer['digest']}", timeout=10)
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == layer["size"]
    tags = requests.get(f"{registry.url}/v2/x/busybox/tags/list", timeout=10).json()
    assert tags == {"name": "x/busybox", "tags": ["1"]}

    # A second repository on the same registry: Docker mounts the layers it just pushed.
    other = f"localhost:{port}/y/busybox:1"
    docker("tag", image, other)
    local_images.append(other)
    push2 = docker("push", other)
    assert push2.stdout.count("Mounted from x/busybox") == 3, push2.stdout

    # Forget the image locally, so the pull has to download every layer.
    docker("rmi", image, other)
    docker("rmi", image_id, check=False)
    assert docker("image", "inspect", image_id, check=False).returncode != 0

    pull = docker("pull", image)
    assert pushed_digest in pull.stdout
    assert docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip() == image_id
    run = docker("run", "--rm", image, "echo", "hello")
    assert run.stdout == "hello\n"
    cat = docker("run", "--rm", image, "cat", "/etc/marker.txt")
    assert cat.stdout == marker

    # By digest, too.
    by_digest = f"{repo}@{pushed_digest}"
    docker("rmi", image)
    docker("pull", by_digest)
    local_images.append(by_digest)
    assert docker("run", "--rm", by_digest, "busybox", "true").returncode == 0


def test_pull_of_missing_image_fails_cleanly(docker_engine, local_images, registry):
    image = f"localhost:{registry.port}/x/missing:{random.randint(0, 1 << 30)}"
    local_images.append(image)
    pull = docker("pull", image, check=False)
    assert pull.returncode != 0
    assert "not found" in pull.stderr.lower() or "unknown" in pull.stderr.lower(), pull.stderr
