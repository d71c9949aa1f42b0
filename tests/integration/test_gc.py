"""Online garbage collection: `berth gc` beside a serving registry, the grace period, untagged
manifests, referrers, the HTTP endpoint, background collection and its metrics.

berth only: Distribution collects offline (`registry garbage-collect` with the registry
stopped or read-only)."""

import re
import subprocess
import time

import pytest
import requests

import metadata
from metadata import placement_held
from conftest import LOCAL_AUTH, berth_bin
from blobstore import blob_stored
from gc_helpers import api_gc, berth, finished_run, gc, gc_extra, gc_runs, start_gc
from oci import (Client, artifact_manifest, blob, config_blob, empty_blob, image_manifest,
                 index_manifest)

pytestmark = pytest.mark.berth_only


def push_two_images_sharing_a_layer(c: Client, repo: str):
    shared = blob("shared-base", 4000)
    a_layer, b_layer = blob("only-a", 3000), blob("only-b", 2000)
    a_cfg, b_cfg = config_blob("a"), config_blob("b")
    c.push_blobs(repo, shared, a_layer, b_layer, a_cfg, b_cfg)
    a = image_manifest(a_cfg, [shared, a_layer])
    b = image_manifest(b_cfg, [shared, b_layer])
    assert c.push_manifest(repo, "a", a).status_code == 201
    assert c.push_manifest(repo, "b", b).status_code == 201
    return {"shared": shared, "a_layer": a_layer, "b_layer": b_layer, "a_cfg": a_cfg,
            "b_cfg": b_cfg, "a": a, "b": b}


def test_gc_beside_a_serving_registry_removes_only_garbage(registry):
    c = Client(registry)
    x = push_two_images_sharing_a_layer(c, "gc/app")
    assert c.delete(c.manifest_url("gc/app", x["a"].digest)).status_code == 202
    gone = [x["a_layer"], x["a_cfg"], x["a"]]
    kept = [x["shared"], x["b_layer"], x["b_cfg"], x["b"]]

    # Within the grace period (24h by default) nothing goes.
    out = gc(registry).stdout
    assert "removed 0 manifests and 0 blobs" in out, out
    assert all(blob_stored(registry, b.digest) for b in gone)

    # A dry run lists what would go and removes nothing.
    out = berth(registry, "gc", "--dry-run", "--grace", "0s").stdout
    for b in gone:
        assert f"blob eligible for deletion: {b.digest}" in out, out
    for b in kept:
        assert b.digest not in out
    assert "would remove 0 manifests and 3 blobs" in out, out
    assert all(blob_stored(registry, b.digest) for b in gone)

    out = gc(registry, "--grace", "0s").stdout
    assert "removed 0 manifests and 3 blobs" in out, out
    assert not any(blob_stored(registry, b.digest) for b in gone)
    assert all(blob_stored(registry, b.digest) for b in kept)
    # The serving registry agrees at once: no stale answers.
    for b in gone[:2]:
        assert c.head(c.blob_url("gc/app", b.digest)).status_code == 404
    r = c.get_manifest("gc/app", "b")
    assert r.status_code == 200 and r.content == x["b"].data
    for b in kept[:3]:
        r = c.get(c.blob_url("gc/app", b.digest))
        assert r.status_code == 200 and r.content == b.data
    # A second run finds nothing left.
    assert "removed 0 manifests and 0 blobs" in gc(registry, "--grace", "0s").stdout


