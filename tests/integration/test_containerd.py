"""containerd's own client, `ctr`, against the registry: pull (resolve, fetch, unpack into
a snapshot), push of a pulled image to another repository (a cross-repository mount), push
of an image containerd never got from a registry (imported from an OCI archive: full blob
uploads), and the Docker token flow / Basic auth with `--user`.

ctr talks to a running containerd: the one at $CONTAINERD_ADDRESS, else the system one
(/run/containerd/containerd.sock), else the one dockerd starts for itself
(/run/docker/containerd/containerd.sock). The registry client runs inside ctr itself, on
this host, so it reaches the registry on loopback with --plain-http. Everything goes into a
dedicated containerd namespace, `berth-test`; each test removes its images (and with them,
through containerd's garbage collection, their content and snapshots).

Skipped when ctr cannot reach a containerd, unless BERTH_REQUIRE_DOCKER=1 (set by
scripts/test.sh when a Docker engine runs: containerd comes with it), which turns the skip
into a failure. The open-registry tests run against Distribution too; the auth ones are
berth's own modes."""

import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest
import requests

import images as im
from test_skopeo import upload_requests

NAMESPACE = "berth-test"
SOCKETS = ("/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock")


class Ctr:
    def __init__(self, address: str):
        self.address = address
        self.created: list[str] = []

    def run(self, *args: str, check: bool = True, text: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = ["ctr", "--address", self.address, "--namespace", NAMESPACE, *args]
        proc = subprocess.run(cmd, capture_output=True, text=text, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited with {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def pull(self, ref: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        self.created.append(ref)
        return self.run("images", "pull", "--plain-http", *extra, ref, check=check)

    def push(self, ref: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("images", "push", "--plain-http", *extra, ref, check=check)

    def tag(self, src: str, dst: str):
        self.created.append(dst)
        self.run("images", "tag", src, dst)

    def images(self) -> dict[str, tuple[str, str]]:
        """name -> (media type, digest) of every image in the namespace."""
        out = {}
        for line in self.run("images", "ls").stdout.splitlines()[1:]:
            name, media_type, digest, *_ = line.split()
            out[name] = (media_type, digest)
        return out

    def content(self, digest: str) -> bytes:
        return self.run("content", "get", digest, text=False).stdout

    def cleanup(self):
        names = set(self.images())
        gone = [ref for ref in dict.fromkeys(self.created) if ref in names]
        if gone:
            self.run("images", "rm", "--sync", *gone, check=False)


def find_containerd() -> tuple[str | None, str]:
    if shutil.which("ctr") is None:
        return None, "ctr is not installed"
    env = os.environ.get("CONTAINERD_ADDRESS")
    candidates = (env,) if env else SOCKETS
    problems = []
    for path in candidates:
        try:
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                problems.append(f"{path} is not a socket")
                continue
        except OSError as e:
            problems.append(f"{path}: {e.strerror}")
            continue
        try:
            proc = subprocess.run(["ctr", "--address", path, "--connect-timeout", "5s",
                                   "version"], capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            problems.append(f"`ctr --address {path} version` timed out")
            continue
        if proc.returncode == 0:
            return path, ""
        problems.append(f"`ctr --address {path} version`: {proc.stderr.strip()}")
    return None, "; ".join(problems)


@pytest.fixture(scope="module")
def containerd_address():
    address, why = find_containerd()
    if address is None:
        message = f"no containerd to talk to: {why}"
        if os.environ.get("BERTH_REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (BERTH_REQUIRE_DOCKER=1)")
        pytest.skip(message)
    yield address
    # Succeeds only when the namespace is empty again (another run may still be using it).
    subprocess.run(["ctr", "--address", address, "namespaces", "rm", NAMESPACE],
                   capture_output=True, timeout=60)


@pytest.fixture
def ctr(containerd_address):
    client = Ctr(containerd_address)
    yield client
    client.cleanup()


def oci_archive(layout: im.Layout, path) -> str:
    """The layout as an OCI archive (the tar `ctr images import` reads)."""
    with tarfile.open(path, "w") as tar:
        for entry in sorted(layout.path.iterdir()):
            tar.add(entry, arcname=entry.name)
    return str(path)


def get_manifest(reg, repo: str, reference: str, auth=None) -> requests.Response:
    return requests.get(f"{reg.url}/v2/{repo}/manifests/{reference}", auth=auth,
                        headers={"Accept": f"{im.OCI_MANIFEST}, {im.OCI_INDEX}"}, timeout=10)


def assert_blobs_served(reg, repo: str, layout: im.Layout, auth=None):
    for digest, data in layout.all_blobs().items():
        r = requests.get(f"{reg.url}/v2/{repo}/blobs/{digest}", auth=auth, timeout=10)
        assert r.status_code == 200, (repo, digest, r.status_code)
        assert r.content == data, (repo, digest)


# ------------------------------------------------------------------------ open registry

def test_pull_then_push_to_another_repository(ctr, registry, workdir):
    layout = im.build_image(workdir / "src", "v1", layers=2)
    im.copy(layout.ref, f"docker://{registry.host}/ctr/app:v1")

    ref = f"{registry.host}/ctr/app:v1"
    out = ctr.pull(ref)
    assert f"unpacking linux/amd64 {layout.digest}" in out.stdout, out.stdout
    assert ctr.images()[ref] == (im.OCI_MANIFEST, layout.digest)
    # Every byte containerd fetched is what was pushed: manifest, config, layers.
    assert ctr.content(layout.digest) == layout.top.data
    for digest, data in layout.all_blobs().items():
        assert ctr.content(digest) == data, digest

    # Pushed under another name on the same registry: containerd remembers where the blobs
    # came from and mounts them from ctr/app instead of uploading them again.
    copy = f"{registry.host}/ctr/copy:v2"
    ctr.tag(ref, copy)
    ctr.push(copy)
    r = get_manifest(registry, "ctr/copy", "v2")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == layout.digest
    assert r.content == layout.top.data
    assert_blobs_served(registry, "ctr/copy", layout)
    uploads = upload_requests(registry, "ctr/copy")
    assert uploads["mount"] == len(layout.all_blobs()), uploads
    assert requests.get(f"{registry.url}/v2/ctr/copy/tags/list", timeout=10).json() == {
        "name": "ctr/copy", "tags": ["v2"]}


def test_push_of_an_imported_image_uploads_every_blob(ctr, registry, workdir):
    layout = im.build_image(workdir / "src", "v3", seed="ctr-imported", layers=3)
    base = f"{registry.host}/ctr/imported"
    ctr.created.append(f"{base}:v3")
    ctr.run("images", "import", "--base-name", base, oci_archive(layout, workdir / "img.tar"))
    assert ctr.images()[f"{base}:v3"] == (im.OCI_MANIFEST, layout.digest)

    ctr.push(f"{base}:v3")
    r = get_manifest(registry, "ctr/imported", "v3")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == layout.digest
    assert r.content == layout.top.data
    assert_blobs_served(registry, "ctr/imported", layout)
    assert upload_requests(registry, "ctr/imported")["mount"] == 0
    # And another client reads it back the same.
    assert im.sha256(im.inspect_raw(f"docker://{base}:v3")) == layout.digest

    # Pulled back by digest after forgetting it locally.
    ctr.run("images", "rm", "--sync", f"{base}:v3")
    by_digest = f"{base}@{layout.digest}"
    ctr.pull(by_digest)
    assert ctr.images()[by_digest] == (im.OCI_MANIFEST, layout.digest)


def test_pull_of_a_missing_tag_fails(ctr, registry):
    ref = f"{registry.host}/ctr/missing:nope"
    out = ctr.pull(ref, check=False)
    assert out.returncode != 0
    assert "not found" in out.stderr, out.stderr
    assert ref not in ctr.images()


# ----------------------------------------------------------------------- authentication

@pytest.mark.berth_only
def test_pull_and_push_with_credentials(ctr, auth_registry, workdir):
    reg, user, password = auth_registry
    creds = f"{user}:{password}"
    layout = im.build_image(workdir / "src", "v1", seed="ctr-auth", layers=2)
    im.copy(layout.ref, f"docker://{reg.host}/sec/app:v1", f"--dest-creds={creds}")
    ref = f"{reg.host}/sec/app:v1"

    anonymous = ctr.pull(ref, check=False)
    assert anonymous.returncode != 0
    assert "authoriz" in anonymous.stderr, anonymous.stderr
    wrong = ctr.pull(ref, "--user", f"{user}:wrong-password", check=False)
    assert wrong.returncode != 0
    assert "unauthorized" in wrong.stderr.lower(), wrong.stderr
    assert ref not in ctr.images()

    ctr.pull(ref, "--user", creds)
    assert ctr.images()[ref] == (im.OCI_MANIFEST, layout.digest)
    assert ctr.content(layout.digest) == layout.top.data

    # Pushing to another repository needs credentials too; with them, the blobs are
    # mounted from sec/app (the token asked for covers pulling from there).
    copy = f"{reg.host}/sec/copy:v1"
    ctr.tag(ref, copy)
    denied = ctr.push(copy, check=False)
    assert denied.returncode != 0
    assert get_manifest(reg, "sec/copy", "v1", auth=(user, password)).status_code == 404
    ctr.push(copy, "--user", creds)
    r = get_manifest(reg, "sec/copy", "v1", auth=(user, password))
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == layout.digest
    assert_blobs_served(reg, "sec/copy", layout, auth=(user, password))
    assert upload_requests(reg, "sec/copy")["mount"] == len(layout.all_blobs())
    assert get_manifest(reg, "sec/copy", "v1").status_code == 401

    # With berth's users, containerd asks the token service with the OAuth2 password grant
    # (POST /auth/token); when that is refused it retries with GET and Basic credentials,
    # so a wrong password costs two of the failed-login allowance. With htpasswd: Basic.
    token_requests = re.findall(r'method=(\w+) path="/auth/token" status=(\d+)', reg.log())
    if user == "admin":
        assert ("POST", "200") in token_requests, token_requests
        assert ("POST", "401") in token_requests, token_requests
    else:
        assert token_requests == [], token_requests
