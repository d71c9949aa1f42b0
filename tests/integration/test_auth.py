"""Authentication through the real binary and real clients: the secure no-config default,
htpasswd (Distribution's format, reloaded without restart), berth's users with the built-in
token service (Docker token spec: GET with Basic, OAuth2 POST, refresh tokens, scopes),
external token issuers, refused tokens, failed-login limits, anonymous pull.

berth only: Distribution's behaviour is not the reference for berth's own modes."""

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

import images as im
from conftest import LOCAL_AUTH, berth_bin, free_port

pytestmark = pytest.mark.berth_only



def admin_password(reg) -> str:
    return (reg.root / "initial-admin-password").read_text().strip()


def run_berth(*args, stdin: str | None = None, check: bool = True,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """`env`: the registry's environment (its REGISTRY_* variables), when it has one."""
    proc = subprocess.run([berth_bin(), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
    return proc


def challenge(r: requests.Response) -> dict[str, str]:
    value = r.headers["WWW-Authenticate"]
    scheme, _, params = value.partition(" ")
    out = dict(re.findall(r'(\w+)="([^"]*)"', params))
    out["scheme"] = scheme
    return out


def token(reg, user=None, password=None, scope=None, **params) -> requests.Response:
    query = dict(service="test-registry", **params)
    if scope:
        query["scope"] = scope
    auth = (user, password) if user else None
    return requests.get(f"{reg.url}/auth/token", params=query, auth=auth, timeout=30)


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


def push_blob(reg, repo: str, data: bytes, headers) -> requests.Response:
    digest = im.sha256(data)
    r = requests.post(f"{reg.url}/v2/{repo}/blobs/uploads/", headers=headers, timeout=30)
    if r.status_code != 202:
        return r
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else reg.url + loc
    return requests.put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data=data,
                        headers=headers, timeout=30)


@pytest.fixture
def local_registry(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


# ------------------------------------------------------------------ the secure default

def test_no_config_default_requires_login_and_prints_the_admin_password(workdir):
    port = free_port()
    env = dict(os.environ, REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"

    def start():
        proc = subprocess.Popen([berth_bin(), "serve"], cwd=workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                return proc, requests.get(f"{url}/v2/", timeout=1)
            except requests.ConnectionError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("berth serve without a config did not start")

    proc, r = start()
    try:
        assert (workdir / "data" / "docker" / "registry" / "v2").is_dir()
        assert (workdir / "data" / "berth" / "metadata.db").is_file()
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        c = challenge(r)
        assert c["scheme"] == "Bearer"
        assert c["realm"] == f"{url}/auth/token"
        assert c["service"] == "berth"
        pw_file = workdir / "data" / "initial-admin-password"
        assert pw_file.stat().st_mode & 0o777 == 0o600
        password = pw_file.read_text().strip()
        assert len(password) >= 20
        r = requests.get(f"{url}/v2/", auth=("admin", password), timeout=10)
        assert r.status_code == 200
    finally:
        proc.terminate()
        first_out, _ = proc.communicate(timeout=15)
    assert f"password: {password}" in first_out
    assert "AUTHENTICATION IS OFF" not in first_out

    assert "serving plain HTTP" not in first_out, "loopback only: no warning"

    # A second start keeps the user and prints no password; listening on every interface
    # without TLS, it warns that remote clients need TLS.
    env["REGISTRY_HTTP_ADDR"] = f"0.0.0.0:{port}"
    proc, r = start()
    proc.terminate()
    second_out, _ = proc.communicate(timeout=15)
    assert r.status_code == 401
    assert password not in second_out
    assert pw_file.read_text().strip() == password
    assert "serving plain HTTP" in second_out and "http.tls" in second_out


def test_config_without_auth_section_stays_open_and_says_so(make_registry):
    reg = make_registry()
    assert requests.get(f"{reg.url}/v2/", timeout=10).status_code == 200
    reg.stop()
    assert "AUTHENTICATION IS OFF" in reg.log()


def test_unsupported_access_controller_refuses_to_start(make_registry):
    with pytest.raises(RuntimeError, match="auth.silly"):
        make_registry(extra_config="auth:\n  silly:\n    realm: x\n    service: y\n")


# ------------------------------------------------------------------------- htpasswd

def htpasswd_file(path: Path, user: str, password: str, create: bool = True):
    flags = "-Bbc" if create else "-Bb"
    subprocess.run(["htpasswd", flags, str(path), user, password], check=True,
                   capture_output=True)


@pytest.fixture
def htpasswd_registry(make_registry, workdir):
    path = workdir / "htpasswd"
    htpasswd_file(path, "alice", "alice-password")
    reg = make_registry(extra_config=f"auth:\n  htpasswd:\n    realm: my-realm\n    path: {path}\n")
    reg.htpasswd = path
    return reg


def test_htpasswd_basic_challenge_and_credentials(htpasswd_registry):
    reg = htpasswd_registry
    r = requests.get(f"{reg.url}/v2/", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="my-realm"'
    assert requests.get(f"{reg.url}/v2/", auth=("alice", "alice-password")).status_code == 200
    wrong = requests.get(f"{reg.url}/v2/", auth=("alice", "nope"))
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert requests.get(f"{reg.url}/v2/_catalog").status_code == 401
    assert requests.get(f"{reg.url}/v2/_catalog", auth=("alice", "alice-password")).ok
    # Credentials never reach the log.
    reg.stop()
    assert "alice-password" not in reg.log() and "nope" not in reg.log()


def test_htpasswd_skopeo_push_pull(htpasswd_registry, workdir):
    reg = htpasswd_registry
    layout = im.build_image(workdir / "src", "v1")
    ref = f"docker://{reg.host}/team/app:v1"
    with pytest.raises(im.SkopeoError):
        im.copy(layout.ref, ref)
    im.copy(layout.ref, ref, "--dest-creds=alice:alice-password")
    raw = im.skopeo("inspect", "--raw", "--tls-verify=false", "--creds=alice:alice-password",
                    ref).stdout.encode()
    assert im.sha256(raw) == layout.digest
    with pytest.raises(im.SkopeoError):
        im.skopeo("inspect", "--raw", "--tls-verify=false", "--creds=alice:wrong", ref)


def test_htpasswd_changes_apply_without_restart(htpasswd_registry):
    reg = htpasswd_registry
    assert requests.get(f"{reg.url}/v2/", auth=("bob", "bob-password")).status_code == 401
    htpasswd_file(reg.htpasswd, "bob", "bob-password", create=False)
    assert requests.get(f"{reg.url}/v2/", auth=("bob", "bob-password")).status_code == 200
    # Changing alice's password ends the old one at once (the verified-password cache
    # is keyed by the stored hash).
    assert requests.get(f"{reg.url}/v2/", auth=("alice", "alice-password")).status_code == 200
    htpasswd_file(reg.htpasswd, "alice", "new-alice-password", create=False)
    assert requests.get(f"{reg.url}/v2/", auth=("alice", "alice-password")).status_code == 401
    assert requests.get(f"{reg.url}/v2/", auth=("alice", "new-alice-password")).ok


# ------------------------------------------------------- local users and token service

def test_token_endpoint_get_with_basic(local_registry):
    reg = local_registry
    r = requests.get(f"{reg.url}/v2/team/app/tags/list", timeout=10)
    assert r.status_code == 401
    c = challenge(r)
    assert c["scheme"] == "Bearer" and c["service"] == "test-registry"
    assert c["scope"] == "repository:team/app:pull"
    assert c["realm"] == f"{reg.url}/auth/token"

    pw = admin_password(reg)
    r = token(reg, "admin", pw, scope="repository:team/app:pull,push")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert "refresh_token" not in body
    assert r.headers["Cache-Control"] == "no-store"
    claims = json.loads(base64.urlsafe_b64decode(body["token"].split(".")[1] + "=="))
    assert claims["sub"] == "admin" and claims["aud"] == "test-registry"
    assert claims["access"] == [{"type": "repository", "name": "team/app",
                                 "actions": ["pull", "push"]}]

    h = bearer(body["token"])
    assert requests.get(f"{reg.url}/v2/", headers=h).status_code == 200
    assert re.search(r'path="/auth/token" status=200 bytes=\d+ user="?admin', reg.log()), \
        "the access log names who got the token"
    assert push_blob(reg, "team/app", b"layer", h).status_code == 201
    # The token covers team/app only, and not deletes.
    other = push_blob(reg, "team/other", b"layer", h)
    assert other.status_code == 403
    assert challenge(other)["error"] == "insufficient_scope"
    assert challenge(other)["scope"] == "repository:team/other:pull,push"
    d = requests.delete(f"{reg.url}/v2/team/app/blobs/{im.sha256(b'layer')}", headers=h)
    assert d.status_code == 403 and challenge(d)["error"] == "insufficient_scope"


def test_wrong_password_and_anonymous_tokens(local_registry):
    reg = local_registry
    r = token(reg, "admin", "wrong", scope="repository:a:pull")
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # Anonymous: a token, but with nothing granted (anonymous pull is off).
    r = token(reg, scope="repository:a:pull")
    assert r.status_code == 200
    t = r.json()["token"]
    claims = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))
    assert claims["access"] == [] and claims["sub"] == ""
    r = requests.get(f"{reg.url}/v2/a/tags/list", headers=bearer(t))
    assert r.status_code == 401 and challenge(r)["error"] == "insufficient_scope"
    # An anonymous token is no sign-in: not for the base endpoint, not for the user API.
    assert requests.get(f"{reg.url}/v2/", headers=bearer(t)).status_code == 401
    assert requests.get(f"{reg.url}/api/v2.0/users/current", headers=bearer(t)).status_code == 403


def test_oauth2_password_and_refresh_grants(make_registry):
    reg = make_registry(extra_config=LOCAL_AUTH + "    refreshtokens: true\n")
    pw = admin_password(reg)
    run_berth("user", "add", "carol", "--password-stdin", "--config", str(reg.config_path),
              env=reg.env,
              stdin="carol-password\n")
    form = dict(grant_type="password", username="carol", password="carol-password",
                service="test-registry", client_id="pytest", access_type="offline",
                scope="repository:c/app:pull")
    r = requests.post(f"{reg.url}/auth/token", data=form, timeout=30)
    assert r.status_code == 200, r.text
    refresh = r.json()["refresh_token"]
    assert requests.get(f"{reg.url}/v2/", headers=bearer(r.json()["access_token"])).ok

    r = requests.post(f"{reg.url}/auth/token", data=dict(
        grant_type="refresh_token", refresh_token=refresh, service="test-registry",
        client_id="pytest", scope="repository:c/app:pull,push"), timeout=30)
    assert r.status_code == 200, r.text
    assert requests.get(f"{reg.url}/v2/", headers=bearer(r.json()["access_token"])).ok

    # A refresh token is not an access token.
    assert requests.get(f"{reg.url}/v2/", headers=bearer(refresh)).status_code == 401
    # A password change revokes refresh tokens.
    run_berth("user", "passwd", "carol", "--password-stdin", "--config", str(reg.config_path),
              env=reg.env,
              stdin="carol-new-password\n")
    r = requests.post(f"{reg.url}/auth/token", data=dict(
        grant_type="refresh_token", refresh_token=refresh, client_id="pytest"), timeout=30)
    assert r.status_code == 401
    # Said as it is (Docker shows this message), not as a signature problem.
    assert "refresh token was revoked" in r.text and "log in again" in r.text, r.text
    bad = requests.post(f"{reg.url}/auth/token", data=dict(grant_type="magic"), timeout=30)
    assert bad.status_code == 400
    # Removing a user ends password logins at once.
    run_berth("user", "remove", "carol", "--config", str(reg.config_path), env=reg.env)
    assert token(reg, "carol", "carol-new-password").status_code == 401
    listed = run_berth("user", "list", "--config", str(reg.config_path),
                      env=reg.env).stdout.splitlines()
    assert listed[0].split() == ["NAME", "ADMIN", "CREATED"]
    assert [line.split()[:2] for line in listed[1:]] == [["admin", "yes"]]
    assert requests.get(f"{reg.url}/v2/", auth=("admin", pw)).ok


def test_forged_foreign_and_unsigned_tokens_are_refused(local_registry, make_registry):
    reg = local_registry
    other = make_registry(extra_config=LOCAL_AUTH)  # same service name, its own key
    foreign = token(other, "admin", admin_password(other), scope="repository:a:pull").json()
    r = requests.get(f"{reg.url}/v2/a/tags/list", headers=bearer(foreign["token"]))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"

    good = token(reg, "admin", admin_password(reg), scope="repository:a:pull").json()["token"]
    head, claims, sig = good.split(".")
    # Signature bytes tampered with.
    tampered = f"{head}.{claims}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    assert requests.get(f"{reg.url}/v2/", headers=bearer(tampered)).status_code == 401
    # Claims swapped for wider ones under the old signature.
    wider = json.loads(base64.urlsafe_b64decode(claims + "=="))
    wider["access"][0]["actions"] = ["pull", "push", "delete"]
    enc = base64.urlsafe_b64encode(json.dumps(wider).encode()).rstrip(b"=").decode()
    r = requests.delete(f"{reg.url}/v2/a/manifests/sha256:{'0' * 64}",
                        headers=bearer(f"{head}.{enc}.{sig}"))
    assert r.status_code == 401
    # alg: none.
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    r = requests.get(f"{reg.url}/v2/", headers=bearer(f"{none}.{claims}."))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    assert requests.get(f"{reg.url}/v2/", headers=bearer("not-a-token")).status_code == 401
    assert requests.get(f"{reg.url}/v2/", headers={"Authorization": "Basic !!"}).status_code == 401


def test_expired_tokens_are_refused(make_registry):
    reg = make_registry(extra_config="auth:\n  local:\n    service: test-registry\n"
                                     "    tokenttl: 1s\n")
    t = token(reg, "admin", admin_password(reg)).json()
    assert t["expires_in"] == 1
    assert requests.get(f"{reg.url}/v2/", headers=bearer(t["token"])).ok
    time.sleep(12)  # past expiry and the 10 s clock-skew allowance
    r = requests.get(f"{reg.url}/v2/", headers=bearer(t["token"]))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    assert "expired" in r.json()["errors"][0]["message"]


def test_repeated_failed_logins_are_slowed_then_refused(local_registry):
    reg = local_registry
    started = time.time()
    codes = [requests.get(f"{reg.url}/v2/", auth=("admin", f"guess{i}"), timeout=30).status_code
             for i in range(12)]
    elapsed = time.time() - started
    assert codes[:10] == [401] * 10, codes
    assert codes[10:] == [429, 429], codes
    assert elapsed >= 4, "attempts 6-10 each wait a second"
    r = requests.get(f"{reg.url}/v2/", auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 429, "the user stays locked for a while, even with the password"
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert int(r.headers["Retry-After"]) > 0
    # The token endpoint shares the limit.
    assert token(reg, "admin", admin_password(reg)).status_code == 429


def test_skopeo_with_token_auth(local_registry, workdir):
    reg = local_registry
    creds = f"admin:{admin_password(reg)}"
    layout = im.build_image(workdir / "src", "v1", layers=2)
    ref = f"docker://{reg.host}/team/app:v1"
    with pytest.raises(im.SkopeoError):
        im.copy(layout.ref, ref)
    im.copy(layout.ref, ref, f"--dest-creds={creds}")
    # A copy into a second repository mounts across repositories with one token.
    im.copy(ref, f"docker://{reg.host}/team/copy:v1", f"--src-creds={creds}",
            f"--dest-creds={creds}")
    for repo in ("team/app", "team/copy"):
        raw = im.skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={creds}",
                        f"docker://{reg.host}/{repo}:v1").stdout.encode()
        assert im.sha256(raw) == layout.digest
    with pytest.raises(im.SkopeoError):
        im.skopeo("inspect", "--raw", "--tls-verify=false", ref)


def test_anonymous_pull_when_granted(make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH + "berth:\n  access:\n    anonymouspull: true\n")
    creds = f"admin:{admin_password(reg)}"
    layout = im.build_image(workdir / "src", "v1")
    ref = f"docker://{reg.host}/pub/app:v1"
    im.copy(layout.ref, ref, f"--dest-creds={creds}")
    # No credentials: pulling works, pushing does not.
    assert im.sha256(im.inspect_raw(ref)) == layout.digest
    with pytest.raises(im.SkopeoError):
        im.copy(layout.ref, f"docker://{reg.host}/pub/other:v1")
    r = requests.get(f"{reg.url}/v2/pub/app/manifests/v1",
                     headers={"Accept": im.OCI_MANIFEST})
    assert r.status_code == 200
    assert requests.get(f"{reg.url}/v2/_catalog").status_code == 401


def test_external_token_issuer(make_registry, workdir):
    """One berth issues tokens (auth.local) and another trusts them (auth.token, Distribution's
    keys), the way a registry sits behind docker_auth or Harbor's token service."""
    issuer = make_registry(extra_config="auth:\n  local:\n    service: shared\n"
                                        "    issuer: central-auth\n")
    jwks = workdir / "jwks.json"
    jwks.write_text(requests.get(f"{issuer.url}/auth/jwks", timeout=10).text)
    keys = json.loads(jwks.read_text())["keys"]
    assert keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256" and keys[0]["kid"]
    reg = make_registry(extra_config=(
        f"auth:\n  token:\n    realm: {issuer.url}/auth/token\n    service: shared\n"
        f"    issuer: central-auth\n    jwks: {jwks}\n"))
    r = requests.get(f"{reg.url}/v2/", timeout=10)
    assert r.status_code == 401
    assert challenge(r)["realm"] == f"{issuer.url}/auth/token"
    # Passwords are not taken by a token-only registry.
    assert requests.get(f"{reg.url}/v2/", auth=("admin", admin_password(issuer))).status_code == 401

    layout = im.build_image(workdir / "src", "v1")
    ref = f"docker://{reg.host}/ext/app:v1"
    im.copy(layout.ref, ref, f"--dest-creds=admin:{admin_password(issuer)}")
    raw = im.skopeo("inspect", "--raw", "--tls-verify=false",
                    f"--creds=admin:{admin_password(issuer)}", ref).stdout.encode()
    assert im.sha256(raw) == layout.digest
    # A token from an issuer the registry does not trust.
    stranger = make_registry(extra_config="auth:\n  local:\n    service: shared\n"
                                          "    issuer: central-auth\n")
    t = requests.get(f"{stranger.url}/auth/token", auth=("admin", admin_password(stranger)),
                     params={"service": "shared"}).json()["token"]
    assert requests.get(f"{reg.url}/v2/", headers=bearer(t)).status_code == 401


def test_token_registry_refuses_to_start_without_keys(make_registry):
    with pytest.raises(RuntimeError, match="rootcertbundle or jwks"):
        make_registry(extra_config="auth:\n  token:\n    realm: http://x/token\n"
                                   "    service: s\n    issuer: i\n")


# ---------------------------------------------------------------------- Docker engine

from test_docker import build_busybox_image, docker, docker_engine, local_images  # noqa: E402,F401


def docker_with_config(config_dir: Path, *args, stdin: str | None = None, check: bool = True):
    proc = subprocess.run(["docker", "--config", str(config_dir), *args], input=stdin,
                          capture_output=True, text=True, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


def test_docker_login_push_pull_logout(docker_engine, local_images, auth_registry, workdir):
    reg, user, password = auth_registry
    mode = "local" if user == "admin" else "htpasswd"
    cfg = workdir / "docker-config"
    cfg.mkdir()
    host = f"localhost:{reg.port}"
    image = f"{host}/auth/busybox:{mode}"
    local_images.append(image)
    image_id = build_busybox_image(workdir / "ctx", image, f"marker {mode}")
    local_images.append(image_id)

    denied = docker_with_config(cfg, "push", image, check=False)
    assert denied.returncode != 0
    said = (denied.stdout + denied.stderr).lower()
    # Docker words an anonymous token without push rights as "requested access to the
    # resource is denied", and a Basic challenge as "no basic auth credentials".
    assert any(m in said for m in ("denied", "unauthorized", "no basic auth credentials")), said
    wrong = docker_with_config(cfg, "login", host, "-u", user, "--password-stdin",
                               stdin="wrong-password\n", check=False)
    assert wrong.returncode != 0

    login = docker_with_config(cfg, "login", host, "-u", user, "--password-stdin",
                               stdin=password + "\n")
    assert "Login Succeeded" in login.stdout
    stored = json.loads((cfg / "config.json").read_text())["auths"][host]
    # berth hands out no refresh tokens by default (auth.local.refreshtokens), as Harbor:
    # Docker keeps the credentials, and podman can log in beside it.
    assert stored.get("auth") and not stored.get("identitytoken"), stored.keys()
    docker_with_config(cfg, "push", image)

    docker("rmi", image)
    docker("rmi", image_id, check=False)
    docker_with_config(cfg, "pull", image)
    run = docker("run", "--rm", image, "cat", "/etc/marker.txt")
    assert run.stdout == f"marker {mode}"

    docker_with_config(cfg, "logout", host)
    docker("rmi", image)
    pulled = docker_with_config(cfg, "pull", image, check=False)
    assert pulled.returncode != 0


# ------------------------------------------------------------ client certificates

def make_client_cert(dir: Path, cn: str) -> tuple[Path, Path, Path]:
    """A client CA and a certificate for `cn` signed by it (clientAuth usage)."""
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
    ca_key, ca_crt = dir / "clients-ca.key", dir / "clients-ca.crt"
    key, csr, crt, ext = dir / "client.key", dir / "client.csr", dir / "client.crt", dir / "c.cnf"
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=clients CA")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", csr, "-subj", f"/O=berth tests/CN={cn}")
    ext.write_text("extendedKeyUsage=clientAuth\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
       "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def test_client_certificate_identity_is_the_user(make_registry, workdir):
    from test_tls_and_cli import make_cert
    server_dir, client_dir = workdir / "server", workdir / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    ca, crt, key = make_cert(server_dir)
    clients_ca, client_crt, client_key = make_client_cert(client_dir, "ci-robot")
    cert = (str(client_crt), str(client_key))
    reg = make_registry(
        extra_config=(f"  tls:\n    certificate: {crt}\n    key: {key}\n"
                      f"    clientcas: [{clients_ca}]\n" + LOCAL_AUTH),
        scheme="https", ca=ca, cert=cert)
    # The certificate names a user; that user's roles decide.
    from teams import member_of
    r = requests.post(f"{reg.url}/api/v2.0/users", auth=("admin", admin_password(reg)),
                      json={"username": "ci-robot", "password": "ci-robot-password"},
                      cert=cert, verify=str(ca), timeout=10)
    assert r.status_code == 201, r.text
    member_of(reg, "robots", "ci-robot")
    # No Authorization header: the certificate alone signs the client in.
    r = requests.get(f"{reg.url}/v2/", cert=cert, verify=str(ca), timeout=10)
    assert r.status_code == 200, r.text
    data = b"pushed by a robot"
    assert push_blob_tls(reg, "robots/app", data, cert, str(ca)).status_code == 201
    # The token endpoint issues tokens for the certificate's user too.
    t = requests.get(f"{reg.url}/auth/token", params={"scope": "repository:robots/app:pull"},
                     cert=cert, verify=str(ca), timeout=10).json()["token"]
    claims = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))
    assert claims["sub"] == "ci-robot"
    reg.stop()
    assert "user=ci-robot" in reg.log() or 'user="ci-robot"' in reg.log()


def push_blob_tls(reg, repo, data, cert, ca) -> requests.Response:
    digest = im.sha256(data)
    tls = dict(cert=cert, verify=ca, timeout=10)
    r = requests.post(f"{reg.url}/v2/{repo}/blobs/uploads/", **tls)
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else reg.url + loc
    return requests.put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data=data, **tls)


# ------------------------------------------------------------------ users over HTTP

def test_user_management_api(local_registry):
    """Harbor's /users, as Harbor's clients call it."""
    reg = local_registry
    admin = ("admin", admin_password(reg))
    api = f"{reg.url}/api/v2.0"
    assert requests.get(f"{api}/users", timeout=10).status_code == 401
    me = requests.get(f"{api}/users/current", auth=admin).json()
    assert (me["username"], me["user_id"], me["sysadmin_flag"]) == ("admin", 1, True)

    r = requests.post(f"{api}/users", auth=admin, timeout=30,
                      json={"username": "erin", "password": "erin-password",
                            "email": "erin@example.com", "realname": "Erin E."})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v2.0/users/2"
    assert requests.post(f"{api}/users", auth=admin, timeout=30,
                         json={"username": "erin", "password": "erin-password"}).status_code == 409
    bad = requests.post(f"{api}/users", auth=admin, json={"username": "Bad Name!", "password": "x" * 9})
    assert bad.status_code == 400 and "not a valid user name" in bad.text
    short = requests.post(f"{api}/users", auth=admin, json={"username": "frank", "password": "short"})
    assert short.status_code == 400 and "too short" in short.text
    mail = requests.post(f"{api}/users", auth=admin, json={"username": "fay", "password": "fay-password",
                                                          "email": "not-an-address"})
    assert mail.status_code == 400 and "email" in mail.text
    # As in Harbor, the list leaves out the first administrator unless asked by id.
    listed = requests.get(f"{api}/users", auth=admin).json()
    assert [(u["username"], u["email"]) for u in listed] == [("erin", "erin@example.com")]
    assert [u["username"] for u in requests.get(f"{api}/users", auth=admin,
                                                 params={"q": "user_id=1"}).json()] == ["admin"]
    assert requests.get(f"{api}/users/2", auth=admin).json()["realname"] == "Erin E."

    erin = ("erin", "erin-password")
    # A user signs in with the new password and may not manage others...
    assert requests.get(f"{api}/users/current", auth=erin).json()["sysadmin_flag"] is False
    assert requests.get(f"{api}/users", auth=erin).status_code == 403
    assert requests.get(f"{api}/users/1", auth=erin).status_code == 403
    assert requests.delete(f"{api}/users/1", auth=erin).status_code == 403
    found = requests.get(f"{api}/users/search", auth=erin, params={"username": "er"}).json()
    assert found == [{"user_id": 2, "username": "erin"}]
    # ...may change their own profile...
    r = requests.put(f"{api}/users/2", auth=erin, json={"email": "erin@corp.example", "comment": "ops"})
    assert r.status_code == 200, r.text
    assert requests.get(f"{api}/users/2", auth=erin).json()["email"] == "erin@corp.example"
    # ...and their own password, giving the current one.
    r = requests.put(f"{api}/users/2/password", auth=erin, json={"new_password": "erin-second"})
    assert r.status_code == 400 and "old_password" in r.text
    r = requests.put(f"{api}/users/2/password", auth=erin,
                     json={"new_password": "erin-second", "old_password": "wrong-password"})
    assert r.status_code == 403 and "current password is wrong" in r.text
    assert requests.get(f"{api}/users/current", auth=erin).ok, "nothing changed"
    r = requests.put(f"{api}/users/2/password", auth=erin,
                     json={"new_password": "erin-second", "old_password": "erin-password"})
    assert r.status_code == 200, r.text
    assert requests.get(f"{api}/users/current", auth=erin).status_code == 401
    assert requests.get(f"{api}/users/current", auth=("erin", "erin-second")).ok

    # Administration granted and taken back; the last administrator keeps it.
    assert requests.put(f"{api}/users/2/sysadmin", auth=admin, json={"sysadmin_flag": True}).ok
    assert requests.get(f"{api}/users", auth=("erin", "erin-second")).ok
    assert requests.put(f"{api}/users/2/sysadmin", auth=admin, json={"sysadmin_flag": False}).ok
    r = requests.put(f"{api}/users/1/sysadmin", auth=admin, json={"sysadmin_flag": False})
    assert r.status_code == 409 and "last administrator" in r.text
    # Nobody removes themself; others can be removed.
    r = requests.delete(f"{api}/users/1", auth=admin)
    assert r.status_code == 403 and "yourself" in r.text
    assert requests.delete(f"{api}/users/2", auth=admin).status_code == 200
    assert requests.delete(f"{api}/users/2", auth=admin).status_code == 404
    assert requests.get(f"{api}/users/current", auth=("erin", "erin-second")).status_code == 401
    reg.stop()
    assert "erin-password" not in reg.log() and "erin-second" not in reg.log()


def test_refresh_tokens_are_off_by_default(local_registry):
    """As Harbor: `docker login` then keeps the password, and podman can log in beside it
    (it refuses to where Docker stored an identity token)."""
    reg = local_registry
    r = token(reg, "admin", admin_password(reg), offline_token="true", client_id="docker")
    assert r.status_code == 200 and "refresh_token" not in r.json()
    r = requests.post(f"{reg.url}/auth/token", timeout=30, data=dict(
        grant_type="password", username="admin", password=admin_password(reg),
        service="test-registry", client_id="pytest", access_type="offline"))
    assert r.status_code == 200 and "refresh_token" not in r.json()


def test_user_command_names_and_never_invents_its_database(make_registry, workdir):
    # SQLite on every run: a data directory given as --config names its metadata file.
    reg = make_registry(extra_config=LOCAL_AUTH, database=False)
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    run = lambda *a, **kw: subprocess.run([berth_bin(), *a], capture_output=True, text=True,
                                          cwd=elsewhere, timeout=60, **kw)
    # No config from another directory: an error naming the database it looked for, and
    # nothing created there.
    r = run("user", "list")
    assert r.returncode != 0 and "data/berth/metadata.db" in r.stderr, r.stderr
    r = run("user", "add", "ghost", "--password-stdin", input="ghost-password\n")
    assert r.returncode != 0 and "berth serve" in r.stderr
    assert not (elsewhere / "data").exists()
    # The registry's data directory works as --config, and every run says which database.
    r = run("user", "list", "--config", str(reg.root))
    assert r.returncode == 0, r.stderr
    assert str(reg.root / "berth" / "metadata.db") in r.stderr
    assert r.stdout.splitlines()[0].split() == ["NAME", "ADMIN", "CREATED"]
    # Making an existing user an administrator, and back (never the last one).
    run_berth("user", "add", "gina", "--password-stdin", "--config", str(reg.root),
              stdin="gina-password\n")
    run_berth("user", "admin", "gina", "--config", str(reg.root))
    lines = run_berth("user", "list", "--config", str(reg.root)).stdout.splitlines()[1:]
    assert ["gina", "yes"] in [line.split()[:2] for line in lines]
    assert requests.get(f"{reg.url}/api/v2.0/users", auth=("gina", "gina-password")).ok
    run_berth("user", "admin", "gina", "--revoke", "--config", str(reg.root))
    r = run_berth("user", "admin", "admin", "--revoke", "--config", str(reg.root), check=False)
    assert r.returncode != 0 and "last administrator" in r.stderr
    # The first start's password file goes when that password changes (CLI or API).
    password_file = reg.root / "initial-admin-password"
    assert password_file.exists()
    r = requests.put(f"{reg.url}/api/v2.0/users/1/password", auth=("admin", admin_password(reg)),
                     json={"new_password": "admin-second", "old_password": admin_password(reg)})
    assert r.status_code == 200, r.text
    assert not password_file.exists()


def test_user_api_needs_local_users(make_registry):
    reg = make_registry()
    r = requests.post(f"{reg.url}/api/v2.0/users", timeout=10,
                      json={"username": "ghost", "password": "ghost-password"})
    assert r.status_code == 403 and "auth.local" in r.text


# ------------------------------------------------- Distribution's documented setups

def test_distribution_htpasswd_env_example_works_unchanged(make_registry, workdir):
    """Distribution's "native basic auth" recipe: a config without `auth`, switched on by
    REGISTRY_AUTH_* variables, with a file made by `htpasswd -Bbn`."""
    path = workdir / "htpasswd"
    line = subprocess.run(["htpasswd", "-Bbn", "testuser", "testpassword"], check=True,
                          capture_output=True, text=True).stdout
    path.write_text(line)
    reg = make_registry(env={"REGISTRY_AUTH": "htpasswd",
                             "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
                             "REGISTRY_AUTH_HTPASSWD_PATH": str(path)})
    r = requests.get(f"{reg.url}/v2/", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Registry Realm"'
    assert requests.get(f"{reg.url}/v2/", auth=("testuser", "testpassword")).ok


def test_skopeo_login_then_push_and_pull(auth_registry, workdir):
    reg, user, password = auth_registry
    mode = "local" if user == "admin" else "htpasswd"
    authfile = workdir / "auth.json"
    wrong = im.skopeo("login", "--tls-verify=false", "--authfile", str(authfile), "-u", user,
                      "-p", "not-the-password", reg.host, check=False)
    assert wrong.returncode != 0
    im.skopeo("login", "--tls-verify=false", "--authfile", str(authfile), "-u", user,
              "-p", password, reg.host)
    layout = im.build_image(workdir / "src", "v1")
    ref = f"docker://{reg.host}/login/{mode}:v1"
    im.copy(layout.ref, ref, "--dest-authfile", str(authfile))
    raw = im.skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile),
                    ref).stdout.encode()
    assert im.sha256(raw) == layout.digest
    im.skopeo("logout", "--authfile", str(authfile), reg.host)
    with pytest.raises(im.SkopeoError):
        im.skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile), ref)


def test_pull_only_token_cannot_push(local_registry):
    reg = local_registry
    t = token(reg, "admin", admin_password(reg), scope="repository:ro/app:pull").json()["token"]
    r = push_blob(reg, "ro/app", b"nope", bearer(t))
    # RFC 6750: a signed-in user's token with too little scope is 403, and the challenge
    # names the scope to ask for.
    assert r.status_code == 403 and challenge(r)["error"] == "insufficient_scope"
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert challenge(r)["scope"] == "repository:ro/app:pull,push"
    assert requests.get(f"{reg.url}/v2/ro/app/tags/list", headers=bearer(t)).status_code == 404
