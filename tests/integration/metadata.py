"""Reads a registry's metadata whichever engine holds it: the SQLite file under the
storage root, or the registry's PostgreSQL database. Tests inspect state through this,
not by opening one engine's files."""

import contextlib
import fcntl
import sqlite3
import subprocess


def query(reg, sql: str) -> list[tuple]:
    """Rows of `sql` (written in the SQL both engines speak), values as Python types for
    SQLite and as text (None for NULL) for PostgreSQL."""
    if reg.database:
        server, dbname = reg.database
        return [tuple(None if v == "" else v for v in row) for row in server.psql(sql, dbname)]
    db = reg.root / "berth" / "metadata.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def integrity_ok(reg) -> bool:
    """SQLite's own integrity check; PostgreSQL keeps its pages right itself (a query of
    every table stands in for it)."""
    if reg.database:
        for table in ("repositories", "manifests", "tags", "blobs", "repository_blobs"):
            query(reg, f"SELECT COUNT(*) FROM {table}")
        return True
    return query(reg, "PRAGMA integrity_check") == [("ok",)]


# berth's advisory lock class and the placement lock's key in it (postgres/mod.rs).
_LOCK_CLASS, _LOCK_PLACEMENT = 0x62657274, 2


@contextlib.contextmanager
def placement_held(reg):
    """Holds the placement lock shared, as an upload being put in place does, until the
    block ends: a lock file beside the SQLite database, or the advisory lock in
    PostgreSQL (held by a psql session of its own)."""
    if not reg.database:
        with open(reg.root / "berth" / "metadata.db-placement.lock", "a") as held:
            fcntl.flock(held, fcntl.LOCK_SH)
            yield
        return
    server, dbname = reg.database
    session = subprocess.Popen(
        ["psql", "-h", server.host, "-p", str(server.port), "-U", "berth", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-tA"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        session.stdin.write(
            f"SELECT pg_advisory_lock_shared({_LOCK_CLASS}, {_LOCK_PLACEMENT});\n"
            "SELECT 'held';\n")
        session.stdin.flush()
        # psql answers the second line once the lock is held.
        while session.stdout.readline().strip() != "held":
            if session.poll() is not None:
                raise RuntimeError("psql ended before it held the placement lock")
        yield
    finally:
        session.stdin.close()
        session.wait(timeout=30)
