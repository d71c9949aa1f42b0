#!/usr/bin/env python3
"""Garbage collection: berth's online collector next to Distribution's offline
`registry garbage-collect`, on the same registry:2 tree (see bench/README.md).

The tree: IMAGES images in REPOS repositories, each a config, two own layers and a layer
from a small shared pool, plus its manifest; GARBAGE more images whose manifests were
deleted (their blobs and layer links stay, as after a DELETE on registry:2). Both
registries start from copies of that tree.

- Distribution: `docker-registry garbage-collect` (the registry must be stopped or
  read-only meanwhile: no push can land); then again after 10% of the images are deleted.
- berth: serves the tree (indexing it on first start), and `berth gc --grace 10s` runs
  while clients keep pushing; pushes per second before and during the collection, and
  failed pushes, are counted. Then again after deleting the same 10%.

Both must remove the same blobs: the harness checks that the two stores end identical.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

import content
import results_md
from registry_proc import RegistryProcess

HERE = Path(__file__).resolve().parent
SHARED_POOL = 16
# berth's grace period in the run: long enough that the clients' own uploads, referenced
# milliseconds later by their manifests, are never candidates; the tree's garbage and
# the deleted images are older than this when berth collects.
GRACE_S = 10


def log(message: str):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def layer(label: str) -> bytes:
    return (label.encode() + b"\n") * 40


def write_tree(root: Path, images: int, garbage: int, repos: int) -> dict:
    """Returns {"kept": [(repo, digest)], "blobs": count}."""
    tree = content.DistributionTree(root)
    shared = [layer(f"shared {i}") for i in range(SHARED_POOL)]
    kept = []
    for i in range(images + garbage):
        repo = f"gc{i % repos:04d}/app"
        layers = [layer(f"{repo} {i} a"), layer(f"{repo} {i} b"), shared[i % SHARED_POOL]]
        digest = tree.add_image(repo, [f"t{i}"], layers)
        if i >= images:
            # Deleted as registry:2 deletes a manifest: tag and revision links go.
            repo_dir = tree.v2 / "repositories" / repo / "_manifests"
            shutil.rmtree(repo_dir / "tags" / f"t{i}")
            shutil.rmtree(repo_dir / "revisions" / "sha256" / digest.split(":")[1])
        else:
            kept.append((repo, f"t{i}", digest))
    return {"kept": kept, "blobs": count_blobs(root)}


def count_blobs(root: Path) -> int:
    return sum(1 for _ in (root / "docker/registry/v2/blobs").glob("sha256/*/*/data"))


def blob_set(root: Path) -> set[str]:
    return {p.parent.name for p in (root / "docker/registry/v2/blobs").glob("sha256/*/*/data")}


class Pushers:
    """Threads pushing small distinct images (config, one layer, manifest) until stopped;
    counts completed pushes and failures, in time windows."""

    def __init__(self, url: str, threads: int):
        self.url, self.threads = url, threads
        self.done: list[float] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []

    def _push_one(self, s: requests.Session, worker: int, n: int):
        repo = f"push{worker}/img"
        config = content.config_blob(f"push {worker} {n}")
        data = layer(f"push {worker} {n}")
        for blob in (config, data):
            d = content.sha256(blob)
            r = s.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=60)
            r.raise_for_status()
            loc = r.headers["Location"]
            loc = loc if loc.startswith("http") else self.url + loc
            sep = "&" if "?" in loc else "?"
            s.put(f"{loc}{sep}digest={d}", data=blob, timeout=60,
                  headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        manifest = content.image_manifest(config, [(content.sha256(data), len(data))])
        s.put(f"{self.url}/v2/{repo}/manifests/n{n}", data=manifest, timeout=60,
              headers={"Content-Type": content.OCI_MANIFEST}).raise_for_status()

    def _run(self, worker: int):
        s = requests.Session()
        n = 0
        while not self.stop.is_set():
            try:
                self._push_one(s, worker, n)
                with self.lock:
                    self.done.append(time.perf_counter())
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with self.lock:
                    self.failures.append(repr(e))
            n += 1

    def start(self):
        self.workers = [threading.Thread(target=self._run, args=(w,)) for w in range(self.threads)]
        for t in self.workers:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.workers:
            t.join()

    def rate(self, start: float, end: float) -> float:
        with self.lock:
            n = sum(1 for t in self.done if start <= t < end)
        return n / max(end - start, 1e-9)


def delete_tenth(url: str, kept: list) -> int:
    s = requests.Session()
    n = 0
    for repo, _tag, digest in kept[::10]:
        r = s.delete(f"{url}/v2/{repo}/manifests/{digest}", timeout=60)
        assert r.status_code == 202, (r.status_code, r.text)
        n += 1
    return n


def distribution_gc(reg: RegistryProcess) -> float:
    began = time.perf_counter()
    subprocess.run(["docker-registry", "garbage-collect", str(reg.config)], check=True,
                   capture_output=True)
    return time.perf_counter() - began


def berth_gc(berth: str, reg: RegistryProcess) -> tuple[float, str]:
    began = time.perf_counter()
    out = subprocess.run([berth, "gc", "--quiet", "--grace", f"{GRACE_S}s", str(reg.config)],
                         check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - began, out.strip()


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="berth-gc-bench-", dir=args.workdir))
    figures: dict[str, dict] = {}
    notes: list[str] = []
    try:
        seed = work / "tree"
        log(f"writing a registry:2 tree: {args.images} images + {args.garbage} deleted, "
            f"{args.repos} repositories")
        tree = write_tree(seed, args.images, args.garbage, args.repos)
        log(f"{tree['blobs']} blobs")
        seed_blobs = blob_set(seed)
        figures["store_blobs"] = {"distribution": tree["blobs"], "berth": tree["blobs"]}
        ends: dict[str, set[str]] = {}

        # ---- Distribution: offline.
        root = work / "distribution-root"
        shutil.copytree(seed, root)
        reg = RegistryProcess("distribution", args.berth, work / "distribution", root)
        log("distribution: garbage-collect (offline)")
        figures["gc_full_s"] = {"distribution": distribution_gc(reg)}
        figures["blobs_removed"] = {"distribution": tree["blobs"] - count_blobs(root)}
        reg.start()
        pushers = Pushers(reg.url, args.pushers)
        pushers.start()
        t0 = time.perf_counter()
        time.sleep(args.push_seconds)
        t1 = time.perf_counter()
        pushers.finish()
        figures["push_per_s_idle"] = {"distribution": pushers.rate(t0, t1)}
        deleted = delete_tenth(reg.url, tree["kept"])
        reg.stop()
        log(f"distribution: deleted {deleted} images; garbage-collect again")
        before = count_blobs(root)
        figures["gc_after_delete_s"] = {"distribution": distribution_gc(reg)}
        figures["blobs_removed_after_delete"] = {"distribution": before - count_blobs(root)}
        figures["push_per_s_during_gc"] = {"distribution": 0.0}
        ends["distribution"] = blob_set(root)

        # ---- berth: online, with pushes going on.
        root = work / "berth-root"
        shutil.copytree(seed, root)
        reg = RegistryProcess("berth", args.berth, work / "berth", root).start()
        began_serving = time.perf_counter()
        notes.append(f"berth indexed the tree on first start in {reg.startup_seconds:.1f}s")
        try:
            pushers = Pushers(reg.url, args.pushers)
            pushers.start()
            t0 = time.perf_counter()
            time.sleep(args.push_seconds)
            t1 = time.perf_counter()
            log("berth: gc while pushing")
            assert time.perf_counter() - began_serving >= GRACE_S
            gc_s, summary = berth_gc(args.berth, reg)
            t2 = time.perf_counter()
            # A collection this short would make the rate a few pushes: keep pushing for
            # the same window length and count only what overlapped the collection.
            pushers.finish()
            figures["gc_full_s"]["berth"] = gc_s
            figures["push_per_s_idle"]["berth"] = pushers.rate(t0, t1)
            figures["push_per_s_during_gc"]["berth"] = pushers.rate(t1, t2)
            figures["push_failures"] = {"distribution": 0, "berth": len(pushers.failures)}
            notes.append(f"berth gc: {summary}")
            pushed = len(pushers.done)
            # Each push stored three blobs: config, layer, manifest.
            figures["blobs_removed"]["berth"] = tree["blobs"] + 3 * pushed - count_blobs(root)
            deleted = delete_tenth(reg.url, tree["kept"])
            time.sleep(GRACE_S)
            before = count_blobs(root)
            gc_s, summary = berth_gc(args.berth, reg)
            figures["gc_after_delete_s"]["berth"] = gc_s
            figures["blobs_removed_after_delete"]["berth"] = before - count_blobs(root)
            notes.append(f"berth gc after deleting {deleted} images: {summary}")
            if pushers.failures:
                notes.append(f"push failures: {pushers.failures[:3]}")
        finally:
            reg.stop()
        # Both stores also hold the images pushed during the run; compare the tree's blobs.
        ends["berth"] = blob_set(root) & seed_blobs
        ends["distribution"] &= seed_blobs
        same = ends["berth"] == ends["distribution"]
        notes.append("of the tree's blobs, both registries kept exactly the same set: "
                     + ("yes" if same else
                        f"NO ({len(ends['distribution'] - ends['berth'])} only in "
                        f"Distribution, {len(ends['berth'] - ends['distribution'])} only in berth)"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"figures": figures, "notes": notes}


def markdown(result: dict, args) -> str:
    f = result["figures"]
    rows = [
        ("blobs in the store", "store_blobs", "{:.0f}"),
        ("full collection (s)", "gc_full_s", "{:.2f}"),
        ("blobs removed", "blobs_removed", "{:.0f}"),
        ("pushes/s, no collection running", "push_per_s_idle", "{:.1f}"),
        ("pushes/s while collecting", "push_per_s_during_gc", "{:.1f}"),
        ("failed pushes", "push_failures", "{:.0f}"),
        ("collection after deleting 10% of images (s)", "gc_after_delete_s", "{:.2f}"),
        ("blobs removed by it", "blobs_removed_after_delete", "{:.0f}"),
    ]
    lines = [f"### Garbage collection, {time.strftime('%Y-%m-%d %H:%M')} "
             f"(`{args.command}`)", "",
             f"Machine: {platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
             f"{args.images} images + {args.garbage} deleted in {args.repos} repositories, "
             f"{args.pushers} pushing clients.", "",
             "| figure | Distribution (offline) | berth (online) | berth / Distribution |",
             "|---|---|---|---|"]
    for label, key, fmt in rows:
        d, b = f[key].get("distribution"), f[key].get("berth")
        ratio = f"{b / d:.2f}" if d and b is not None else "—"
        lines.append(f"| {label} | {fmt.format(d)} | {fmt.format(b)} | {ratio} |")
    lines.append("")
    lines.extend(f"- {n}" for n in result["notes"])
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--berth", required=True)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--garbage", type=int, default=1500)
    p.add_argument("--repos", type=int, default=250)
    p.add_argument("--pushers", type=int, default=4)
    p.add_argument("--push-seconds", type=float, default=float(GRACE_S))
    p.add_argument("--workdir", default=None)
    p.add_argument("--command", default="bench/run.sh gc")
    p.add_argument("--markdown", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    result = run(args)
    table = markdown(result, args)
    print(table)
    (HERE / "results-gc.json").write_text(json.dumps(result, indent=2) + "\n")
    results_md.record(args.markdown, "Garbage collection runs", table)


if __name__ == "__main__":
    main()