def test_grace_period_protects_layers_waiting_for_their_manifest(registry):
    c = Client(registry)
    layer, cfg = blob("pending", 5000), config_blob("pending")
    c.push_blobs("gc/pending", layer, cfg)
    gc(registry, "--grace", "1h")
    assert blob_stored(registry, layer.digest)
    # The manifest arrives after the collection: the push completes.
    assert c.push_manifest("gc/pending", "v1", image_manifest(cfg, [layer])).status_code == 201
    gc(registry, "--grace", "0s")
    assert c.get(c.blob_url("gc/pending", layer.digest)).content == layer.data

    # Uploaded and never referenced: goes once the grace period is over.
    orphan = blob("never-referenced", 700)
    c.push_blobs("gc/pending", orphan)
    time.sleep(1.2)
    gc(registry, "--grace", "1s")
    assert not blob_stored(registry, orphan.digest)
    r = c.head(c.blob_url("gc/pending", orphan.digest))
    assert r.status_code == 404
    # ...and a manifest naming it now is refused, not stored pointing at nothing.
    r = c.put_manifest("gc/pending", "broken", image_manifest(cfg, [orphan]))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_checking_a_blob_restarts_its_grace_period(make_registry):
    """A client HEADs a layer it is about to reference; a collection between that check
    and its manifest push must not take the layer. The server restarts the period once a
    quarter of its own grace (here 8 s) has run."""
    registry = make_registry(extra_config=gc_extra(enabled="false", grace="8s"))
    c = Client(registry)
    layer, cfg = blob("checked", 900), config_blob("checked")
    c.push_blobs("gc/checked", layer, cfg)
    time.sleep(2.5)
    assert c.head(c.blob_url("gc/checked", layer.digest)).status_code == 200
    gc(registry, "--grace", "2s")
    assert blob_stored(registry, layer.digest), "checked 0 s ago, grace 2 s"
    assert not blob_stored(registry, cfg.digest), "unchecked for 2.5 s"


def test_repeated_checks_of_a_fresh_blob_write_nothing(make_registry):
    """Clients re-check layers on every push: while a quarter of the grace period has not
    run since the upload (or the last restart), a check is a read only."""
    registry = make_registry(extra_config=gc_extra(enabled="false", grace="40s"))
    c = Client(registry)
    layer = blob("fresh-checked", 900)
    c.push_blobs("gc/fresh", layer)
    for _ in range(20):
        assert c.head(c.blob_url("gc/fresh", layer.digest)).status_code == 200
    time.sleep(1.2)
    # The upload time still counts: a collection with a 1 s grace takes it.
    gc(registry, "--grace", "1s")
    assert not blob_stored(registry, layer.digest)


def test_untagged_manifests_only_with_delete_untagged(registry):
    c = Client(registry)
    old_layer, new_layer = blob("v1-layer", 1500), blob("v2-layer", 1600)
    cfg = config_blob("app")
    c.push_blobs("gc/untag", old_layer, new_layer, cfg)
    old = image_manifest(cfg, [old_layer])
    new = image_manifest(cfg, [new_layer])
    assert c.push_manifest("gc/untag", "latest", old).status_code == 201
    assert c.push_manifest("gc/untag", "latest", new).status_code == 201  # old is untagged now

    gc(registry, "--grace", "0s")
    assert c.get_manifest("gc/untag", old.digest).status_code == 200, "kept without -m"

    # registry:2's spelling, for existing scripts.
    out = berth(registry, "garbage-collect", "-m", "--dry-run", "--grace", "0s").stdout
    assert f"manifest eligible for deletion: gc/untag@{old.digest} (untagged)" in out, out
    assert c.get_manifest("gc/untag", old.digest).status_code == 200, "dry run"
    out = berth(registry, "garbage-collect", "-m", "--grace", "0s").stdout
    assert "removed 1 manifests and 2 blobs" in out, out
    assert c.get_manifest("gc/untag", old.digest).status_code == 404
    assert not blob_stored(registry, old_layer.digest)
    assert not blob_stored(registry, old.digest)
    assert c.get_manifest("gc/untag", "latest").content == new.data
    assert blob_stored(registry, cfg.digest)


