"""berth as an attacker would try it: tokens used beyond their scope, mounts of blobs the
caller cannot read, login floods, lockouts of the real administrator, racing deletes of
administrators, removed users' tokens, look-alike names and readable secrets."""

from __future__ import annotations

import http.client
import json
import os
import stat
import threading
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import images as im
from conftest import LOCAL_AUTH
from teams import GUEST, add_user, member_of
from test_auth import admin_password, bearer, challenge, push_blob, run_berth, token

pytestmark = pytest.mark.berth_only


@pytest.fixture
def local_registry(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def claims_of(t: str) -> dict:
    import base64
    return json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))


# ------------------------------------------------------------ tokens and the management API

def test_a_registry_token_is_not_a_management_login(local_registry):
    reg = local_registry
    api = f"{reg.url}/api/v2.0"
    admin = ("admin", admin_password(reg))
    add_user(reg, "dora", "dora-password")
    # An administrator's token for a pull, leaked: it cannot create users or projects, run
    # GC or list what GC removed.
    leaked = token(reg, *admin, scope="repository:public/readonly:pull").json()["token"]
    for method, url, body in [
            ("POST", f"{api}/users", {"username": "evil", "password": "evil-password"}),
            ("GET", f"{api}/users", None), ("GET", f"{api}/users/current", None),
            ("POST", f"{api}/projects", {"project_name": "evil"}),
            ("POST", f"{api}/system/gc/schedule", {"schedule": {"type": "Manual"}}),
            ("GET", f"{api}/system/gc", None),
            ("POST", f"{api}/system/retention/executions", {"dry_run": True})]:
        r = requests.request(method, url, headers=bearer(leaked), json=body, timeout=30)
        assert r.status_code == 403, (method, url, r.status_code, r.text)
        assert "registry:admin:*" in r.text
    names = [u["username"] for u in requests.get(f"{api}/users", auth=admin).json()]
    assert "evil" not in names and "dora" in names
    # A user's pull token cannot take the account over.
    pull = token(reg, "dora", "dora-password", scope="repository:d/app:pull").json()["token"]
    r = requests.put(f"{api}/users/2/password", headers=bearer(pull),
                     json={"new_password": "taken-over"}, timeout=30)
    assert r.status_code == 403
    assert token(reg, "dora", "dora-password").status_code == 200

    # A token issued for management works, for administrators only.
    t = token(reg, *admin, scope="registry:admin:*").json()["token"]
    assert {"type": "registry", "name": "admin", "actions": ["*"]} in claims_of(t)["access"]
    r = requests.get(f"{api}/users", headers=bearer(t), timeout=30)
    assert r.status_code == 200 and "dora" in [u["username"] for u in r.json()]
    assert requests.get(f"{api}/system/gc", headers=bearer(t), timeout=30).status_code == 200
    dora = token(reg, "dora", "dora-password", scope="registry:admin:*").json()["token"]
    assert claims_of(dora)["access"] == [], "not granted to a non-administrator"
    assert requests.get(f"{api}/users/current", headers=bearer(dora),
                        timeout=30).status_code == 403
    # An administrator demoted afterwards: the token no longer manages anything.
    add_user(reg, "ed", "ed-password", admin=True)
    ed = token(reg, "ed", "ed-password", scope="registry:admin:*").json()["token"]
    assert requests.get(f"{api}/users", headers=bearer(ed), timeout=30).status_code == 200
    run_berth("user", "admin", "ed", "--revoke", "--config", str(reg.config_path))
    assert requests.get(f"{api}/users", headers=bearer(ed), timeout=30).status_code == 403


