#!/usr/bin/env python3
"""The web interface on a large registry: how long each page takes to render (see
bench/README.md).

berth with its own users, PROJECTS projects holding REPOSITORIES repositories between
them, and one repository (p000/app) with TAGS artifacts, a tag each. Each page is asked
for in a closed loop on one connection, signed in with a session cookie, as the
administrator and as a member of a few projects; latency on loopback is the server's
time. Beside each page, the management API call it is built on (the listing it shows),
so the ratio is what rendering and the page's other calls add. No other registry here has
a web interface: the figures stand alone, against the target of 100 ms per page.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import requests

import content
import results_md
import workloads
from registry_proc import RegistryProcess
from teams_bench import basic, log, push_image

HERE = Path(__file__).resolve().parent
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
WARM_UP = 1  # seconds of each page's requests before it is timed


def upload(session: requests.Session, url: str, repo: str, data: bytes) -> str:
    digest = content.sha256(data)
    r = session.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data,
                     headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    return digest


def many_artifacts(reg, repo: str, count: int, auth):
    """`count` distinct images in `repo` (one shared layer, a config each), tagged t0000…;
    the first one's digest."""
    session = requests.Session()
    session.auth = auth
    layer = b"ui bench layer\n" * 500
    layer_digest = upload(session, reg.url, repo, layer)
    first = None
    for i in range(count):
        config = json.dumps({"architecture": "amd64", "os": "linux", "created":
                             "2026-01-01T00:00:00Z", "config": {"Env": [f"N={i}"]}}).encode()
        config_digest = upload(session, reg.url, repo, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": len(layer)}]}).encode()
        r = session.put(f"{reg.url}/v2/{repo}/manifests/t{i:04d}", data=manifest, timeout=60,
                        headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
        first = first or content.sha256(manifest)
    return first


def session_cookie(reg, user: str, password: str) -> str:
    r = requests.post(f"{reg.url}/c/login", data={"principal": user, "password": password},
                      timeout=30)
    assert r.status_code == 200, r.text
    return "Cookie: berth_session=" + r.cookies["berth_session"]


def populate(args, reg, admin, member) -> str:
    api = f"{reg.url}/api/v2.0"
    log(f"creating {args.projects} projects")
    for i in range(args.projects):
        r = requests.post(f"{api}/projects", auth=admin, json={"project_name": f"p{i:03d}"})
        assert r.status_code == 201, r.text
    for i in range(0, args.projects, max(1, args.projects // 5)):
        r = requests.post(f"{api}/projects/p{i:03d}/members", auth=admin,
                          json={"role_id": 2, "member_user": {"username": member[0]}})
        assert r.status_code == 201, r.text
    log(f"pushing {args.tags} artifacts to p000/app")
    digest = many_artifacts(reg, "p000/app", args.tags, admin)
    log(f"pushing {args.repositories} repositories")
    began = time.perf_counter()

    def fill(i: int):
        push_image(reg, f"p{i % args.projects:03d}/r{i:05d}", ["v1"], admin)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(fill, range(args.repositories)))
    log(f"  {args.repositories / (time.perf_counter() - began):.0f} repositories/s")
    return digest


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--berth", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--projects", type=int, default=100)
    p.add_argument("--repositories", type=int, default=20_000)
    p.add_argument("--tags", type=int, default=1_000)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--workdir", default=None)
    p.add_argument("--reuse", default=None,
                   help="the work directory of an earlier run: time its registry again "
                        "instead of filling a new one")
    p.add_argument("--command", default="bench/run.sh ui")
    p.add_argument("--markdown", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    workloads.LOADGEN = args.loadgen
    work = Path(args.reuse or tempfile.mkdtemp(prefix="berth-ui-bench-", dir=args.workdir))
    reg = RegistryProcess("berth", args.berth, work / "ui",
                          extra="auth:\n  local:\n    service: bench\n").start()
    figures: dict[str, dict] = {}
    try:
        admin = ("admin", (reg.root / "initial-admin-password").read_text().strip())
        member = ("member", "member-password")
        if args.reuse:
            r = requests.get(f"{reg.url}/api/v2.0/projects/p000/repositories/app/artifacts/t0000",
                             auth=admin, timeout=30)
            assert r.status_code == 200, r.text
            digest = r.json()["digest"]
        else:
            subprocess.run([args.berth, "user", "add", member[0], "--password-stdin",
                            "--config", str(reg.config)], input=member[1] + "\n", text=True,
                           check=True, capture_output=True)
            digest = populate(args, reg, admin, member)
        last = (args.tags + 24) // 25
        as_admin = session_cookie(reg, *admin)
        as_member = session_cookie(reg, *member)
        app = "/projects/p000/repositories/app"
        api_app = "/api/v2.0/projects/p000/repositories/app"
        # (name, page, who, the API listing the page shows)
        pages = [
            ("dashboard", "/", as_admin, "/api/v2.0/statistics"),
            ("dashboard_member", "/", as_member, "/api/v2.0/statistics"),
            ("projects", "/projects", as_admin, "/api/v2.0/projects?page=1&page_size=25"),
            ("projects_member", "/projects", as_member,
             "/api/v2.0/projects?page=1&page_size=25"),
            ("project_repositories", "/projects/p001", as_admin,
             "/api/v2.0/projects/p001/repositories?page=1&page_size=25&sort=-creation_time"),
            ("project_repositories_by_name_filtered", "/projects/p001?name=r01&sort=name",
             as_admin, "/api/v2.0/projects/p001/repositories?page=1&page_size=25&sort=name"
             "&q=name%3D~r01"),
            ("project_repositories_member", "/projects/p000", as_member,
             "/api/v2.0/projects/p000/repositories?page=1&page_size=25&sort=-creation_time"),
            ("repository_1000_tags", app, as_admin,
             f"{api_app}/artifacts?page=1&page_size=25&with_tag=true"),
            ("repository_1000_tags_last_page", f"{app}?page={last}", as_admin,
             f"{api_app}/artifacts?page={last}&page_size=25&with_tag=true"),
            ("artifact", f"{app}/-/artifacts/{digest}", as_admin,
             f"{api_app}/artifacts/{digest}?with_tag=true"),
            ("delete_confirmation", f"{app}/-/delete?tag=t0000", as_admin,
             f"{api_app}/artifacts/t0000?with_tag=true"),
            ("members", "/projects/p000/members", as_admin,
             "/api/v2.0/projects/p000/members?page=1&page_size=100"),
            ("robots", "/projects/p000/robots", as_admin,
             "/api/v2.0/robots?page=1&page_size=100&q=Level%3Dproject%2CProjectID%3D1"),
            ("policies", "/projects/p000/policies", as_admin,
             "/api/v2.0/projects/p000/immutabletagrules"),
            ("project_settings", "/projects/p000/settings", as_admin,
             "/api/v2.0/projects/p000/_deletable"),
            ("admin", "/admin", as_admin, "/api/v2.0/users?page=1&page_size=25&sort=username"),
            ("admin_storage", "/admin/storage", as_admin, "/api/v2.0/quotas?page=1&page_size=25"),
            ("profile", "/profile", as_admin, "/api/v2.0/users/current"),
        ]
        for name, path, cookie, api_path in pages:
            log(f"page {name}: {path}")
            for kind, target in (("page", path), ("api", api_path)):
                # A second of the same requests first, not counted: the first requests
                # of a page read the database's pages from disk (a reopened registry's
                # first dashboard took 0.6 s and was its p99).
                workloads.load(reg, target, WARM_UP, 1, "GET", (cookie,))
                got = workloads.load(reg, target, args.seconds, 1, "GET", (cookie,))
                for key, value in got.items():
                    figures.setdefault(f"{name}_{key}", {})[kind] = value
        r = requests.get(f"{reg.url}/", headers={"Cookie": as_admin.split(": ", 1)[1]},
                         timeout=30)
        assert r.status_code == 200 and "Dashboard" in r.text, "the pages render when timed"
    finally:
        reg.stop()
    result = {"when": time.strftime("%Y-%m-%d %H:%M"),
              "machine": f"{platform.machine()}, {subprocess.os.cpu_count()} cores",
              "figures": figures}
    table = markdown(result, args, [name for name, *_ in pages])
    print(table)
    (HERE / "results-ui.json").write_text(json.dumps(result, indent=2) + "\n")
    results_md.record(args.markdown, "Web interface runs", table)


def markdown(result: dict, args, names: list[str]) -> str:
    f = result["figures"]
    lines = [f"### `{args.command}` ({result['when']})", "",
             f"Machine: {result['machine']}. {args.projects} projects, "
             f"{args.repositories} repositories, {args.tags} artifacts (a tag each) in "
             f"p000/app; one connection, {args.seconds} s per page after {WARM_UP} s of warm-up.",
             "",
             "| page | p50 ms | p99 ms | pages/s | CPU µs/page | its API call p50 ms | "
             "page / API |", "|---|---:|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for name in names:
        page, api = f[f"{name}_p50_ms"]["page"], f[f"{name}_p50_ms"]["api"]
        worst = max(worst, f[f"{name}_p99_ms"]["page"])
        lines.append(f"| {name} | {page:.1f} | {f[name + '_p99_ms']['page']:.1f} | "
                     f"{f[name + '_rps']['page']:.0f} | "
                     f"{f[name + '_cpu_us_per_req']['page']:.0f} | {api:.1f} | "
                     f"{page / api:.1f}x |")
    verdict = "met" if worst < 100 else "NOT met"
    lines += ["", f"Slowest page p99: {worst:.1f} ms (target: every page under 100 ms: "
              f"{verdict})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