def test_index_children_and_referrers(registry):
    c = Client(registry)
    cfg = config_blob("multi")
    l_amd, l_arm = blob("amd64", 800), blob("arm64", 900)
    c.push_blobs("gc/multi", cfg, l_amd, l_arm)
    amd, arm = image_manifest(cfg, [l_amd]), image_manifest(cfg, [l_arm])
    for m in (amd, arm):
        assert c.push_manifest("gc/multi", m.digest, m).status_code == 201
    idx = index_manifest([amd, arm])
    assert c.push_manifest("gc/multi", "v1", idx).status_code == 201
    sig_payload = blob("signature", 100)
    c.push_blobs("gc/multi", sig_payload, empty_blob())
    sig = artifact_manifest("application/vnd.example.sig", idx, sig_payload)
    assert c.push_manifest("gc/multi", sig.digest, sig).status_code == 201

    # Untagged children of a tagged index and the index's signature stay.
    gc(registry, "-m", "--grace", "0s")
    for m in (amd, arm, idx, sig):
        assert c.get_manifest("gc/multi", m.digest).status_code == 200, m.digest

    # The index goes: its children are untagged leftovers, its signature an orphan.
    assert c.delete(c.manifest_url("gc/multi", "v1")).status_code == 202
    out = berth(registry, "gc", "-m", "--grace", "0s").stdout
    assert "removed 4 manifests" in out, out
    for m in (amd, arm, idx, sig):
        assert c.get_manifest("gc/multi", m.digest).status_code == 404, m.digest
    for b in (l_amd, l_arm, cfg, sig_payload, idx, sig):
        assert not blob_stored(registry, b.digest), b.digest


def test_orphan_referrers_kept_when_disabled(make_registry):
    reg = make_registry(extra_config=gc_extra(orphanreferrers="false"))
    c = Client(reg)
    img = c.push_image("gc/refs", "v1", "subject")
    payload = blob("sbom", 300)
    c.push_blobs("gc/refs", payload, empty_blob())
    sbom = artifact_manifest("application/spdx+json", img, payload)
    assert c.push_manifest("gc/refs", sbom.digest, sbom).status_code == 201
    assert c.delete(c.manifest_url("gc/refs", img.digest)).status_code == 202
    gc(reg, "--grace", "0s")
    assert c.get_manifest("gc/refs", sbom.digest).status_code == 200
    assert blob_stored(reg, payload.digest)


def test_http_endpoint_runs_and_reports(registry):
    c = Client(registry)
    x = push_two_images_sharing_a_layer(c, "gc/http")
    assert c.delete(c.manifest_url("gc/http", x["b"].digest)).status_code == 202
    gc(registry)  # a CLI run, recorded too
    dry = api_gc(registry, {"grace": "0s", "dry_run": True})
    assert dry["job_status"] == "Success" and dry["report"]["dry_run"] is True
    assert dry["report"]["blobs_deleted"] == 3
    run = api_gc(registry, {"grace": "0s"})
    report = run["report"]
    assert report["blobs_deleted"] == 3
    assert report["bytes_freed"] == x["b_layer"].size + x["b_cfg"].size + x["b"].size
    assert sorted(report["blobs"]) == sorted(b.digest for b in (x["b_layer"], x["b_cfg"], x["b"]))
    runs = gc_runs(registry)
    assert [(r["trigger"], r["report"]["dry_run"]) for r in runs] == [
        ("api", False), ("api", True), ("cli", False)], runs
    assert [r["job_kind"] for r in runs] == ["MANUAL"] * 3
    assert runs[0]["update_time"] >= runs[0]["creation_time"]
    # Bad parameters are refused with what to write instead, and start nothing.
    r = start_gc(registry, {"grace": "soon"})
    assert r.status_code == 400 and "24h" in r.text
    r = start_gc(registry, {"dry_run": "maybe"})
    assert r.status_code == 400 and "true or false" in r.text
    r = requests.delete(f"{registry.url}/api/v2.0/system/gc/schedule", timeout=10)
    assert r.status_code == 405
    assert len(gc_runs(registry)) == 3
    # berth's older /api/v1/gc is retired; /system/gc is the one way.
    assert requests.post(f"{registry.url}/api/v1/gc", timeout=10).status_code == 404


def test_http_endpoint_needs_an_administrator(make_registry):
    reg = make_registry(extra_config=LOCAL_AUTH)
    admin = ("admin", (reg.root / "initial-admin-password").read_text().strip())
    r = requests.post(f"{reg.url}/api/v2.0/users", auth=admin, timeout=10,
                      json={"username": "dev", "password": "dev-password-123"})
    assert r.status_code == 201, r.text
    assert start_gc(reg).status_code == 401
    r = start_gc(reg, auth=("dev", "dev-password-123"))
    assert r.status_code == 403 and "system administrator" in r.json()["errors"][0]["message"]
    assert start_gc(reg, auth=("admin", "wrong")).status_code == 401
    run = api_gc(reg, auth=admin)
    assert run["job_status"] == "Success", run
    assert gc_runs(reg, auth=admin)


