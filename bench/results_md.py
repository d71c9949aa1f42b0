"""Where the benchmark scripts record their runs: a section of bench/RESULTS.md per kind
of run, newest first."""

from __future__ import annotations

from pathlib import Path


def record(markdown: str | Path, section: str, table: str):
    """Puts `table` at the top of the section `## {section}` (added at the end if new)."""
    md = Path(markdown)
    text = md.read_text()
    marker = f"## {section}\n"
    if marker not in text:
        text += "\n" + marker
    head, _, tail = text.partition(marker)
    md.write_text(head + marker + "\n" + table + "\n" + tail.lstrip("\n"))
