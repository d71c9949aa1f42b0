#!/usr/bin/env python3
"""berth versus CNCF Distribution, side by side in one run. See bench/README.md."""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import content
import workloads
from registry_proc import RegistryProcess, free_port

HERE = Path(__file__).resolve().parent
MIB = 1 << 20

MODES = {
    # < 2 minutes: enough to see a regression while developing.
    "quick": dict(raw_mib=[256], skopeo_big_mib=0, small_layers=20, load_seconds=3,
                  repositories=2000, tags=1000, concurrent=16, concurrent_mib=16,
                  scale_repositories=0, listing_rounds=3, manifest_puts=400),
    # The scale-out issue's S3 workloads at their size (a 1 GiB blob, 100 small layers),
    # the rest as in quick.
    "s3": dict(raw_mib=[1024], skopeo_big_mib=0, small_layers=100, load_seconds=5,
               repositories=2000, tags=1000, concurrent=16, concurrent_mib=16,
               scale_repositories=0, listing_rounds=3, manifest_puts=400),
    # The figures the issue asks for, and the 10x scaling run.
    "full": dict(raw_mib=[1024], skopeo_big_mib=1024, small_layers=100, load_seconds=10,
                 repositories=2000, tags=1000, concurrent=16, concurrent_mib=16,
                 scale_repositories=20000, listing_rounds=5, manifest_puts=2000),
}

# figure → (unit, "higher"/"lower" is better, target ratio berth/distribution or None)
FIGURES = {
    "blob_put_mib_s": ("MiB/s", "higher", None),
    # berth's PUT as a share of what the disk makes durable (dd conv=fsync) in the same
    # run; Distribution never syncs, so a ratio to it measures the disk, not the registry.
    "blob_put_share_of_disk": ("of dd", "higher", None),
    "blob_get_mib_s": ("MiB/s", "higher", 1.5),
    "skopeo_big_push_s": ("s", "lower", None),
    "skopeo_big_pull_s": ("s", "lower", None),
    "skopeo_small_layers_push_s": ("s", "lower", None),
    "skopeo_small_layers_pull_s": ("s", "lower", None),
    "manifest_put_rps": ("req/s", "higher", None),
    "manifest_get_rps": ("req/s", "higher", 15.0),
    "manifest_get_p50_ms": ("ms", "lower", None),
    "manifest_get_p99_ms": ("ms", "lower", 0.05),
    "manifest_get_cpu_us_per_req": ("µs CPU", "lower", 0.05),
    "manifest_head_rps": ("req/s", "higher", 15.0),
    "manifest_head_p50_ms": ("ms", "lower", None),
    "manifest_head_p99_ms": ("ms", "lower", 0.05),
    "manifest_head_cpu_us_per_req": ("µs CPU", "lower", None),
    "small_blob_get_rps": ("req/s", "higher", 15.0),
    "small_blob_get_p50_ms": ("ms", "lower", None),
    "small_blob_get_p99_ms": ("ms", "lower", 0.05),
    "small_blob_get_cpu_us_per_req": ("µs CPU", "lower", None),
    "unreferenced_blob_get_rps": ("req/s", "higher", 15.0),
    "unreferenced_blob_get_p50_ms": ("ms", "lower", None),
    "unreferenced_blob_get_p99_ms": ("ms", "lower", 0.05),
    "unreferenced_blob_get_cpu_us_per_req": ("µs CPU", "lower", None),
    "catalog_ms": ("ms", "lower", 0.05),
    "catalog_first_page_ms": ("ms", "lower", None),
    "tags_list_ms": ("ms", "lower", None),
    "concurrent_push_s": ("s", "lower", None),
    "startup_on_tree_s": ("s", "lower", None),
    "scale_catalog_ms": ("ms", "lower", 0.05),
    "scale_catalog_first_page_ms": ("ms", "lower", None),
    "scale_tags_list_ms": ("ms", "lower", None),
    "scale_manifest_get_rps": ("req/s", "higher", 15.0),
    "scale_manifest_get_p99_ms": ("ms", "lower", 0.05),
    "scale_startup_on_tree_s": ("s", "lower", None),
    "idle_rss_mib": ("MiB", "lower", 0.45),
    "peak_rss_mib": ("MiB", "lower", 0.2),
}

# Targets on a registry's own figure rather than on the ratio to Distribution.
OWN_TARGETS = {"blob_put_share_of_disk": 0.9}

