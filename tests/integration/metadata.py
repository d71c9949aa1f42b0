"""Reads a registry's metadata whichever engine holds it: the SQLite file under the
storage root, or the registry's PostgreSQL database. Tests inspect state through this,
not by opening one engine's files."""

import sqlite3


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
