"""Helpers for the storage-lifecycle tests: run `berth gc` / `berth retention` against a
registry's config (which blobs are stored: blobstore.py)."""

from __future__ import annotations

import subprocess

from conftest import berth_bin


def berth(reg, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `berth ARGS CONFIG` with the registry's config and environment."""
    cmd = [berth_bin(), *args, str(reg.config_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=reg.env, cwd=reg.workdir,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def gc(reg, *args: str, **kw) -> subprocess.CompletedProcess:
    return berth(reg, "gc", "--quiet", *args, **kw)


def gc_extra(interval: str = "1h", grace: str = "24h", enabled: str = "true",
             deleteuntagged: str = "false", orphanreferrers: str = "true", more: str = "") -> str:
    """A top-level `berth:` section for `extra_config`."""
    return (f"berth:\n  gc:\n    enabled: {enabled}\n    interval: {interval}\n"
            f"    grace: {grace}\n    deleteuntagged: {deleteuntagged}\n"
            f"    orphanreferrers: {orphanreferrers}\n{more}")
