"""Starting a registry process for a benchmark and reading its resource use from /proc."""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(root: Path, port: int) -> str:
    # The same file for both registries: filesystem storage, deletes on, no auth, and the
    # access log off (Distribution's and berth's per-request lines would otherwise cost
    # each a different, unrelated amount).
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def database_section(host: str, port: int, dbname: str) -> str:
    return (f"database:\n  enabled: true\n  host: {host}\n  port: {port}\n  user: berth\n"
            f"  dbname: {dbname}\n  sslmode: disable\n")


def s3_storage(endpoint: str, key_id: str, secret: str, bucket: str, prefix: str) -> str:
    return (f"storage:\n  s3:\n    accesskey: {key_id}\n    secretkey: {secret}\n"
            f"    region: garage\n    regionendpoint: {endpoint}\n    forcepathstyle: true\n"
            f"    bucket: {bucket}\n    rootdirectory: /{prefix}\n  delete:\n    enabled: true\n")


class RegistryProcess:
    """One registry serving `root`: kind "distribution", "berth", "berth-pg" (berth with
    its metadata in the PostgreSQL database `database`, a (host, port, dbname)),
    "berth-s3" (berth with its blobs in the bucket `s3` names: endpoint, key id, secret,
    bucket, prefix; `root` is then its state directory) or "distribution-s3"
    (Distribution's s3 driver on such a bucket)."""

    def __init__(self, kind: str, berth_bin: str, workdir: Path, root: Path | None = None,
                 database: tuple[str, int, str] | None = None,
                 s3: tuple[str, str, str, str, str] | None = None, extra: str = ""):
        """`extra`: more configuration, appended (an `auth` section, say)."""
        self.kind = kind
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.root = root or workdir / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.config = workdir / "config.yml"
        text = config_text(self.root, self.port)
        if kind == "berth-pg":
            assert database, "berth-pg needs a database"
            text += database_section(*database)
        if kind.endswith("-s3"):
            assert s3, f"{kind} needs a bucket"
            head, _, rest = text.partition("storage:\n")
            rest = rest.split("http:\n", 1)[1]
            text = head + s3_storage(*s3) + "http:\n" + rest
            if kind == "berth-s3":
                text += f"berth:\n  statedirectory: {self.root}\n"
        self.config.write_text(text + extra)
        if kind.startswith("berth"):
            self.command = [berth_bin, "serve", str(self.config)]
        else:
            self.command = ["docker-registry", "serve", str(self.config)]
        # Distribution's AWS SDK refuses an AWS_CA_BUNDLE it cannot parse; it talks plain
        # HTTP to the bench's Garage anyway.
        self.env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        self.proc: subprocess.Popen | None = None
        self.startup_seconds = 0.0

    def start(self, timeout: float = 600) -> "RegistryProcess":
        log = open(self.workdir / "registry.log", "ab")
        began = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; "
                                   f"see {self.workdir / 'registry.log'}")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1) as r:
                    if r.status == 200:
                        self.startup_seconds = time.perf_counter() - began
                        return self
            except urllib.error.HTTPError as e:
                # With authentication on, an anonymous /v2/ is refused: it is up.
                if e.code == 401:
                    self.startup_seconds = time.perf_counter() - began
                    return self
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer within {timeout}s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_kib(self) -> dict[str, int]:
        """Current (VmRSS) and peak (VmHWM) resident set size."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out