def test_background_collection_and_metrics(make_registry):
    # A grace period longer than the pushes take: with none, a layer uploaded before its
    # manifest is garbage until the manifest lands, and a collection every 300 ms may
    # take it first (slow stores, a loaded machine).
    reg = make_registry(extra_config=gc_extra(interval="300ms", grace="3s",
                                              deleteuntagged="true")
                        + "  metrics:\n    mainport: true\n")
    c = Client(reg)
    x = push_two_images_sharing_a_layer(c, "gc/bg")
    # Delete a's only tag: its manifest becomes untagged garbage.
    assert c.delete(c.manifest_url("gc/bg", "a")).status_code == 202
    gone = [x["a_layer"], x["a_cfg"], x["a"]]
    deadline = time.time() + 30
    while time.time() < deadline and any(blob_stored(reg, b.digest) for b in gone):
        time.sleep(0.1)
    assert not any(blob_stored(reg, b.digest) for b in gone)
    assert c.get_manifest("gc/bg", "b").status_code == 200
    metrics = requests.get(f"{reg.url}/metrics", timeout=10).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
              if line.startswith("berth_gc_") or line.startswith("berth_lifecycle")}
    assert values["berth_gc_manifests_deleted_total"] == 1, values
    assert values["berth_gc_blobs_deleted_total"] == 3, values
    assert values["berth_gc_freed_bytes_total"] == sum(b.size for b in gone), values
    assert values['berth_lifecycle_runs_total{kind="gc",result="ok"}'] >= 1, values
    reg.stop()
    assert "garbage collection freed space" in reg.log()
    assert "garbage collection deleted manifest" in reg.log()


def test_pull_times_are_recorded(make_registry):
    """Pulls are kept in memory and written in batches; a clean stop writes the rest."""
    reg = make_registry()
    c = Client(reg)
    c.push_image("gc/pulls", "v1", "pulled")
    c.push_image("gc/pulls", "v2", "not-pulled")
    before = time.time()
    assert c.get_manifest("gc/pulls", "v1").status_code == 200
    assert c.get_manifest("gc/pulls", "v2", method="HEAD").status_code == 200
    reg.stop()
    rows = dict(metadata.query(
        reg, "SELECT t.name, m.pulled_at FROM tags t JOIN manifests m "
        "ON m.repository_id = t.repository_id AND m.digest = t.digest"))
    assert rows["v2"] is None, "a HEAD is not a pull"
    assert rows["v1"] is not None and int(rows["v1"]) / 1000 >= before - 1


def test_cli_errors_say_what_to_do(registry, workdir):
    r = berth(registry, "gc", "--grace", "soon", check=False)
    assert r.returncode != 0 and "24h" in r.stderr
    r = berth(registry, "retention", check=False)
    assert r.returncode != 0 and "berth.retention.policies" in r.stderr
    bad = workdir / "bad.yml"
    bad.write_text(registry.config_path.read_text() + gc_extra() +
                   "  retention:\n    schedule: \"61 * * * *\"\n")
    r = subprocess.run([berth_bin(), "gc", str(bad)], capture_output=True, text=True,
                       timeout=60, env=registry.env)
    assert r.returncode != 0 and "five fields" in r.stderr, r.stderr


def test_progress_is_visible_while_a_collection_runs(registry):
    """A collection waits for blobs being put in place (they hold the placement lock shared);
    meanwhile the API shows where it stands, and pushes still complete."""
    c = Client(registry)
    for i in range(5):
        c.push_blobs("gc/progress", blob(f"junk-{i}", 100))
    with placement_held(registry):  # as an upload finishing would
        r = start_gc(registry, {"grace": "0s"})
        assert r.status_code == 201, r.text
        url = registry.url + r.headers["Location"]
        deadline = time.time() + 10
        run = {}
        while time.time() < deadline:
            run = requests.get(url, timeout=10).json()
            if (run.get("progress") or {}).get("pass") == "blobs":
                break
            time.sleep(0.05)
        assert run["job_status"] == "Running", run
        assert run["progress"] == {"pass": "blobs", "queued": 5, "reviewed": 0,
                                   "removed": 0}, run
        # Shared holders do not wait for each other: a push completes meanwhile.
        c.push_image("gc/progress", "v1", "during")
    run = finished_run(registry, url)
    assert run["job_status"] == "Success" and "progress" not in run
    assert run["report"]["blobs_deleted"] == 5
    assert c.get_manifest("gc/progress", "v1").status_code == 200