KINDS = ("distribution", "berth", "berth-pg", "berth-s3", "distribution-s3")

# berth on S3 against Distribution's s3 driver on the same Garage (the scale-out issue's
# targets): pushes in parallel multipart parts, pulls handed to the store by a redirect.
S3_TARGETS = {"blob_put_mib_s": 1.5, "blob_get_mib_s": 1.0, "manifest_get_rps": 10.0}
# The registry:2 tree workloads compare indexing and listing on one machine; berth on
# PostgreSQL and on S3 is measured on the request paths.
TREE_KINDS = ("distribution", "berth")


def log(message: str):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def both(regs: dict, fn, label: str) -> dict:
    """Runs `fn(reg)` on Distribution, berth, berth on PostgreSQL, berth on S3 and
    Distribution on S3;
    returns {figure: {kind: value}}."""
    out: dict[str, dict] = {}
    for kind in KINDS:
        log(f"{label}: {kind}")
        for name, value in fn(regs[kind]).items():
            out.setdefault(name, {})[kind] = value
    return out


def listing_figures(reg, repositories: int, tags: int, rounds: int, prefix: str) -> dict:
    figures = workloads.listing(reg, repositories, tags, rounds, prefix)
    first_page = []
    for _ in range(rounds):
        first_page.append(workloads.timed(
            lambda: urllib.request.urlopen(f"{reg.url}/v2/_catalog?n=100").read()))
    figures[f"{prefix}catalog_first_page_ms"] = min(first_page) * 1e3
    return figures


def tree_registries(args, work: Path, repositories: int, tags: int, prefix: str) -> dict:
    """Both registries on identical registry:2 trees; measures listing and, at scale,
    manifest GETs. berth indexes the tree on first start (its start-up time)."""
    blobs_per_repo = 5
    log(f"writing a registry:2 tree: {repositories} repositories, "
        f"{repositories * blobs_per_repo} blobs, {tags} tags")
    seed = work / f"{prefix}tree"
    content.catalog_tree(seed, repositories, blobs_per_repo, tags)
    figures: dict[str, dict] = {}
    for kind in TREE_KINDS:
        root = work / f"{prefix}{kind}-root"
        shutil.copytree(seed, root)
        reg = RegistryProcess(kind, args.berth, work / f"{prefix}{kind}", root).start()
        try:
            figures.setdefault(f"{prefix}startup_on_tree_s", {})[kind] = reg.startup_seconds
            log(f"{prefix}listing: {kind} (started in {reg.startup_seconds:.1f}s)")
            for name, value in listing_figures(reg, repositories, tags, args.mode_cfg["listing_rounds"],
                                               prefix).items():
                figures.setdefault(name, {})[kind] = value
            if prefix:
                rates = workloads.load(reg, "/v2/bench/tags/manifests/v00000",
                                      args.mode_cfg["load_seconds"], 64, "GET",
                                      ("Accept: application/vnd.oci.image.manifest.v1+json",))
                for key in ("rps", "p99_ms"):
                    figures.setdefault(f"{prefix}manifest_get_{key}", {})[kind] = rates[key]
        finally:
            reg.stop()
        shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(seed, ignore_errors=True)
    return figures


