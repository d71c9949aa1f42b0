"""PostgreSQL for the integration tests: one private server per test session (the one
scripts/test.sh started, named by BERTH_TEST_POSTGRES=host:port, or one started here with
scripts/postgres.sh), a fresh database per registry, and servers of a test's own for tests
that stop or kill PostgreSQL.

BERTH_METADATA=postgres runs every berth the fixtures start on PostgreSQL instead of SQLite.
"""

import atexit
import os
import subprocess
import uuid

from servers import ScriptedServer

ON_POSTGRES = os.environ.get("BERTH_METADATA") == "postgres"


class Server(ScriptedServer):
    """A PostgreSQL server on 127.0.0.1 with the trusted role `berth`."""

    script = "postgres"

    def __init__(self, port: int, directory=None, host: str = "127.0.0.1"):
        super().__init__(port, directory)
        self.host = host

    def psql(self, sql: str, dbname: str = "postgres") -> list[list[str]]:
        out = subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", "berth", "-d", dbname,
             "-v", "ON_ERROR_STOP=1", "-tA", "-F", "\t", "-c", sql],
            check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def create_database(self) -> str:
        name = f"berth_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def config(self, dbname: str) -> str:
        """The `database` section for berth's config.yml."""
        return (f"database:\n  enabled: true\n  host: {self.host}\n  port: {self.port}\n"
                f"  user: berth\n  dbname: {dbname}\n  sslmode: disable\n"
                f"  connecttimeout: 3s\n")


_shared: Server | None = None


def shared_server() -> Server:
    """The session's server, started on first use."""
    global _shared
    if _shared is None:
        named = os.environ.get("BERTH_TEST_POSTGRES")
        if named:
            host, port = named.rsplit(":", 1)
            _shared = Server(int(port), host=host)
        else:
            _shared = Server.start_new()
            atexit.register(_shared.remove)
    return _shared
