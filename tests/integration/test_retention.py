"""Retention policies (berth.retention) and immutable tags under them: every rule kind,
rules OR-ed, tag patterns, untagged handling, dry run against real run, through the HTTP
endpoint and the CLI; garbage collection then returns the space.

berth only: Distribution has no retention."""

import time

import pytest
import requests

from conftest import Registry
from blobstore import blob_stored
from gc_helpers import berth, finished_run, gc
from oci import Client, blob, config_blob, image_manifest

pytestmark = pytest.mark.berth_only

POLICIES = """berth:
  gc:
    grace: 3s
  immutable:
    - repositories: "ret/immutable"
      tags: "stable"
  retention:
    policies:
      - repositories: "ret/pushed"
        keep: [{mostrecentlypushed: 2}]
      - repositories: "ret/pulled"
        keep: [{mostrecentlypulled: 1}]
      - repositories: "ret/pushed-within"
        keep: [{pushedwithin: 3s}]
      - repositories: "ret/pulled-within"
        keep: [{pulledwithin: 1h}]
      - repositories: "ret/patterns/**"
        tags: "v*"
        keep: [{mostrecentlypushed: 1}, {tags: ["v1", "v2.*"]}]
      - repositories: "ret/untagged"
        keep: [{mostrecentlypushed: 1}]
        untagged: delete
      - repositories: "ret/immutable"
        keep: [{mostrecentlypushed: 1}]
"""

# repository -> (tags pushed in this order, tags pulled afterwards, tags retention keeps)
CASES = {
    "ret/pushed": (["a", "b", "c", "d"], [], ["c", "d"]),
    "ret/pulled": (["a", "b", "c"], ["a"], ["a"]),
    "ret/pulled-within": (["a", "b", "c"], ["b", "c"], ["b", "c"]),
    # `latest` is outside the policy's tag pattern: untouched.
    "ret/patterns/app": (["v1", "v2.0", "v3", "v4", "latest"], [], ["v1", "v2.0", "v4", "latest"]),
    "ret/untagged": (["a", "b"], [], ["b"]),
    "ret/immutable": (["stable", "x", "y"], [], ["stable", "y"]),
    "ret/no-policy": (["a", "b", "c"], [], ["a", "b", "c"]),
    # Last, so that `new` is pushed just before the runs.
    "ret/pushed-within": (["old1", "old2", "SLEEP", "new"], [], ["new"]),
}


def push_loose(c: Client, seed: str):
    """An untagged manifest (pushed by digest) in the repository that deletes them."""
    layer, cfg = blob(seed, 300), config_blob(seed)
    c.push_blobs("ret/untagged", layer, cfg)
    loose = image_manifest(cfg, [layer])
    assert c.push_manifest("ret/untagged", loose.digest, loose).status_code == 201
    return loose


def push_cases(c: Client) -> dict[tuple[str, str], object]:
    # Older than the grace period (3s) by the time retention runs.
    manifests = {("ret/untagged", None): push_loose(c, "loose")}
    for repo, (tags, _, _) in CASES.items():
        for tag in tags:
            if tag == "SLEEP":
                time.sleep(4)
                continue
            manifests[(repo, tag)] = c.push_image(repo, tag, f"{repo}/{tag}")
            time.sleep(0.02)  # distinct push times
    for repo, (_, pulls, _) in CASES.items():
        for tag in pulls:
            assert c.get_manifest(repo, tag).status_code == 200
    return manifests


def all_tags(c: Client) -> dict[str, list[str]]:
    return {repo: sorted(c.tags(repo)) for repo in CASES}


def run_configured(reg, dry_run: bool) -> dict:
    """Applies the configuration's policies through the API and waits: the report."""
    r = requests.post(f"{reg.url}/api/v2.0/system/retention/executions", timeout=30,
                      json={"dry_run": dry_run})
    assert r.status_code == 201, r.text
    run = finished_run(reg, reg.url + r.headers["Location"], timeout=60)
    assert run["status"] == "Success", run
    return run["report"]


def test_every_rule_kind_dry_run_then_real_run(make_registry):
    reg = make_registry(extra_config=POLICIES)
    c = Client(reg)
    manifests = push_cases(c)
    # Untagged but younger than the grace period: a push still in progress keeps it.
    fresh = push_loose(c, "fresh")
    before = all_tags(c)
    expected_deleted = sorted(f"{repo}:{t}" for repo, (tags, _, keep) in CASES.items()
                              for t in tags if t != "SLEEP" and t not in keep)

    dry = run_configured(reg, dry_run=True)
    assert dry["dry_run"] is True
    assert sorted(dry["tags_deleted"]) == expected_deleted, (sorted(dry["tags_deleted"]), expected_deleted)
    # `stable` is not among the newest, but immutable.
    assert dry["immutable_skipped"] == ["ret/immutable:stable"]
    assert all_tags(c) == before, "a dry run deletes nothing"
    # The CLI's dry run names the same tags.
    out = berth(reg, "retention", "--dry-run").stdout
    for t in expected_deleted:
        assert f"tag would delete: {t}" in out, out

    report = run_configured(reg, dry_run=False)
    assert sorted(report["tags_deleted"]) == expected_deleted
    after = all_tags(c)
    for repo, (_, _, keep) in CASES.items():
        assert after[repo] == sorted(keep), repo
    # Manifests that lost their last tag are gone; the loose untagged one too.
    for (repo, tag), m in manifests.items():
        kept = tag is not None and tag in CASES[repo][2]
        status = c.get_manifest(repo, m.digest).status_code
        assert status == (200 if kept else 404), (repo, tag, status)
    assert f"ret/untagged@{manifests[('ret/untagged', None)].digest}" in report["manifests_deleted"]
    assert c.get_manifest("ret/untagged", fresh.digest).status_code == 200

    # The space comes back through garbage collection.
    gone = manifests[("ret/pushed", "a")]
    assert blob_stored(reg, gone.digest)
    gc(reg, "--grace", "0s")
    assert not blob_stored(reg, gone.digest)
    runs = requests.get(f"{reg.url}/api/v2.0/system/retention/executions", timeout=10).json()
    assert [(x["trigger"], x["dry_run"], x["status"]) for x in runs] == [
        ("api", False, "Success"), ("cli", True, "Success"), ("api", True, "Success")]
    configured = requests.get(f"{reg.url}/api/v2.0/system/retention", timeout=10).json()
    assert len(configured["policies"]) == 7 and configured["running"] is False
    reg.stop()
    assert "retention deleted tag" in reg.log()


def test_scheduled_retention_runs_and_logs(make_registry):
    reg = make_registry(extra_config=POLICIES.replace(
        "  retention:\n", "  retention:\n    schedule: \"* * * * *\"\n"))
    reg.stop()
    assert "retention scheduled" in reg.log()


def test_bad_policies_are_refused_with_the_fix(workdir):
    for bad, message in [
        ("      - repositories: \"x\"\n        keep: []\n", "list at least one rule"),
        ("      - repositories: \"x\"\n        keep: [{mostrecentlypushed: 1, tags: [a]}]\n",
         "exactly one of"),
        ("      - repositories: \"x\"\n        keep: [{tags: [a]}]\n        untagged: drop\n",
         "not keep or delete"),
    ]:
        sub = workdir / f"bad{abs(hash(bad))}"
        sub.mkdir()
        reg = Registry(sub, extra_config="berth:\n  retention:\n    policies:\n" + bad)
        r = berth(reg, "retention", "--dry-run", check=False)
        assert r.returncode != 0 and message in r.stderr, r.stderr
