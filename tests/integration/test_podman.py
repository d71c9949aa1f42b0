"""podman against the registry: login (Docker token flow with berth's users, Basic with
htpasswd), push, forget, pull back, logout; wrong passwords and missing credentials refused.

Every podman call uses a private image store in the test's work directory (vfs driver: no
mounts to leave behind), its own libpod state directory, no event log, and an auth file in
the work directory, so nothing outside the test is read or changed (apart from the blob-info
cache containers/image keeps for every client, skopeo included, in /var/lib/containers).

Skipped when podman is not installed, unless BERTH_REQUIRE_PODMAN=1, which turns the skip
into a failure. The open-registry test runs against Distribution too; the auth ones are
berth's own modes."""

import json
import os
import re
import shutil
import subprocess

import pytest
import requests

import images as im



class Podman:
    def __init__(self, home):
        self.home = home
        self.authfile = home / "auth.json"
        self.base = ["podman", "--root", str(home / "storage"), "--runroot", str(home / "run"),
                     "--tmpdir", str(home / "tmp"), "--storage-driver", "vfs",
                     "--events-backend", "none", "--cgroup-manager", "cgroupfs"]
        # Every podman command reads the auth file named here, not root's default one; it
        # must exist.
        home.mkdir()
        self.authfile.write_text('{"auths": {}}')
        self.env = dict(os.environ, LC_ALL="C", REGISTRY_AUTH_FILE=str(self.authfile))

    def run(self, *args: str, check: bool = True, stdin: str | None = None, cwd=None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited with {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def remote(self, verb: str, *args: str, check: bool = True,
               stdin: str | None = None) -> subprocess.CompletedProcess:
        """login/push/pull against the plain-HTTP registry, with the test's auth file."""
        return self.run(verb, "--tls-verify=false", "--authfile", str(self.authfile), *args,
                        check=check, stdin=stdin)

    def load(self, layout: im.Layout) -> str:
        """Pulls an OCI layout into the store; returns the image ID (its config digest).
        podman names the image after the layout's path, which must then be a valid image
        name: the temporary directory's (e.g. /tmp/berth-test-_x1) may not be, so the
        layout is named relative to its parent."""
        ref = f"oci:{layout.path.name}:{layout.tag}"
        return "sha256:" + self.run("pull", "-q", ref, cwd=layout.path.parent).stdout.strip()

    def inspect(self, ref: str) -> dict:
        return json.loads(self.run("image", "inspect", ref).stdout)[0]

    def has_image(self, ref: str) -> bool:
        return self.run("image", "exists", ref, check=False).returncode == 0

    def logged_in(self, host: str) -> bool:
        if not self.authfile.exists():
            return False
        return host in json.loads(self.authfile.read_text()).get("auths", {})

    def cleanup(self):
        self.run("rmi", "--all", "--force", check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def podman_installed():
    try:
        version = subprocess.run(["podman", "--version"], capture_output=True, text=True,
                                 timeout=60)
        ok, why = version.returncode == 0, version.stderr.strip()
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        ok, why = False, str(e)
    if not ok:
        message = f"no podman: `podman --version` failed: {why}"
        if os.environ.get("BERTH_REQUIRE_PODMAN") == "1":
            pytest.fail(message + " (BERTH_REQUIRE_PODMAN=1)")
        pytest.skip(message)
    return version.stdout.strip()


@pytest.fixture
def podman(podman_installed, workdir):
    client = Podman(workdir / "podman")
    yield client
    client.cleanup()


def registry_manifest(reg, repo: str, tag: str, auth=None) -> requests.Response:
    accept = ", ".join([im.OCI_MANIFEST, im.DOCKER_MANIFEST, im.OCI_INDEX, im.DOCKER_LIST])
    return requests.get(f"{reg.url}/v2/{repo}/manifests/{tag}", headers={"Accept": accept},
                        auth=auth, timeout=10)


def push_forget_pull(podman: Podman, reg, workdir, layout: im.Layout, repo: str,
                     auth=None) -> str:
    """Loads `layout`, pushes it as REPO:v1, checks what the registry holds, removes it from
    the store, pulls it back and checks podman sees the pushed digest. Returns the digest."""
    image_id = podman.load(layout)
    assert image_id == layout.images[0].config.digest
    ref = f"{reg.host}/{repo}:v1"
    podman.run("tag", image_id, ref)
    digest_file = workdir / "pushed-digest"
    podman.remote("push", "--digestfile", str(digest_file), ref)
    pushed = digest_file.read_text().strip()

    # What the registry now serves under the tag is what podman says it pushed. podman may
    # re-encode the manifest and recompress layers (its store keeps them uncompressed), so
    # the digest can differ from the layout's; the config, the image's identity, cannot.
    r = registry_manifest(reg, repo, "v1", auth=auth)
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == pushed == im.sha256(r.content)
    manifest = r.json()
    assert manifest["config"]["digest"] == image_id
    assert len(manifest["layers"]) == len(layout.images[0].layers)
    for layer in manifest["layers"]:
        head = requests.head(f"{reg.url}/v2/{repo}/blobs/{layer['digest']}", auth=auth,
                             timeout=10)
        assert head.status_code == 200, layer
        assert int(head.headers["Content-Length"]) == layer["size"]

    # Forget it locally, so the pull has to fetch everything.
    podman.run("rmi", "--force", image_id)
    assert not podman.has_image(ref) and not podman.has_image(image_id)
    podman.remote("pull", "-q", ref)
    info = podman.inspect(ref)
    assert info["Id"] == image_id.removeprefix("sha256:")
    assert info["Digest"] == pushed
    assert f"{reg.host}/{repo}@{pushed}" in info["RepoDigests"]
    assert info["Labels"] == json.loads(layout.images[0].config.data)["config"]["Labels"]
    return pushed


# ------------------------------------------------------------------------ open registry

def test_push_pull_without_credentials(podman, registry, workdir):
    layout = im.build_image(workdir / "src", "open", layers=2)
    pushed = push_forget_pull(podman, registry, workdir, layout, "podman/open")
    # By digest, too.
    podman.run("rmi", "--all", "--force")
    by_digest = f"{registry.host}/podman/open@{pushed}"
    podman.remote("pull", "-q", by_digest)
    assert podman.inspect(by_digest)["Digest"] == pushed
    tags = requests.get(f"{registry.url}/v2/podman/open/tags/list", timeout=10).json()
    assert tags == {"name": "podman/open", "tags": ["v1"]}


# ----------------------------------------------------------------------- authentication

@pytest.mark.berth_only
def test_login_push_pull_logout(podman, auth_registry, workdir):
    reg, user, password = auth_registry
    layout = im.build_image(workdir / "src", "auth", seed="podman-auth", layers=2)

    # Not logged in: the push is refused.
    image_id = podman.load(layout)
    podman.run("tag", image_id, f"{reg.host}/team/app:v0")
    denied = podman.remote("push", f"{reg.host}/team/app:v0", check=False)
    assert denied.returncode != 0
    assert re.search(r"authentication required|unauthorized|denied", denied.stderr), denied.stderr
    assert registry_manifest(reg, "team/app", "v0", auth=(user, password)).status_code == 404

    # A wrong password: login fails and stores nothing.
    wrong = podman.remote("login", "--username", user, "--password-stdin", reg.host,
                          check=False, stdin="wrong-password\n")
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr, wrong.stderr
    assert not podman.logged_in(reg.host)

    login = podman.remote("login", "--username", user, "--password-stdin", reg.host,
                          stdin=password + "\n")
    assert "Login Succeeded" in login.stdout, login.stdout
    assert podman.logged_in(reg.host)

    pushed = push_forget_pull(podman, reg, workdir, layout, "team/app", auth=(user, password))
    assert registry_manifest(reg, "team/app", "v1").status_code == 401

    # Logged out: the credentials are gone from the auth file and the pull is refused.
    podman.run("rmi", "--all", "--force")
    logout = podman.run("logout", "--authfile", str(podman.authfile), reg.host)
    assert "Removed login credentials" in logout.stdout, logout.stdout
    assert not podman.logged_in(reg.host)
    refused = podman.remote("pull", "-q", f"{reg.host}/team/app@{pushed}", check=False)
    assert refused.returncode != 0
    assert re.search(r"unauthorized|denied", refused.stderr), refused.stderr
    assert not podman.has_image(f"{reg.host}/team/app@{pushed}")

    # How podman authenticated: with berth's users, the Docker token flow (a Bearer
    # challenge, then GET /auth/token with Basic credentials, never the OAuth2 POST), one
    # refused token request for the wrong password; with htpasswd, Basic on every request.
    log = reg.log()
    token_requests = re.findall(r'method=(\w+) path="/auth/token" status=(\d+)', log)
    if user == "admin":
        assert ("GET", "401") in token_requests and ("GET", "200") in token_requests, log
        assert {m for m, _ in token_requests} == {"GET"}, token_requests
        assert token_requests.count(("GET", "401")) == 1, token_requests
    else:
        assert token_requests == [], token_requests


# ------------------------------------------------------- Docker and podman on one machine

from conftest import LOCAL_AUTH  # noqa: E402
from test_auth import admin_password, docker_with_config  # noqa: E402
from test_docker import build_busybox_image, docker, docker_engine, local_images  # noqa: E402,F401


def shared_home_podman(podman: Podman, home) -> Podman:
    """podman as a user of this machine sees it: no auth file of its own named, so it
    reads $XDG_RUNTIME_DIR/containers/auth.json and then Docker's ~/.docker/config.json."""
    podman.env = {k: v for k, v in podman.env.items() if k != "REGISTRY_AUTH_FILE"}
    podman.env.update(HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"),
                      XDG_CONFIG_HOME=str(home / ".config"))
    (home / "run").mkdir(exist_ok=True)
    return podman


@pytest.mark.berth_only
@pytest.mark.parametrize("refresh_tokens", [False, True])
def test_docker_and_podman_logged_in_on_one_machine(podman, docker_engine, local_images,
                                                     make_registry, workdir, refresh_tokens):
    extra = LOCAL_AUTH + ("    refreshtokens: true\n" if refresh_tokens else "")
    reg = make_registry(extra_config=extra)
    home = workdir / "home"
    home.mkdir()
    docker_config = home / ".docker"
    host = f"localhost:{reg.port}"
    image = f"{host}/both/busybox:v1"
    local_images.append(image)
    local_images.append(build_busybox_image(workdir / "ctx", image, "shared machine"))
    password = admin_password(reg)
    docker_with_config(docker_config, "login", host, "-u", "admin", "--password-stdin",
                       stdin=password + "\n")
    docker_with_config(docker_config, "push", image)
    stored = json.loads((docker_config / "config.json").read_text())["auths"][host]
    p = shared_home_podman(podman, home)

    # podman pulls with what Docker stored either way (for a refresh token, by the OAuth2
    # refresh grant).
    p.run("pull", "-q", "--tls-verify=false", image)
    login = p.run("login", "--tls-verify=false", "-u", "admin", "--password-stdin", host,
                  stdin=password + "\n", check=False)
    if not refresh_tokens:
        assert not stored.get("identitytoken")
        assert login.returncode == 0, login.stderr
    else:
        # podman refuses where Docker keeps an identity token; the documented fix is to
        # keep podman away from Docker's config (DOCKER_CONFIG names another directory).
        assert stored.get("identitytoken")
        assert login.returncode != 0 and "Identity token" in login.stderr, login.stderr
        p.env["DOCKER_CONFIG"] = str(home / ".config" / "containers")
        p.run("login", "--tls-verify=false", "-u", "admin", "--password-stdin", host,
              stdin=password + "\n")
    p.run("tag", image, f"{host}/both/from-podman:v1")
    p.run("push", "--tls-verify=false", f"{host}/both/from-podman:v1")
    local_images.append(f"{host}/both/from-podman:v1")
    docker_with_config(docker_config, "pull", f"{host}/both/from-podman:v1")
    run = docker("run", "--rm", f"{host}/both/from-podman:v1", "cat", "/etc/marker.txt")
    assert run.stdout == "shared machine"