def run_benchmarks(args) -> dict:
    cfg = args.mode_cfg
    work = Path(tempfile.mkdtemp(prefix="berth-bench-", dir=args.workdir))
    figures: dict[str, dict] = {}
    # Its own directory under the temporary directory: as root the server runs as the
    # postgres user, who cannot enter the (private) work directory.
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="berth-bench-pg-")))
    garage = GarageServer(work / "garage")
    regs = {k: RegistryProcess(k, args.berth, work / k, database=pg.database(k),
                               s3=garage.bucket(k)).start()
            for k in KINDS}
    try:
        time.sleep(1)
        for kind, reg in regs.items():
            figures.setdefault("idle_rss_mib", {})[kind] = reg.memory_kib()["VmRSS"] / 1024

        log("making incompressible files")
        files = []
        for i, mib in enumerate(cfg["raw_mib"]):
            path = work / f"raw{i}"
            files.append((path, content.random_file(path, mib * MIB), mib * MIB))
        figures |= both(regs, lambda r: workloads.raw_blob(r, files), "raw blob PUT/GET")
        args.disk_mib_s = disk_ceiling(files[0][0], work)
        figures["blob_put_share_of_disk"] = {
            kind: v / args.disk_mib_s for kind, v in figures["blob_put_mib_s"].items()}
        for f in files:
            f[0].unlink()

        if cfg["skopeo_big_mib"]:
            ref = content.image_layout(work / "big-layout", [cfg["skopeo_big_mib"] * MIB])
            figures |= both(regs, lambda r: workloads.skopeo_push_pull(
                r, ref, "bench/big", "skopeo_big"), "skopeo, one big layer")
            shutil.rmtree(work / "big-layout")

        sizes = [4096 + 997 * i for i in range(cfg["small_layers"])]
        ref = content.image_layout(work / "small-layout", sizes)
        figures |= both(regs, lambda r: workloads.skopeo_push_pull(
            r, ref, "bench/layers", "skopeo_small_layers"), f"skopeo, {len(sizes)} small layers")

        figures |= both(regs, lambda r: workloads.small_image(r) or {}, "small image")
        figures |= both(regs, lambda r: workloads.manifest_puts(r, cfg["manifest_puts"]),
                        f"{cfg['manifest_puts']} manifest PUTs (8 clients)")
        figures |= both(regs, lambda r: workloads.request_rates(r, cfg["load_seconds"]),
                        "manifest and small-blob request rates (64 connections)")

        files = []
        for i in range(cfg["concurrent"]):
            path = work / f"c{i}"
            files.append((path, content.random_file(path, cfg["concurrent_mib"] * MIB),
                          cfg["concurrent_mib"] * MIB))
        figures |= both(regs, lambda r: workloads.concurrent_pushes(r, files),
                        f"{len(files)} concurrent pushes")
        for kind, reg in regs.items():
            figures.setdefault("peak_rss_mib", {})[kind] = reg.memory_kib()["VmHWM"] / 1024
    finally:
        for reg in regs.values():
            reg.stop()
        pg.stop()
        garage.stop()

    figures |= tree_registries(args, work, cfg["repositories"], cfg["tags"], "")
    if cfg["scale_repositories"]:
        figures |= tree_registries(args, work, cfg["scale_repositories"], cfg["tags"], "scale_")
    shutil.rmtree(work, ignore_errors=True)
    return figures


