"""berth on PostgreSQL metadata: configured with GitLab's `database` keys (file or
REGISTRY_DATABASE_* variables), PostgreSQL restarting or killed under load (503s with a
clear error, recovery by itself, nothing acknowledged lost), and the CLI on the same
database as a running server. Each test that stops PostgreSQL runs a server of its own."""

import subprocess

import pytest
import requests

import metadata
import postgres
from conftest import LOCAL_AUTH, berth_bin, free_port
from gc_helpers import berth
from oci import Client
from outage import Pushers, wait_for

pytestmark = pytest.mark.berth_only


@pytest.fixture
def own_server():
    server = postgres.Server.start_new()
    yield server
    server.remove()


def test_push_pull_restart_and_cli_on_postgres(make_registry):
    server = postgres.shared_server()
    dbname = server.create_database()
    reg = make_registry(extra_config=LOCAL_AUTH, database=(server, dbname))
    password = (reg.root / "initial-admin-password").read_text().strip()
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                    f"--dest-creds=admin:{password}", f"dir:{make_busybox_dir(reg)}",
                    f"docker://{reg.host}/pg/busybox:1"], check=True, timeout=120)
    # The metadata is in PostgreSQL, not in a file beside the blobs.
    assert not (reg.root / "berth" / "metadata.db").exists()
    assert metadata.query(reg, "SELECT name FROM repositories") == [("pg/busybox",)]
    reg.restart()
    out = reg.workdir / "pulled"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    f"--src-creds=admin:{password}", f"docker://{reg.host}/pg/busybox:1",
                    f"dir:{out}"], check=True, timeout=120)
    assert (out / "manifest.json").is_file()
    # The CLI beside the server, on the same database.
    add = subprocess.run([berth_bin(), "user", "add", "ci", "--password-stdin", "--config",
                          str(reg.config_path)], input="ci-password-123\n", text=True,
                         capture_output=True, timeout=60)
    assert add.returncode == 0, add.stderr
    assert f"PostgreSQL 127.0.0.1:{server.port}/{dbname}" in add.stderr
    listed = subprocess.run([berth_bin(), "user", "list", "--config", str(reg.config_path)],
                            text=True, capture_output=True, timeout=60)
    assert "ci" in listed.stdout, listed
    r = requests.get(f"{reg.url}/auth/token", auth=("ci", "ci-password-123"),
                     params={"service": "test-registry"}, timeout=10)
    assert r.status_code == 200, "the server sees the user the CLI added"
    gc = berth(reg, "gc", "--dry-run", "--grace", "0s")
    assert "would remove 0 manifests and 0 blobs" in gc.stdout, gc.stdout


def make_busybox_dir(reg):
    """A one-layer image in skopeo's dir: layout (no network): busybox as the layer."""
    import hashlib
    import io
    import json
    import tarfile
    d = reg.workdir / "image"
    d.mkdir(exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
    layer = buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
                         "config": {"Cmd": ["/bin/busybox", "sh"]}}).encode()
    files = {}
    for data in (layer, config):
        digest = hashlib.sha256(data).hexdigest()
        (d / digest).write_bytes(data)
        files[data] = digest
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + files[config], "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": "sha256:" + files[layer], "size": len(layer)}]}
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "version").write_text("Directory Transport Version: 1.1\n")
    return d


def test_configured_by_registry_database_variables(make_registry):
    server = postgres.shared_server()
    dbname = server.create_database()
    env = {"REGISTRY_DATABASE_ENABLED": "true", "REGISTRY_DATABASE_HOST": server.host,
           "REGISTRY_DATABASE_PORT": str(server.port), "REGISTRY_DATABASE_USER": "berth",
           "REGISTRY_DATABASE_DBNAME": dbname, "REGISTRY_DATABASE_SSLMODE": "disable"}
    reg = make_registry(env=env, database=False)
    Client(reg).push_image("env/app", "v1", "from-env")
    assert server.psql("SELECT name FROM repositories", dbname) == [["env/app"]]
    assert not (reg.root / "berth" / "metadata.db").exists()


def test_bad_database_settings_fail_with_what_to_do(workdir):
    cfg = workdir / "config.yml"
    cfg.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir}/d\n"
                   "http:\n  addr: 127.0.0.1:0\ndatabase:\n  enabled: true\n  user: berth\n"
                   "  dbname: x\n")
    r = subprocess.run([berth_bin(), "serve", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "database.host" in r.stderr, r.stderr
    # Nothing listens there: the error names the server and what to check.
    port = free_port()
    cfg.write_text(cfg.read_text() + f"  host: 127.0.0.1\n  port: {port}\n"
                   "  sslmode: disable\n  connecttimeout: 2s\n")
    r = subprocess.run([berth_bin(), "serve", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0, r.stderr
    assert f"127.0.0.1:{port}/x" in r.stderr and "check that it runs" in r.stderr, r.stderr


def test_postgres_restart_gives_503s_then_berth_recovers(make_registry, own_server):
    reg = make_registry(database=(own_server, own_server.create_database()))
    c = Client(reg)
    before = c.push_image("pg/restart", "before", "before-restart")
    own_server.stop()
    # A write while the database is down: 503, the spec's envelope, a hint to retry.
    r = c.post("/v2/pg/restart/blobs/uploads/")
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert "retry" in r.json()["errors"][0]["message"] and r.headers["Retry-After"]
    assert requests.get(f"{reg.url}/readyz", timeout=10).status_code == 503
    assert requests.get(f"{reg.url}/healthz", timeout=10).status_code == 200, "still alive"
    own_server.start()
    wait_for(lambda: requests.get(f"{reg.url}/readyz", timeout=10).status_code == 200,
             "ready again once PostgreSQL is back")
    after = c.push_image("pg/restart", "after", "after-restart")
    for tag, m in (("before", before), ("after", after)):
        r = c.get_manifest("pg/restart", tag)
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == m.digest
    assert reg.proc.poll() is None, "berth kept running throughout"


def test_postgres_killed_under_pushes_loses_nothing_acknowledged(make_registry, own_server):
    """Pushers keep pushing while PostgreSQL is killed (no clean shutdown) and started
    again; every manifest PUT that got 201 pulls afterwards with its digest."""
    reg = make_registry(database=(own_server, own_server.create_database()))
    pushers = Pushers(reg, "pg/kill")
    try:
        pushers.more_acknowledged(10, "pushes before the kill")
        own_server.kill()
        pushers.more_refused("pushes refused while PostgreSQL is down")
        own_server.start()
        pushers.more_acknowledged(10, "pushes after PostgreSQL is back")
    finally:
        pushers.stop()
    pushers.check_all_pull(reg)
    # And after a restart of berth, from the database rather than any cache.
    reg.restart()
    pushers.check_all_pull(reg)
