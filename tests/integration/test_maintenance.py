"""Upload purging (`storage.maintenance.uploadpurging`): abandoned upload sessions are
removed — metadata and bytes — while sessions in use are kept; a dry run only reports.

berth only: Distribution purges by walking its tree on its own schedule (first run after a
random delay of up to 24 h), which a test cannot wait for."""

import os
import time

import pytest
import requests

pytestmark = pytest.mark.berth_only


def purging(age="1s", interval="200ms", dryrun="false", enabled="true") -> dict[str, str]:
    # extra_config lands under `http:`; a top-level `storage` key would clash with the
    # fixture's own, so the settings go in through REGISTRY_* variables instead.
    return {
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED": enabled,
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": age,
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL": interval,
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN": dryrun,
    }


def start_upload(reg, repo: str) -> tuple[str, str]:
    r = requests.post(f"{reg.url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert r.status_code == 202
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else reg.url + loc
    assert requests.patch(loc, data=b"x" * 1000, timeout=10).status_code == 202
    return loc, r.headers["Docker-Upload-UUID"]


def upload_dir(reg, uuid: str):
    return reg.root / "docker" / "registry" / "v2" / "_berth" / "uploads" / uuid


def test_abandoned_uploads_are_purged_and_active_ones_kept(make_registry):
    reg = make_registry(env=purging())
    abandoned, abandoned_id = start_upload(reg, "purge/app")
    active, active_id = start_upload(reg, "purge/app")
    assert upload_dir(reg, abandoned_id).is_dir()
    deadline = time.time() + 3
    size = 1000
    while time.time() < deadline:
        # The active client keeps sending chunks.
        r = requests.patch(active, data=b"y" * 10, timeout=10)
        assert r.status_code == 202, r.text
        active = r.headers["Location"] if r.headers["Location"].startswith("http") \
            else reg.url + r.headers["Location"]
        size += 10
        time.sleep(0.3)
    r = requests.get(abandoned, timeout=10)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert not upload_dir(reg, abandoned_id).exists()
    r = requests.get(active, timeout=10)
    assert r.status_code == 204
    assert r.headers["Range"] == f"0-{size - 1}"
    reg.stop()
    assert "purged abandoned uploads" in reg.log()


def test_dry_run_only_reports(make_registry):
    reg = make_registry(env=purging(dryrun="true"))
    loc, uuid = start_upload(reg, "dry/app")
    time.sleep(2)
    assert requests.get(loc, timeout=10).status_code == 204
    assert upload_dir(reg, uuid).is_dir()
    reg.stop()
    assert "would remove abandoned uploads" in reg.log()
    assert uuid in reg.log()


def test_disabled_purging_keeps_everything(make_registry):
    reg = make_registry(env=purging(enabled="false"))
    loc, uuid = start_upload(reg, "keep/app")
    time.sleep(1.5)
    assert requests.get(loc, timeout=10).status_code == 204
    assert os.path.isdir(upload_dir(reg, uuid))


# ------------------------------------------------------------------ immutable tags

def test_immutable_tags_cannot_move_or_go(make_registry, workdir):
    import images as im
    reg = make_registry(extra_config=(
        "berth:\n  immutable:\n    - repositories: \"prod/**\"\n      tags: \"v*\"\n"))
    first = im.build_image(workdir / "a", "v1", seed="immutable-1")
    second = im.build_image(workdir / "b", "v1", seed="immutable-2")
    im.copy(first.ref, f"docker://{reg.host}/prod/web:v1")
    # The same manifest again is fine; another one under the tag is refused.
    im.copy(first.ref, f"docker://{reg.host}/prod/web:v1")
    with pytest.raises(im.SkopeoError) as refused:
        im.copy(second.ref, f"docker://{reg.host}/prod/web:v1")
    assert "immutable" in refused.value.stderr
    r = requests.put(f"{reg.url}/v2/prod/web/manifests/v1", data=second.top.data,
                     headers={"Content-Type": im.OCI_MANIFEST}, timeout=10)
    assert r.status_code == 403
    err = r.json()["errors"][0]
    assert err["code"] == "DENIED"
    assert 'repositories="prod/**"' in err["message"] and 'tags="v*"' in err["message"]
    # Neither the tag nor the manifest under it can be deleted.
    assert requests.delete(f"{reg.url}/v2/prod/web/manifests/v1").status_code == 403
    assert requests.delete(
        f"{reg.url}/v2/prod/web/manifests/{first.digest}").status_code == 403
    r = requests.get(f"{reg.url}/v2/prod/web/manifests/v1", headers={"Accept": im.OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == first.digest, "nothing changed"
    # Other tags and other repositories are not covered.
    im.copy(first.ref, f"docker://{reg.host}/prod/web:latest")
    im.copy(second.ref, f"docker://{reg.host}/prod/web:latest")
    im.copy(first.ref, f"docker://{reg.host}/dev/web:v1")
    im.copy(second.ref, f"docker://{reg.host}/dev/web:v1")
    assert requests.delete(f"{reg.url}/v2/dev/web/manifests/v1").status_code == 202
