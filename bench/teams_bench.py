#!/usr/bin/env python3
"""Teams: what projects, roles and the audit log cost on the request path, and how the
management API lists at scale (see bench/README.md).

- Authenticated pulls: manifest GETs with Basic credentials, 64 connections, against
  Distribution with an htpasswd file, berth with the same file, and berth with its own
  users, a private project the puller is a guest of, and the audit log recording every
  pull. Ratios are berth / Distribution.
- Management listing: berth with PROJECTS projects (created through the API), a user who
  is a member of 20 of them, REPOSITORIES repositories spread over the projects, and one
  repository with TAGS artifacts; GET /projects and /repositories pages as the
  administrator and as that user, /search, a project's artifacts and the repository's.
  Distribution has no management API; the figures stand alone.
"""

from __future__ import annotations

import argparse
import base64
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

HERE = Path(__file__).resolve().parent
ACCEPT = "Accept: application/vnd.oci.image.manifest.v1+json"


def log(message: str):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def push_image(reg, repo: str, tags: list[str], auth) -> str:
    """A one-layer image under each tag; its manifest's digest."""
    session = requests.Session()
    session.auth = auth
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"teams bench layer\n" * 200
    blobs = []
    for data in (config, layer):
        digest = content.sha256(data)
        # POST then PUT: Distribution 2.8 takes no monolithic POST.
        r = session.post(f"{reg.url}/v2/{repo}/blobs/uploads/", timeout=60)
        assert r.status_code == 202, r.text
        location = requests.compat.urljoin(reg.url + "/", r.headers["Location"])
        r = session.put(location, params={"digest": digest}, data=data, timeout=60,
                        headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        blobs.append((digest, len(data)))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": blobs[0][0], "size": blobs[0][1]},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blobs[1][0], "size": blobs[1][1]}]}).encode()
    for tag in tags:
        r = session.put(f"{reg.url}/v2/{repo}/manifests/{tag}", data=manifest, timeout=60,
                        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text
    return content.sha256(manifest)


def htpasswd_file(path: Path, user: str, password: str):
    subprocess.run(["htpasswd", "-Bbc", str(path), user, password], check=True,
                   capture_output=True)


def authenticated_pulls(args, work: Path) -> dict:
    user, password = "puller", "puller-password"
    htpasswd = work / "htpasswd"
    htpasswd_file(htpasswd, user, password)
    htpasswd_auth = f"auth:\n  htpasswd:\n    realm: bench\n    path: {htpasswd}\n"
    local_auth = "auth:\n  local:\n    service: bench\n"
    regs = {
        "distribution": RegistryProcess("distribution", args.berth, work / "distribution",
                                        extra=htpasswd_auth),
        "berth": RegistryProcess("berth", args.berth, work / "berth", extra=htpasswd_auth),
        "berth-teams": RegistryProcess("berth", args.berth, work / "berth-teams",
                                       extra=local_auth),
    }
    figures: dict[str, dict] = {}
    try:
        for reg in regs.values():
            reg.start()
        teams = regs["berth-teams"]
        admin = ("admin", (teams.root / "initial-admin-password").read_text().strip())
        subprocess.run([args.berth, "user", "add", user, "--password-stdin", "--config",
                        str(teams.config)], input=password + "\n", text=True, check=True,
                       capture_output=True)
        api = f"{teams.url}/api/v2.0"
        r = requests.post(f"{api}/projects", auth=admin, json={"project_name": "bench"})
        assert r.status_code == 201, r.text
        r = requests.post(f"{api}/projects/bench/members", auth=admin,
                          json={"role_id": 3, "member_user": {"username": user}})
        assert r.status_code == 201, r.text
        for kind, reg in regs.items():
            owner = admin if kind == "berth-teams" else (user, password)
            push_image(reg, "bench/small", ["latest"], owner)
        for kind, reg in regs.items():
            log(f"authenticated manifest GETs: {kind}")
            got = workloads.load(reg, "/v2/bench/small/manifests/latest", args.seconds, 64,
                                 "GET", (ACCEPT, basic(user, password)))
            for key, value in got.items():
                figures.setdefault(f"auth_manifest_get_{key}", {})[kind] = value
        r = requests.get(f"{api}/audit-logs", auth=admin, params={"page_size": 1})
        figures["audited_pulls"] = {"berth-teams": int(r.headers["X-Total-Count"])}
    finally:
        for reg in regs.values():
            reg.stop()
    return figures


def management_listing(args, work: Path) -> dict:
    reg = RegistryProcess("berth", args.berth, work / "listing",
                          extra="auth:\n  local:\n    service: bench\n").start()
    figures: dict[str, dict] = {}
    try:
        admin = ("admin", (reg.root / "initial-admin-password").read_text().strip())
        user, password = "member", "member-password"
        subprocess.run([args.berth, "user", "add", user, "--password-stdin", "--config",
                        str(reg.config)], input=password + "\n", text=True, check=True,
                       capture_output=True)
        api = f"{reg.url}/api/v2.0"
        log(f"creating {args.projects} projects")
        began = time.perf_counter()

        def create(i: int):
            s = sessions.setdefault(i % 8, requests.Session())
            r = s.post(f"{api}/projects", auth=admin, json={"project_name": f"p{i:05d}"})
            assert r.status_code == 201, r.text
        sessions: dict[int, requests.Session] = {}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.projects)))
        figures["project_create_per_s"] = {
            "berth": args.projects / (time.perf_counter() - began)}
        for i in range(0, args.projects, max(1, args.projects // 20)):
            r = requests.post(f"{api}/projects/p{i:05d}/members", auth=admin,
                              json={"role_id": 3, "member_user": {"username": user}})
            assert r.status_code == 201, r.text
        push_image(reg, "p00000/app", [f"t{i}" for i in range(args.tags)], admin)
        log(f"pushing {args.repositories} repositories")

        def fill(i: int):
            push_image(reg, f"p{i % args.projects:05d}/r{i:05d}", ["v1"], admin)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(fill, range(args.repositories)))
        paths = {
            "projects_page_admin": ("/api/v2.0/projects?page=1&page_size=100", admin),
            "projects_page_member": ("/api/v2.0/projects?page=1&page_size=100", (user, password)),
            "projects_last_page_admin": (
                f"/api/v2.0/projects?page={args.projects // 100}&page_size=100", admin),
            "repositories_page": ("/api/v2.0/projects/p00000/repositories", admin),
            "all_repositories_page_admin": (
                "/api/v2.0/repositories?page=1&page_size=100", admin),
            "all_repositories_page_member": (
                "/api/v2.0/repositories?page=1&page_size=100", (user, password)),
            "search_member": ("/api/v2.0/search?q=r01", (user, password)),
            "project_artifacts_page": (
                "/api/v2.0/projects/p00000/artifacts?page_size=100", admin),
            "artifacts_page": ("/api/v2.0/projects/p00000/repositories/app/artifacts", admin),
        }
        for name, (path, (who, secret)) in paths.items():
            log(f"management listing: {name}")
            got = workloads.load(reg, path, args.seconds, 8, "GET", (basic(who, secret),))
            for key, value in got.items():
                figures[f"{name}_{key}"] = {"berth": value}
    finally:
        reg.stop()
    return figures


def markdown(result: dict, args) -> str:
    f = result["figures"]
    lines = [f"### `{args.command}` ({result['when']})", "",
             f"Machine: {result['machine']}. {args.projects} projects, "
             f"{args.repositories} repositories, {args.tags} tags, "
             f"{args.seconds} s per load.", "",
             "| workload | Distribution | berth (htpasswd) | berth (users, roles, audit) | ratio |",
             "|---|---:|---:|---:|---:|"]
    for key in ("auth_manifest_get_rps", "auth_manifest_get_p99_ms",
                "auth_manifest_get_cpu_us_per_req"):
        v = f[key]
        ratio = v["berth-teams"] / v["distribution"]
        lines.append(f"| {key} | {v['distribution']:.1f} | {v['berth']:.1f} | "
                     f"{v['berth-teams']:.1f} | {ratio:.2f}x |")
    lines.append(f"| audit entries written | | | {f['audited_pulls']['berth-teams']} | |")
    lines += ["", "| management API (8 connections) | req/s | p99 ms |", "|---|---:|---:|"]
    lines.append(f"| create projects (8 clients) | {f['project_create_per_s']['berth']:.0f} | |")
    for name in ("projects_page_admin", "projects_page_member", "projects_last_page_admin",
                 "repositories_page", "all_repositories_page_admin",
                 "all_repositories_page_member", "search_member", "project_artifacts_page",
                 "artifacts_page"):
        lines.append(f"| {name} | {f[name + '_rps']['berth']:.0f} | "
                     f"{f[name + '_p99_ms']['berth']:.1f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--berth", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--projects", type=int, default=10_000)
    p.add_argument("--repositories", type=int, default=2_000)
    p.add_argument("--tags", type=int, default=100)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--workdir", default=None)
    p.add_argument("--command", default="bench/run.sh teams")
    p.add_argument("--markdown", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    workloads.LOADGEN = args.loadgen
    work = Path(tempfile.mkdtemp(prefix="berth-teams-bench-", dir=args.workdir))
    figures = authenticated_pulls(args, work) | management_listing(args, work)
    result = {"when": time.strftime("%Y-%m-%d %H:%M"),
              "machine": f"{platform.machine()}, {subprocess.os.cpu_count()} cores",
              "figures": figures}
    table = markdown(result, args)
    print(table)
    (HERE / "results-teams.json").write_text(json.dumps(result, indent=2) + "\n")
    results_md.record(args.markdown, "Teams runs", table)


if __name__ == "__main__":
    main()
