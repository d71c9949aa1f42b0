"""Shared fixtures: start a real registry process (berth, or CNCF Distribution as the
reference) on a free loopback port with a throw-away data directory.

BERTH_BIN        path of the berth binary (default: $CARGO_TARGET_DIR or ./target, debug)
REGISTRY_TARGET  "berth" (default) or "distribution" to run the same suite against
                 Debian's docker-registry, the reference implementation.
BERTH_METADATA   "postgres" to run every berth on PostgreSQL metadata (see postgres.py).
BERTH_STORAGE    "s3" to run every berth with its blobs in S3, on Garage (see objectstore.py).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

import objectstore
import postgres
from servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("REGISTRY_TARGET", "berth")


def berth_bin() -> str:
    if os.environ.get("BERTH_BIN"):
        return os.environ["BERTH_BIN"]
    target_dir = os.environ.get("CARGO_TARGET_DIR", str(REPO_ROOT / "target"))
    return str(Path(target_dir) / "debug" / "berth")


def distribution_config(root: Path, port: int, delete: bool, extra: str = "",
                        driver: str | None = None) -> str:
    """`driver` is the storage driver's block (indented under `storage:`); default the
    filesystem at `root`."""
    driver = driver or f"  filesystem:\n    rootdirectory: {root}\n"
    return f"""version: 0.1
log:
  level: info
storage:
{driver}  delete:
    enabled: {"true" if delete else "false"}
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
{extra}"""


class Registry:
    """One registry process. `url` is http://127.0.0.1:PORT; `host` is 127.0.0.1:PORT."""

    def __init__(self, workdir: Path, delete: bool = True, extra_config: str = "",
                 env: dict | None = None, kind: str = TARGET, root: Path | None = None,
                 port: int | None = None, scheme: str = "http", ca: Path | None = None,
                 cert: tuple[str, str] | None = None, database=None, s3=None):
        """`extra_config` is appended right after the `http:` section: indent it by two
        spaces to add `http` keys, or not at all for top-level sections.
        `port` is where readiness is checked (e.g. when REGISTRY_HTTP_ADDR moves it);
        `ca` is the CA file to trust for https; `cert` a (certificate, key) pair to
        present when the registry requires client certificates. `database` is a
        (postgres.Server, dbname) for berth's metadata, or False for SQLite whatever the
        run; under BERTH_METADATA=postgres a fresh one is made when none is given.
        `s3` is an (objectstore.Garage, prefix) for the blobs, or False for the filesystem
        whatever the run; under BERTH_STORAGE=s3 a fresh prefix is made when none is given
        (berth's own files stay in `root`, its state directory)."""
        self.workdir = workdir
        self.root = root or (workdir / "data")
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{scheme}://{self.host}"
        self.verify = str(ca) if ca else True
        self.cert = cert
        self.kind = kind
        if database is None and postgres.ON_POSTGRES and kind == "berth" \
                and "database:" not in extra_config:
            server = postgres.shared_server()
            database = (server, server.create_database())
        self.database = database
        if database:
            extra_config = extra_config + ("\n" if extra_config else "") + \
                database[0].config(database[1])
        if s3 is None and objectstore.ON_S3 and kind == "berth":
            server = objectstore.shared_server()
            s3 = (server, server.new_prefix())
        self.s3 = s3
        driver = None
        if s3:
            driver = s3[0].config(s3[1])
            env = dict(env or {}, REGISTRY_BERTH_STATEDIRECTORY=str(self.root))
        self.config_path = workdir / "config.yml"
        self.config_path.write_text(distribution_config(self.root, self.port, delete, extra_config,
                                                        driver))
        self.env = dict(os.environ, **(env or {}))
        self.log_path = workdir / "registry.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        if self.kind == "distribution":
            return ["docker-registry", "serve", str(self.config_path)]
        return [berth_bin(), "serve", str(self.config_path)]

    def start(self, timeout: float = 30.0) -> "Registry":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.workdir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = requests.get(self.url + "/v2/", timeout=1, verify=self.verify,
                                 cert=self.cert)
                if r.status_code in (200, 401, 404):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"registry did not start in {timeout}s:\n{self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL: the crash tests' way of stopping."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> "Registry":
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="berth-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_registry(workdir):
    """Factory: make_registry(delete=True, extra_config="", env=None, kind=TARGET, root=None,
    port=None, scheme="http", ca=None, cert=None)."""
    started: list[Registry] = []

    def make(**kwargs) -> Registry:
        sub = workdir / f"r{len(started)}"
        sub.mkdir()
        reg = Registry(sub, **kwargs)
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(make_registry) -> Registry:
    """A running registry with deletes enabled."""
    return make_registry()


LOCAL_AUTH = "auth:\n  local:\n    service: test-registry\n"


@pytest.fixture(params=["local", "htpasswd"])
def auth_registry(request, make_registry, workdir):
    """(registry, user, password): berth's users and token service, or an htpasswd file
    made by Apache's `htpasswd -B`. Tests using it run once per mode."""
    if request.param == "local":
        reg = make_registry(extra_config=LOCAL_AUTH)
        return reg, "admin", (reg.root / "initial-admin-password").read_text().strip()
    path = workdir / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(path), "alice", "alice-password"], check=True,
                   capture_output=True)
    reg = make_registry(extra_config=f"auth:\n  htpasswd:\n    realm: my-realm\n"
                                     f"    path: {path}\n")
    return reg, "alice", "alice-password"


def pytest_configure(config):
    config.addinivalue_line("markers", "berth_only: behaviour Distribution does not have")


def pytest_collection_modifyitems(config, items):
    if TARGET != "berth":
        skip = pytest.mark.skip(reason="berth-only behaviour")
        for item in items:
            if "berth_only" in item.keywords:
                item.add_marker(skip)
