"""A full disk, for real: the storage root (blobs and the metadata database) on a small
tmpfs. Writes that fail while it is full must fail; once space returns everything works
again without a restart, and nothing acknowledged is lost."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import LOCAL_AUTH
from oci import Client, blob, config_blob, error_code, image_manifest, sha256

pytestmark = pytest.mark.berth_only


def can_mount() -> bool:
    return os.geteuid() == 0


@pytest.fixture
def small_fs(workdir):
    """A 64 MiB tmpfs, unmounted afterwards."""
    if not can_mount():
        if os.environ.get("BERTH_REQUIRE_MOUNT"):
            pytest.fail("BERTH_REQUIRE_MOUNT is set but this user cannot mount a tmpfs")
        pytest.skip("mounting a tmpfs needs root")
    mnt = workdir / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path) -> Path:
    """Takes every free byte of the filesystem; returns the file to remove."""
    filler = mnt / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    # Also the last partial block.
    try:
        with open(filler, "ab") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    return filler


def auth_client(reg) -> Client:
    c = Client(reg)
    c.s.auth = ("admin", (reg.root / "initial-admin-password").read_text().strip())
    return c


def test_writes_after_a_full_disk_are_saved_or_refused(make_registry, small_fs):
    reg = make_registry(root=small_fs / "data", extra_config=LOCAL_AUTH)
    c = auth_client(reg)
    first = c.push_image("full/app", "v1", "full-1")
    second = c.push_image("full/app", "v2", "full-2")

    # An upload whose bytes all arrived before the disk filled: its final PUT fails while
    # full and succeeds when retried afterwards (the bytes may already be in place then).
    pending = blob("full-pending", 5000)
    pending_upload = c.abs(c.patch_chunk(c.start_upload("full/app"), pending.data)
                           .headers["Location"])

    filler = fill(small_fs)
    r = c.finish_upload(pending_upload, pending.digest, expect=None)
    assert r.status_code == 507, (r.status_code, r.text)
    # While full: a new blob, a manifest (of blobs already there), a delete and a new
    # user are refused, with an error saying why.
    config, layer = config_blob("full-3"), blob("full-3/0", 700)
    refused = [c.post_blob("full/app", layer.data)]
    m = image_manifest(config_blob("full-1"), [blob("full-1/0", 512)],
                       annotations={"while": "full"})
    refused.append(c.put_manifest("full/app", "v3", m))
    refused.append(c.put_manifest("full/app", "again", first))  # bytes stored: only metadata
    refused.append(c.delete(c.manifest_url("full/app", second.digest)))
    refused.append(c.post("/api/v2.0/users", json={"username": "late", "password": "late-password"}))
    for r in refused:
        assert r.status_code == 507, (r.status_code, r.text)
        assert "storage is full" in r.text, r.text
    # What was there is still served.
    assert c.get_manifest("full/app", "v1").status_code == 200

    filler.unlink()
    # Space is back: every write is saved, and reads (other connections) see it at once.
    c.finish_upload(pending_upload, pending.digest)
    assert c.get(c.blob_url("full/app", pending.digest)).content == pending.data
    c.push_manifest("full/app", "v3", m)
    c.push_blobs("full/app", config, layer)
    c.push_manifest("full/app", "v4", image_manifest(config, [layer]))
    assert c.get_manifest("full/app", "v3").content == m.data
    r = c.delete(c.manifest_url("full/app", "v1"))
    assert r.status_code == 202, r.text
    assert c.get_manifest("full/app", "v1").status_code == 404
    assert "v1" not in c.tags("full/app")
    r = c.post("/api/v2.0/users", json={"username": "carol", "password": "carol-password"})
    assert r.status_code == 201, r.text
    assert requests.get(reg.url + "/v2/", auth=("carol", "carol-password"),
                        timeout=10).status_code == 200
    big = os.urandom(3 << 20)
    c.push_blob_chunked("full/other", big, chunk=1 << 20)

    # And all of it is still there after a restart.
    reg.restart()
    c = auth_client(reg)
    assert c.get_manifest("full/app", "v3").content == m.data
    assert c.get_manifest("full/app", "v2").content == second.data
    assert c.get_manifest("full/app", "v1").status_code == 404
    assert c.get_manifest("full/app", first.digest).content == first.data
    assert c.get(c.blob_url("full/other", sha256(big))).content == big
    assert requests.get(reg.url + "/v2/", auth=("carol", "carol-password"),
                        timeout=10).status_code == 200
    assert error_code(c.get_manifest("full/app", "v1")) == "MANIFEST_UNKNOWN"
    assert c.tags("full/app") == ["v2", "v3", "v4"]
