"""Helpers for the storage-lifecycle tests: run `berth gc` / `berth retention` against a
registry's config (which blobs are stored: blobstore.py)."""

from __future__ import annotations

import subprocess
import time

import requests

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


def gc_runs(reg, **request) -> list[dict]:
    """The collections the registry recorded, newest first (`/api/v2.0/system/gc`)."""
    r = requests.get(f"{reg.url}/api/v2.0/system/gc", params={"page_size": 100}, timeout=10,
                     **request)
    assert r.status_code == 200, r.text
    return r.json()


def start_gc(reg, parameters: dict | None = None, **request) -> requests.Response:
    """Asks for a collection now (Harbor's `POST /system/gc/schedule`, type Manual)."""
    return requests.post(f"{reg.url}/api/v2.0/system/gc/schedule", timeout=30,
                         json={"schedule": {"type": "Manual"}, "parameters": parameters or {}},
                         **request)


def finished_run(reg, url: str, timeout: float = 100, **request) -> dict:
    """Polls a run (its `Location`) until it is no longer running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = requests.get(url, timeout=10, **request).json()
        if run.get("job_status", run.get("status")) != "Running":
            return run
        time.sleep(0.05)
    raise AssertionError(f"{url} still runs")


def api_gc(reg, parameters: dict | None = None, **request) -> dict:
    """Runs a collection through the API and waits for it: the finished run, whose
    `report` says what went."""
    r = start_gc(reg, parameters, **request)
    assert r.status_code == 201, r.text
    return finished_run(reg, reg.url + r.headers["Location"], **request)