def test_a_killed_cli_run_is_marked_abandoned(registry):
    """`berth gc` killed with -9 in the middle of a run: the server's history says so,
    instead of showing it running forever."""
    c = Client(registry)
    for i in range(3):
        c.push_blobs("gc/killed", blob(f"killed-junk-{i}", 100))
    with placement_held(registry):  # the run waits here, in its blob pass
        proc = subprocess.Popen([berth_bin(), "gc", "--quiet", "--grace", "0s",
                                 str(registry.config_path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=registry.env)
        deadline = time.time() + 20
        runs = []
        while time.time() < deadline:
            runs = gc_runs(registry)
            if runs and runs[0]["trigger"] == "cli" and runs[0]["job_status"] == "Running":
                break
            time.sleep(0.05)
        assert runs and runs[0]["job_status"] == "Running", runs
        proc.kill()
        proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline:
        run = gc_runs(registry)[0]
        if run["job_status"] != "Running":
            break
        time.sleep(0.1)
    assert run["trigger"] == "cli" and run["job_status"] == "Error", run
    assert "abandoned" in run["error"] and "killed" in run["error"], run
    # The next run finishes the work.
    gc(registry, "--grace", "0s")
    run = gc_runs(registry)[0]
    assert run["job_status"] == "Success" and run["report"]["blobs_deleted"] == 3, run


def test_cli_runs_count_in_the_servers_metrics(make_registry):
    reg = make_registry(extra_config=gc_extra(interval="1h") + "  metrics:\n    mainport: true\n")
    c = Client(reg)

    def values():
        text = requests.get(f"{reg.url}/metrics", timeout=10).text
        return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
                if line.startswith(("berth_gc_", "berth_lifecycle"))}

    before = values()
    junk = [blob(f"cli-metrics-{i}", 300) for i in range(4)]
    c.push_blobs("gc/cli-metrics", *junk)
    gc(reg, "--grace", "0s")
    after = values()
    ok = 'berth_lifecycle_runs_total{kind="gc",result="ok"}'
    assert after.get(ok, 0) - before.get(ok, 0) == 1, (before, after)
    blobs = "berth_gc_blobs_deleted_total"
    assert after[blobs] - before.get(blobs, 0) == 4, (before, after)
    assert values()[ok] == after[ok], "counted once"


def test_dry_run_tells_what_waits_out_the_grace_period(registry):
    c = Client(registry)
    x = push_two_images_sharing_a_layer(c, "gc/backlog")
    assert c.delete(c.manifest_url("gc/backlog", x["a"].digest)).status_code == 202
    out = gc(registry, "--dry-run").stdout
    assert "would remove 0 manifests and 0 blobs" in out, out
    waiting = re.search(r"(\d+) manifests and (\d+) blobs are waiting out the grace period; "
                        r"the first may be collected from (\S+) \(in 23h 5\dm\)", out)
    assert waiting, out
    assert int(waiting.group(2)) >= 2, out  # a's own layer and config, at least


def test_gc_with_the_registry_stopped(registry):
    c = Client(registry)
    x = push_two_images_sharing_a_layer(c, "gc/offline")
    assert c.delete(c.manifest_url("gc/offline", x["a"].digest)).status_code == 202
    registry.stop()
    out = gc(registry, "--grace", "0s").stdout
    assert "removed 0 manifests and 3 blobs" in out, out
    registry.start()
    assert c.get_manifest("gc/offline", "b").content == x["b"].data
    assert c.get(c.blob_url("gc/offline", x["shared"].digest)).content == x["shared"].data
    assert c.head(c.blob_url("gc/offline", x["a_layer"].digest)).status_code == 404