class PostgresServer:
    """A private PostgreSQL (scripts/postgres.sh) for berth-pg, on the same disk as the
    other registries' data, with PostgreSQL's durable defaults (fsync, synchronous
    commit) as berth's SQLite has them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        subprocess.run([str(HERE.parent / "scripts" / "postgres.sh"), "start", str(directory),
                        str(self.port)], check=True)

    def database(self, kind: str):
        if kind != "berth-pg":
            return None
        return ("127.0.0.1", self.port, "berth")

    def stop(self):
        subprocess.run([str(HERE.parent / "scripts" / "postgres.sh"), "stop",
                        str(self.directory)], check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


class GarageServer:
    """A private one-node Garage (scripts/garage.sh) for berth-s3, on the same disk, with
    fsync of data and metadata on (as berth's filesystem store syncs)."""

    KEY_ID = "GK00000000000000000000b17e"
    SECRET = "62657274686265727468626572746862657274686265727468626572746862ab"

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        subprocess.run([str(HERE.parent / "scripts" / "garage.sh"), "start", str(directory),
                        str(self.port)], check=True)

    def bucket(self, kind: str):
        if not kind.endswith("-s3"):
            return None
        return (f"http://127.0.0.1:{self.port}", self.KEY_ID, self.SECRET, "berth", kind)

    def stop(self):
        subprocess.run([str(HERE.parent / "scripts" / "garage.sh"), "stop",
                        str(self.directory)], check=False)


def disk_ceiling(source: Path, work: Path) -> float:
    """What the disk sustains for a durable write (dd, then fsync): the ceiling for any
    registry that acknowledges a blob only once it is on disk."""
    target = work / "dd-ceiling"
    seconds = workloads.timed(lambda: workloads.run(
        "dd", f"if={source}", f"of={target}", "bs=1M", "conv=fsync", "status=none"))
    size = source.stat().st_size
    target.unlink()
    return size / MIB / seconds


def ratio_row(name: str, values: dict) -> dict:
    unit, better, target = FIGURES[name]
    berth, dist = values.get("berth"), values.get("distribution")
    pg, s3, dist_s3 = values.get("berth-pg"), values.get("berth-s3"), values.get("distribution-s3")
    ratio = berth / dist if berth is not None and dist else None
    pg_ratio = pg / dist if pg is not None and dist else None
    # berth on S3 is compared with Distribution on the same store.
    s3_ratio = s3 / dist_s3 if s3 is not None and dist_s3 else None
    s3_target = S3_TARGETS.get(name)
    s3_met = None
    if s3_target is not None and s3_ratio is not None:
        s3_met = s3_ratio >= s3_target if better == "higher" else s3_ratio <= s3_target
    met = None
    if target is not None and ratio is not None:
        met = ratio >= target if better == "higher" else ratio <= target
    own = OWN_TARGETS.get(name)
    if own is not None and berth is not None:
        met = berth >= own if better == "higher" else berth <= own
    return {"unit": unit, "better": better, "berth": berth, "distribution": dist,
            "ratio": ratio, "target": target, "own_target": own, "met": met,
            "berth_pg": pg, "pg_ratio": pg_ratio, "berth_s3": s3, "distribution_s3": dist_s3,
            "s3_ratio": s3_ratio, "s3_target": s3_target, "s3_met": s3_met}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    dist = subprocess.run(["docker-registry", "--version"], capture_output=True,
                          text=True).stdout.strip()
    berth = subprocess.run([ARGS.berth, "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "distribution": dist, "berth": berth}


def fmt(value) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"### {report['mode']} run, {report['date']}",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"{m['berth']} vs {m['distribution']}; the disk writes "
        f"{m['disk_fsync_write_mib_s']} MiB/s durably (dd conv=fsync of the raw-blob file)",
        "",
        "| figure | unit | Distribution | berth | berth / Distribution | target | met "
        "| berth, PostgreSQL | / Distribution | Distribution, S3 | berth, S3 | "
        "/ Distribution, S3 | target | met |",
        "|---|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for name, row in report["figures"].items():
        sign = "≥ " if row["better"] == "higher" else "≤ "
        target = "" if row["target"] is None else sign + f"{row['target']:g}"
        if row.get("own_target") is not None:
            target = f"berth {sign}{row['own_target']:g}"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.3g}"
        pg_ratio = "–" if row.get("pg_ratio") is None else f"{row['pg_ratio']:.3g}"
        s3_ratio = "–" if row.get("s3_ratio") is None else f"{row['s3_ratio']:.3g}"
        s3_target = "" if row.get("s3_target") is None else sign + f"{row['s3_target']:g}"
        s3_met = {True: "yes", False: "**no**", None: ""}[row.get("s3_met")]
        lines.append(f"| {name} | {row['unit']} | {fmt(row['distribution'])} | "
                     f"{fmt(row['berth'])} | {ratio} | {target} | {met} | "
                     f"{fmt(row.get('berth_pg'))} | {pg_ratio} | "
                     f"{fmt(row.get('distribution_s3'))} | {fmt(row.get('berth_s3'))} | "
                     f"{s3_ratio} | {s3_target} | {s3_met} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=MODES, default="quick")
    parser.add_argument("--berth", required=True, help="path of a release berth binary")
    parser.add_argument("--loadgen", required=True, help="path of the berth-loadgen binary")
    parser.add_argument("--workdir", default=None, help="where to put data (default: $TMPDIR)")
    parser.add_argument("--json", default=str(HERE / "results.json"))
    parser.add_argument("--markdown", default=str(HERE / "RESULTS.md"),
                        help="results are appended under the '## Runs' heading")
    parser.add_argument("--command", default=" ".join(sys.argv),
                        help="the command line to record")
    ARGS = args = parser.parse_args()
    args.mode_cfg = MODES[args.mode]
    workloads.LOADGEN = args.loadgen
    began = time.time()
    figures = run_benchmarks(args)
    report = {
        "mode": args.mode,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": args.command,
        "seconds": round(time.time() - began),
        "machine": dict(machine(), disk_fsync_write_mib_s=round(args.disk_mib_s)),
        "figures": {name: ratio_row(name, figures[name]) for name in FIGURES if name in figures},
    }
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    print("\n" + table)
    md = Path(args.markdown)
    text = md.read_text() if md.exists() else "# Benchmark results\n\n## Runs\n"
    if "## Runs\n" not in text:
        text += "\n## Runs\n"
    head, _, tail = text.partition("## Runs\n")
    md.write_text(head + "## Runs\n\n" + table + "\n" + tail.lstrip("\n"))
    log(f"done in {report['seconds']}s; wrote {args.json} and {args.markdown}")
    return 0


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())
