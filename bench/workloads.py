"""The benchmark workloads. Each takes a running registry and returns named figures."""

import json
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from content import sha256

MIB = 1 << 20


def run(*cmd, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{result.stderr[-2000:]}")
    return result


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def start_upload(url: str, repo: str) -> str:
    req = urllib.request.Request(f"{url}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(req) as r:
        location = r.headers["Location"]
    return location if location.startswith("http") else url + location


def put_blob_file(url: str, repo: str, path: Path, digest: str):
    """POST then one PUT carrying the whole file (curl streams it from disk)."""
    location = start_upload(url, repo)
    sep = "&" if "?" in location else "?"
    run("curl", "-sSf", "-X", "PUT", "-H", "Content-Type: application/octet-stream",
        "-T", path, f"{location}{sep}digest={digest}", "-o", "/dev/null")


def put_blob_bytes(url: str, repo: str, data: bytes) -> str:
    digest = sha256(data)
    location = start_upload(url, repo)
    sep = "&" if "?" in location else "?"
    req = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data,
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req).close()
    return digest


def put_manifest(url: str, repo: str, ref: str, body: bytes, media_type: str):
    req = urllib.request.Request(f"{url}/v2/{repo}/manifests/{ref}", method="PUT", data=body,
                                 headers={"Content-Type": media_type})
    urllib.request.urlopen(req).close()


# ------------------------------------------------------------------------- raw blobs

def raw_blob(reg, files: list[tuple[Path, str, int]]) -> dict:
    """Monolithic PUT, then GET, of each big file; MiB/s over all of them."""
    put_s = sum(timed(lambda f=f: put_blob_file(reg.url, "bench/raw", f[0], f[1]))
                for f in files)
    get_s = 0.0
    for _, digest, _ in files:
        # -L: a registry that redirects to its store (berth on S3) is measured with the
        # download from the store, as a client sees it.
        get_s += timed(lambda d=digest: run("curl", "-sSfL", "-o", "/dev/null",
                                            f"{reg.url}/v2/bench/raw/blobs/{d}"))
    total = sum(size for _, _, size in files) / MIB
    return {"blob_put_mib_s": total / put_s, "blob_get_mib_s": total / get_s}


# ------------------------------------------------------------------------------ skopeo

def skopeo_push_pull(reg, source_ref: str, repo: str, prefix: str) -> dict:
    dest = f"docker://{reg.host}/{repo}:latest"
    push = timed(lambda: run("skopeo", "copy", "-q", "--dest-tls-verify=false",
                             source_ref, dest))
    with tempfile.TemporaryDirectory(dir=reg.workdir) as out:
        pull = timed(lambda: run("skopeo", "copy", "-q", "--src-tls-verify=false",
                                 dest, f"dir:{out}"))
    return {f"{prefix}_push_s": push, f"{prefix}_pull_s": pull}


# --------------------------------------------------------------------- request rates

# Set by bench.py: the berth-loadgen binary (bench/loadgen).
LOADGEN = "berth-loadgen"


def load(reg, path: str, seconds: int, connections: int, method: str = "GET",
         headers: tuple[str, ...] = ()) -> dict:
    """Requests/s, p50/p99 latency (ms) and registry CPU time per request (µs) with
    `connections` keep-alive connections sending one request in a closed loop."""
    cmd = [LOADGEN, "-c", str(connections), "-d", str(seconds), "-X", method]
    for h in headers:
        cmd += ["-H", h]
    cpu_before = reg.cpu_seconds()
    out = json.loads(run(*cmd, f"{reg.url}{path}").stdout)
    cpu = reg.cpu_seconds() - cpu_before
    if out["failures"]:
        # A registry that answers errors fast must not look fast.
        raise RuntimeError(f"{reg.kind}: {out['failures']} failed requests on {method} {path}")
    return {"rps": out["rps"], "p50_ms": out["p50_ms"], "p99_ms": out["p99_ms"],
            "cpu_us_per_req": cpu / out["requests"] * 1e6}


def request_rates(reg, seconds: int, prefix: str = "") -> dict:
    accept = "Accept: application/vnd.oci.image.manifest.v1+json"
    manifest = "/v2/bench/small/manifests/latest"
    blob = f"/v2/bench/small/blobs/{reg.small_blob}"
    unreferenced = f"/v2/bench/small/blobs/{reg.unreferenced_blob}"
    figures = {}
    for name, path, method, headers in (("manifest_get", manifest, "GET", (accept,)),
                                        ("manifest_head", manifest, "HEAD", (accept,)),
                                        ("small_blob_get", blob, "GET", ()),
                                        ("unreferenced_blob_get", unreferenced, "GET", ())):
        for key, value in load(reg, path, seconds, 64, method, headers).items():
            figures[f"{prefix}{name}_{key}"] = value
    return figures


def small_image(reg):
    """bench/small:latest, a 1-layer image whose 4 KiB layer is the small-blob target, and
    a 4 KiB blob no manifest references yet (what clients re-check between uploading a
    layer and pushing its manifest)."""
    reg.unreferenced_blob = put_blob_bytes(reg.url, "bench/small", b"waiting layer" * 315)
    layer = b"small layer " * 342
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    reg.small_blob = put_blob_bytes(reg.url, "bench/small", layer)
    put_blob_bytes(reg.url, "bench/small", config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": reg.small_blob, "size": len(layer)}]}).encode()
    put_manifest(reg.url, "bench/small", "latest", manifest,
                 "application/vnd.oci.image.manifest.v1+json")


def manifest_puts(reg, count: int, threads: int = 8) -> dict:
    """Manifest PUTs per second: `count` distinct manifests (a label each) over the small
    image's config and layer, tagged one by one from `threads` clients. Every PUT is a
    metadata write transaction the registry makes durable before it answers."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer_size = len(b"small layer " * 342)
    errors: list[Exception] = []

    def push(worker: int):
        for i in range(worker, count, threads):
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": reg.small_blob, "size": layer_size}],
                "annotations": {"bench.put": str(i)}}).encode()
            try:
                put_manifest(reg.url, "bench/small", f"put-{i}", manifest,
                             "application/vnd.oci.image.manifest.v1+json")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    workers = [threading.Thread(target=push, args=(w,)) for w in range(threads)]
    began = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{reg.kind}: manifest PUT failed: {errors[0]}")
    return {"manifest_put_rps": count / seconds}


# --------------------------------------------------------------------------- listing

def fetch_all(url: str, first: str) -> int:
    """Follows `Link: rel="next"` pages; returns how many entries came back."""
    count, path = 0, first
    while path:
        with urllib.request.urlopen(url + path) as r:
            body = json.load(r)
            link = r.headers.get("Link")
        count += len(body.get("repositories") or body.get("tags") or [])
        path = link.split(";")[0].strip("<> ") if link else None
    return count


def listing(reg, repositories: int, tags: int, rounds: int, prefix: str = "") -> dict:
    """Wall time of a full `_catalog` walk (pages of 1000) and of `tags/list`."""
    catalog_s, tags_s = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        got = fetch_all(reg.url, "/v2/_catalog?n=1000")
        catalog_s.append(time.perf_counter() - began)
        if got != repositories + 1:  # + bench/tags
            raise RuntimeError(f"{reg.kind}: catalog listed {got}, expected {repositories + 1}")
        began = time.perf_counter()
        got = fetch_all(reg.url, "/v2/bench/tags/tags/list?n=1000")
        tags_s.append(time.perf_counter() - began)
        if got != tags:
            raise RuntimeError(f"{reg.kind}: tags/list gave {got}, expected {tags}")
    return {f"{prefix}catalog_ms": min(catalog_s) * 1e3, f"{prefix}tags_list_ms": min(tags_s) * 1e3}


# ------------------------------------------------------------------ concurrent pushes

def concurrent_pushes(reg, files: list[tuple[Path, str, int]]) -> dict:
    errors: list[Exception] = []

    def push(i: int, f):
        try:
            put_blob_file(reg.url, f"bench/concurrent{i}", f[0], f[1])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=push, args=(i, f)) for i, f in enumerate(files)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{reg.kind}: concurrent push failed: {errors[0]}")
    return {"concurrent_push_s": wall}