def test_external_tokens_run_lifecycle_jobs_only_with_the_admin_scope(make_registry, workdir):
    issuer = make_registry(extra_config="auth:\n  local:\n    service: shared\n"
                                        "    issuer: central-auth\n")
    jwks = workdir / "jwks.json"
    jwks.write_text(requests.get(f"{issuer.url}/auth/jwks", timeout=10).text)
    reg = make_registry(extra_config=(
        f"auth:\n  token:\n    realm: {issuer.url}/auth/token\n    service: shared\n"
        f"    issuer: central-auth\n    jwks: {jwks}\n"))
    admin = ("admin", admin_password(issuer))

    def issued(scope=None) -> str:
        params = {"service": "shared", **({"scope": scope} if scope else {})}
        return requests.get(f"{issuer.url}/auth/token", auth=admin, params=params,
                            timeout=30).json()["token"]

    api = f"{reg.url}/api/v2.0/system"
    requests_to_try = [("GET", f"{api}/gc", None),
                       ("POST", f"{api}/gc/schedule", {"schedule": {"type": "Manual"}}),
                       ("GET", f"{api}/retention/executions", None),
                       ("POST", f"{api}/retention/executions", {"dry_run": True})]
    for t in (issued(), issued("repository:other/app:pull,push,delete")):
        for method, url, body in requests_to_try:
            r = requests.request(method, url, headers=bearer(t), json=body, timeout=30)
            assert r.status_code == 403, (method, url, r.text)
    t = issued("registry:admin:*")
    r = requests.post(f"{api}/gc/schedule", headers=bearer(t), timeout=60,
                      json={"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}})
    assert r.status_code == 201, r.text
    assert requests.get(f"{api}/gc", headers=bearer(t), timeout=30).ok


# ------------------------------------------------------------------------------- mounts

def test_a_mount_never_copies_a_blob_the_caller_cannot_read(local_registry):
    reg = local_registry
    admin = ("admin", admin_password(reg))
    secret = im.random_bytes("private layer", 4000)
    digest = im.sha256(secret)
    assert push_blob(reg, "secret/app", secret, {"Authorization": "Basic " + b64encode(
        f"{admin[0]}:{admin[1]}".encode()).decode()}).status_code == 201
    add_user(reg, "mallory", "mallory-password")
    member_of(reg, "mallory", "mallory")
    own = bearer(token(reg, "mallory", "mallory-password",
                       scope="repository:mallory/x:pull,push").json()["token"])
    for params in ({"mount": digest}, {"mount": digest, "from": "secret/app"}):
        r = requests.post(f"{reg.url}/v2/mallory/x/blobs/uploads/", params=params, headers=own,
                          timeout=30)
        assert r.status_code == 202, (params, r.status_code, r.text)  # an ordinary upload
        r = requests.get(f"{reg.url}/v2/mallory/x/blobs/{digest}", headers=own, timeout=30)
        assert r.status_code == 404, params
    # With the right to read the source, the same mount is a mount.
    member_of(reg, "secret", "mallory", GUEST)
    both = bearer(token(reg, "mallory", "mallory-password",
                        scope=["repository:mallory/x:pull,push",
                               "repository:secret/app:pull"]).json()["token"])
    for params in ({"mount": digest, "from": "secret/app"}, {"mount": digest}):
        r = requests.post(f"{reg.url}/v2/mallory/x/blobs/uploads/", params=params,
                          headers=both, timeout=30)
        assert r.status_code == 201, (params, r.text)
    r = requests.get(f"{reg.url}/v2/mallory/x/blobs/{digest}", headers=own, timeout=30)
    assert r.status_code == 200 and r.content == secret


# ------------------------------------------------------------------------------- logins

def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


def get_from(reg, source: str, headers: dict) -> int:
    """`GET /v2/` from a chosen loopback source address (Linux answers all of 127/8)."""
    conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=120,
                                      source_address=(source, 0))
    try:
        conn.request("GET", "/v2/", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def peak_rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_parallel_guesses_are_counted_before_they_are_checked(local_registry):
    reg = local_registry
    pw = admin_password(reg)
    guesses = [basic("admin", f"guess-{i}") for i in range(99)]
    guesses.insert(50, basic("admin", pw))
    with ThreadPoolExecutor(len(guesses)) as pool:
        codes = list(pool.map(lambda h: get_from(reg, "127.0.0.1", h), guesses))
    assert codes.count(401) <= 10, codes  # only as many checks as the lockout allows
    assert codes.count(429) >= 89, codes
    # The real administrator, from another address, is not locked out.
    assert get_from(reg, "127.0.0.9", basic("admin", pw)) == 200


def test_many_connections_with_the_right_password_are_one_attempt(local_registry):
    """A client opening many connections at once (a CI job, a node pulling layers) sends
    the same credentials on each before any was checked: one check, not forty attempts."""
    reg = local_registry
    add_user(reg, "ci", "ci-password-1")
    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(lambda _: get_from(reg, "127.0.0.1", basic("ci", "ci-password-1")),
                              range(40)))
    assert codes == [200] * 40, codes


def test_a_login_flood_keeps_memory_flat(local_registry):
    reg = local_registry
    add_user(reg, "victim", "victim-password")
    before = peak_rss_mib(reg.proc.pid)
    # 200 wrong passwords at once, from 20 addresses (10 each, under every lockout), so
    # that every one of them is really checked.
    attempts = [(f"127.0.1.{i % 20 + 1}", basic("victim", f"wrong-{i}")) for i in range(200)]
    with ThreadPoolExecutor(200) as pool:
        codes = list(pool.map(lambda a: get_from(reg, *a), attempts))
    assert codes.count(401) == 200, codes
    peak = peak_rss_mib(reg.proc.pid)
    # argon2 takes ~19 MiB a check; unbounded, 200 at once took gigabytes.
    assert peak - before < 200, (before, peak)
    assert get_from(reg, "127.0.0.1", basic("victim", "victim-password")) == 200


def test_ten_wrong_passwords_lock_only_that_address_out(local_registry):
    reg = local_registry
    pw = admin_password(reg)
    for i in range(10):
        assert get_from(reg, "127.0.2.1", basic("admin", f"guess-{i}")) == 401
    assert get_from(reg, "127.0.2.1", basic("admin", pw)) == 429
    assert get_from(reg, "127.0.2.2", basic("admin", pw)) == 200
    # A password the registry verified a moment ago is no guess: it passes from the
    # locked address too (a build server behind the same NAT as the attacker).
    assert get_from(reg, "127.0.2.1", basic("admin", pw)) == 200


# ----------------------------------------------------------------------- administrators

def test_two_administrators_removing_each_other_leave_one(local_registry):
    reg = local_registry
    api = f"{reg.url}/api/v2.0"
    for round_ in range(5):
        a, b = f"ann{round_}", f"bob{round_}"
        add_user(reg, a, f"{a}-password", admin=True)
        add_user(reg, b, f"{b}-password", admin=True)
        auth = (a, f"{a}-password")
        # Harbor's list leaves out user 1 unless asked for it.
        everyone = requests.get(f"{api}/users", auth=auth, params={"page_size": 100}).json() + \
            requests.get(f"{api}/users", auth=auth, params={"q": "user_id=1"}).json()
        ids = {u["username"]: u["user_id"] for u in everyone}
        for u in everyone:
            if u["sysadmin_flag"] and u["username"] not in (a, b):
                r = requests.delete(f"{api}/users/{u['user_id']}", auth=auth)
                assert r.status_code == 200, r.text
        barrier = threading.Barrier(2)

        def remove(pair):
            who, target = pair
            barrier.wait()
            return requests.delete(f"{api}/users/{ids[target]}", auth=(who, f"{who}-password"),
                                   timeout=30).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(remove, [(a, b), (b, a)]))
        # One succeeds; the other is refused as the last administrator, or (when the first
        # delete landed before its sign-in was checked) no longer signs in at all.
        assert codes in ([200, 409], [200, 401]), codes
        left = run_berth("user", "list", "--config", str(reg.config_path)).stdout
        admins = [line.split()[0] for line in left.splitlines()[1:] if line.split()[1] == "yes"]
        assert len(admins) == 1 and admins[0] in (a, b), left


