"""`berth backup` while the registry serves and takes pushes, and `berth restore` into an
empty root: every image the backup holds pulls back byte-identical from the restored
registry, its users and token signing key come back, and a second backup adds only what is
new."""

from __future__ import annotations

import re
import threading
import pytest
import requests

import images as im
from test_retention_policies import policy, rule
from conftest import LOCAL_AUTH, Registry
from gc_helpers import berth

pytestmark = pytest.mark.berth_only


def password_of(reg) -> str:
    return (reg.root / "initial-admin-password").read_text().strip()


def test_backup_during_pushes_then_restore(make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH)
    creds = f"admin:{password_of(reg)}"
    pushed: dict[str, im.Layout] = {}
    for i in range(3):
        layout = im.build_image(workdir / f"before-{i}", "v1", layers=2, seed=f"before-{i}")
        im.copy(layout.ref, f"docker://{reg.host}/backup/app{i}:v1", f"--dest-creds={creds}")
        pushed[f"backup/app{i}"] = layout

    # Policies kept in the metadata travel too: a project's retention policy, the
    # collection schedule.
    api = f"{reg.url}/api/v2.0"
    root = ("admin", password_of(reg))
    project_id = requests.get(f"{api}/projects/backup", auth=root, timeout=30).json()["project_id"]
    kept = policy(project_id, [rule("latestPushedK", 2)], "0 0 3 * * *").model_dump(
        exclude_none=True)
    r = requests.post(f"{api}/retentions", auth=root, json=kept, timeout=30)
    assert r.status_code == 201, r.text
    retention_id = r.headers["Location"].rsplit("/", 1)[1]
    r = requests.put(f"{api}/system/gc/schedule", auth=root, timeout=30, json={
        "schedule": {"type": "Custom", "cron": "0 30 2 * * *"}, "parameters": {}})
    assert r.status_code == 200, r.text

    # Pushes go on while the backup runs.
    stop = threading.Event()
    during: list[tuple[str, im.Layout]] = []

    def push_loop():
        n = 0
        while not stop.is_set() and n < 20:
            layout = im.build_image(workdir / f"during-{n}", "v1", seed=f"during-{n}")
            im.copy(layout.ref, f"docker://{reg.host}/backup/live{n}:v1", f"--dest-creds={creds}")
            during.append((f"backup/live{n}", layout))
            n += 1

    pusher = threading.Thread(target=push_loop)
    pusher.start()
    dest = workdir / "backup"
    try:
        out = berth(reg, "backup", str(dest), "--config").stdout
    finally:
        stop.set()
        pusher.join()
    assert re.search(r"backed up the metadata and \d+ blobs", out), out
    assert (dest / "metadata.db").is_file()
    # The token signing key: a file beside SQLite metadata, in the snapshot on PostgreSQL.
    assert (dest / "token-key.pem").is_file() != bool(reg.database)

    # A second backup into the same place copies only what came since.
    again = berth(reg, "backup", str(dest), "--config").stdout
    new = int(re.search(r"\((\d+) new", again).group(1))
    total = int(re.search(r"and (\d+) blobs", again).group(1))
    assert new < total, again

    # Restore into an empty root and serve it.
    (workdir / "restored-reg").mkdir()
    restored = Registry(workdir / "restored-reg", extra_config=LOCAL_AUTH)
    r = berth(restored, "restore", str(dest), "--config")
    assert "restored the metadata" in r.stdout, r.stdout
    # Never over an existing registry.
    refused = berth(restored, "restore", str(dest), "--config", check=False)
    assert refused.returncode != 0 and "already holds a registry" in refused.stderr
    restored.start()
    try:
        # The users came back (the first registry's admin password works) and so did the
        # token signing key (tokens from the token service verify).
        r = requests.get(f"{restored.url}/v2/_catalog", auth=("admin", password_of(reg)),
                         timeout=10)
        assert r.status_code == 200, r.text
        catalog = set(r.json()["repositories"])
        back = f"{restored.url}/api/v2.0"
        policy_back = requests.get(f"{back}/retentions/{retention_id}", auth=root, timeout=30)
        assert policy_back.status_code == 200, policy_back.text
        assert policy_back.json()["rules"][0]["params"] == {"latestPushedK": 2}
        assert policy_back.json()["trigger"]["settings"]["cron"] == "0 0 3 * * *"
        schedule = requests.get(f"{back}/system/gc/schedule", auth=root, timeout=30).json()
        assert (schedule["schedule"]["type"], schedule["schedule"]["cron"]) == (
            "Custom", "0 30 2 * * *")
        assert set(pushed) <= catalog
        expected = dict(pushed)
        expected.update({name: layout for name, layout in during if name in catalog})
        for name, layout in expected.items():
            ref = f"docker://{restored.host}/{name}:v1"
            raw = im.skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={creds}",
                            ref).stdout.encode()
            assert im.sha256(raw) == layout.digest, name
            out_dir = workdir / f"pulled-{name.replace('/', '_')}"
            im.copy(ref, f"dir:{out_dir}", f"--src-creds={creds}")
            assert im.dir_blobs(out_dir) == layout.all_blobs(), name
    finally:
        restored.stop()


def test_restore_says_what_it_needs(make_registry, workdir):
    reg = make_registry()
    r = berth(reg, "restore", str(workdir / "nothing-here"), "--config", check=False)
    assert r.returncode != 0 and "no berth backup" in r.stderr
