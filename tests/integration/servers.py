"""Servers the tests start with a script of `scripts/` (PostgreSQL, Garage): each in a
directory of its own on a loopback port, started, stopped, killed and removed the same
way."""

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScriptedServer:
    """`script` (in scripts/) takes `start DIR PORT`, `stop DIR` and `kill DIR`."""

    script = ""

    def __init__(self, port: int, directory: Path | None = None):
        self.port, self.directory = port, directory

    @classmethod
    def start_new(cls):
        server = cls(free_port(), Path(tempfile.mkdtemp(prefix=f"berth-{cls.script}-")))
        server.start()
        return server

    def _run(self, *args: str, check: bool = True):
        subprocess.run([str(SCRIPTS / f"{self.script}.sh"), *args], check=check,
                       capture_output=not check)

    def start(self):
        self._run("start", str(self.directory), str(self.port))

    def stop(self):
        self._run("stop", str(self.directory))

    def kill(self):
        """No clean shutdown: what a crash or power cut does."""
        self._run("kill", str(self.directory))

    def remove(self):
        self._run("stop", str(self.directory), check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


class Rsyslog(ScriptedServer):
    """A syslog server (scripts/rsyslog.sh) taking UDP and TCP on one port; what it
    received, one "facility.severity app msgid message" line per message."""

    script = "rsyslog"

    def received(self) -> list[str]:
        path = self.directory / "received.log"
        return path.read_text().splitlines() if path.exists() else []