def test_removed_users_tokens_stop_writing(local_registry):
    reg = local_registry
    add_user(reg, "leaver", "leaver-password")
    member_of(reg, "l", "leaver")
    t = bearer(token(reg, "leaver", "leaver-password",
                     scope="repository:l/app:pull,push").json()["token"])
    assert push_blob(reg, "l/app", b"before", t).status_code == 201
    run_berth("user", "remove", "leaver", "--config", str(reg.config_path))
    r = push_blob(reg, "l/app", b"after", t)
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token", r.text
    assert "no longer exists" in r.text
    # Reads go on until the token expires (auth.local.tokenttl), as documented.
    assert requests.get(f"{reg.url}/v2/l/app/blobs/{im.sha256(b'before')}", headers=t).ok


def test_look_alike_user_names_are_refused(local_registry):
    reg = local_registry
    for name in ("ADMIN", "Admin"):
        r = requests.post(f"{reg.url}/api/v2.0/users", auth=("admin", admin_password(reg)),
                          json={"username": name, "password": "look-alike-password"}, timeout=30)
        assert r.status_code == 409 and "regardless of case" in r.text, r.text
    r = run_berth("user", "add", "aDmIn", "--password-stdin", "--config", str(reg.config_path),
                  stdin="look-alike-password\n", check=False)
    assert r.returncode != 0 and "regardless of case" in r.stderr


def test_secrets_in_the_data_directory_are_private(local_registry):
    reg = local_registry
    berth_dir = reg.root / "berth"
    assert stat.S_IMODE(os.stat(berth_dir).st_mode) == 0o700
    for name in ("metadata.db", "metadata.db-wal", "token-key.pem"):
        path = berth_dir / name
        if path.exists():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(reg.root / "initial-admin-password").st_mode) == 0o600
    # A database made readable by an older berth is narrowed at the next start.
    reg.stop()
    os.chmod(berth_dir / "metadata.db", 0o644)
    os.chmod(berth_dir, 0o755)
    reg.start()
    assert stat.S_IMODE(os.stat(berth_dir / "metadata.db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(berth_dir).st_mode) == 0o700
