"""Garbage collection under load and under SIGKILL.

- Stress: several skopeo clients push images that share layers, delete and re-push them,
  while the registry collects continuously with a grace period of seconds. Every client
  command must succeed, every tag left must pull back byte-identical, and once the grace
  period has passed the blob directory must hold exactly the referenced blobs.
- Crash: `berth gc` is killed with SIGKILL in the middle of its sweep; the serving registry
  stays consistent (nothing it lists is missing), and the next run finishes the job.

berth only: Distribution cannot collect while serving."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import images as im
from conftest import berth_bin
from blobstore import blob_stored, stored_blobs
from gc_helpers import gc, gc_extra
from oci import Client, blob, config_blob, image_manifest

pytestmark = pytest.mark.berth_only

WORKERS = 4
VARIANTS = 6
DURATION = 25.0


def referenced_blobs(reg, repos: list[str]) -> set[str]:
    """Every blob the registry's remaining manifests need: their own bytes, configs,
    layers (read back through the API)."""
    c = Client(reg)
    need = set()
    for repo in repos:
        for tag in c.tags(repo):
            r = c.get_manifest(repo, tag)
            assert r.status_code == 200, r.text
            need.add(r.headers["Docker-Content-Digest"])
            doc = r.json()
            need.add(doc["config"]["digest"])
            need.update(layer["digest"] for layer in doc["layers"])
    return need


def test_pushes_deletes_and_repushes_while_collecting(make_registry, workdir):
    reg = make_registry(extra_config=gc_extra(interval="100ms", grace="3s",
                                              deleteuntagged="true"))
    base = im.make_layer(im.layer_files("stress-base", 0, 256 * 1024, busybox=False))
    variants = []
    for v in range(VARIANTS):
        img = im.make_image(f"variant-{v}", layers=1, layer_size=32 * 1024, shared=[base])
        variants.append(im.write_layout(workdir / f"variant-{v}", "latest", img.manifest, [img],
                                        img.platform))
    expected: dict[tuple[str, str], int] = {}  # (repo, tag) -> variant
    lock = threading.Lock()
    failures: list[str] = []
    stop = time.time() + DURATION

    def worker(w: int):
        rnd = random.Random(w)
        repos = [f"stress/w{w}-{i}" for i in range(2)]
        ops = 0
        while time.time() < stop and not failures:
            repo, tag = rnd.choice(repos), f"t{rnd.randrange(3)}"
            ref = f"docker://{reg.host}/{repo}:{tag}"
            with lock:
                current = expected.get((repo, tag))
            if current is not None and rnd.random() < 0.35:
                # skopeo deletes the manifest by digest: every tag on it goes.
                r = im.delete(ref, check=False)
                if r.returncode != 0:
                    failures.append(f"delete {ref}: {r.stderr}")
                    return
                with lock:
                    for key in [k for k, v in expected.items()
                                if k[0] == repo and v == current]:
                        del expected[key]
            else:
                v = rnd.randrange(VARIANTS)
                r = im.copy(variants[v].ref, ref, check=False)
                if r.returncode != 0:
                    failures.append(f"push {ref}: {r.stderr}")
                    return
                with lock:
                    expected[(repo, tag)] = v
            ops += 1
        return ops

    with ThreadPoolExecutor(WORKERS) as pool:
        ops = sum(pool.map(worker, range(WORKERS)))
    assert not failures, failures
    assert ops >= 40, f"only {ops} operations ran"

    # Every tag left pulls back byte-identical.
    c = Client(reg)
    repos = sorted({repo for repo, _ in expected} |
                   {f"stress/w{w}-{i}" for w in range(WORKERS) for i in range(2)})
    for (repo, tag), v in sorted(expected.items()):
        dest = workdir / "pulled" / repo.replace("/", "_") / tag
        dest.parent.mkdir(parents=True, exist_ok=True)
        im.copy(f"docker://{reg.host}/{repo}:{tag}", f"dir:{dest}")
        assert (dest / "manifest.json").read_bytes() == variants[v].top.data, (repo, tag)
        want = variants[v].all_blobs()
        got = im.dir_blobs(dest)
        assert got == want, (repo, tag)
    for repo in repos:
        tags = c.tags(repo) if c.get(f"/v2/{repo}/tags/list").status_code == 200 else []
        assert sorted(tags) == sorted(t for r, t in expected if r == repo), repo

    # After the grace period the store holds exactly what is referenced.
    need = referenced_blobs(reg, [r for r in repos if c.get(f"/v2/{r}/tags/list").status_code == 200])
    deadline = time.time() + 30
    while time.time() < deadline and stored_blobs(reg) != need:
        time.sleep(0.2)
    assert stored_blobs(reg) == need
    reg.stop()
    log = reg.log()
    assert "garbage collection freed space" in log
    # No request failed on the registry's side either.
    assert " status=5" not in log, [line for line in log.splitlines() if " status=5" in line][:5]


def upload_garbage(reg, count: int) -> list[str]:
    """`count` small blobs that no manifest references, uploaded in order."""
    digests = []
    session = requests.Session()
    for i in range(count):
        data = f"garbage-{i}".encode() * 8
        d = im.sha256(data)
        r = session.post(f"{reg.url}/v2/crash/junk/blobs/uploads/?digest={d}", data=data,
                         timeout=30)
        assert r.status_code == 201, r.text
        digests.append(d)
    return digests


def test_kill_during_sweep_then_finish(registry):
    c = Client(registry)
    keep_layers = [blob(f"keep-{i}", 20_000) for i in range(3)]
    keep_cfg = config_blob("keep")
    c.push_blobs("crash/app", keep_cfg, *keep_layers)
    keep = image_manifest(keep_cfg, keep_layers)
    assert c.push_manifest("crash/app", "v1", keep).status_code == 201
    garbage = upload_garbage(registry, 1500)
    time.sleep(0.2)

    proc = subprocess.Popen([berth_bin(), "gc", "--quiet", "--grace", "0s",
                             str(registry.config_path)], env=registry.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while blob_stored(registry, garbage[0]) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "gc finished before it could be killed"
    remaining = [d for d in garbage if blob_stored(registry, d)]
    assert 0 < len(remaining) < len(garbage), len(remaining)

    # The serving registry never lists a blob whose bytes are gone.
    s = requests.Session()
    for d in garbage:
        r = s.get(f"{registry.url}/v2/crash/junk/blobs/{d}", timeout=10)
        if r.status_code == 200:
            assert im.sha256(r.content) == d
        else:
            assert r.status_code == 404, (d, r.status_code)
    r = c.get_manifest("crash/app", "v1")
    assert r.status_code == 200 and r.content == keep.data
    for b in (keep_cfg, *keep_layers):
        assert c.get(c.blob_url("crash/app", b.digest)).content == b.data

    # The next run completes the sweep, crash leftovers included.
    gc(registry, "--grace", "0s")
    assert not any(blob_stored(registry, d) for d in garbage)
    assert stored_blobs(registry) == {keep.digest, keep_cfg.digest,
                                       *(b.digest for b in keep_layers)}
    r = c.get_manifest("crash/app", "v1")
    assert r.status_code == 200 and r.content == keep.data
