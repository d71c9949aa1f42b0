"""Moving from CNCF Distribution (registry:2) to berth on the same data directory.

A real Distribution fills a root with skopeo pushes (shared layers, several tags, a moved
tag, a deleted manifest, a multi-platform index, a Docker schema 2 image). berth must then
serve exactly what Distribution served, by reading the tree in place: no blob file moved,
copied or rewritten. `berth import` does the same indexing ahead of time. Distribution must
still serve the tree after berth has.
"""

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

import images as im
from conftest import Registry, berth_bin

pytestmark = pytest.mark.berth_only

MANIFEST_TYPES = ", ".join([im.OCI_MANIFEST, im.OCI_INDEX, im.DOCKER_MANIFEST, im.DOCKER_LIST])
V2 = Path("docker/registry/v2")


@dataclass
class Tree:
    """A registry:2 root written by Distribution, and what Distribution answered about it."""
    root: Path
    catalog: list[str]
    tags: dict[str, list[str]]                  # repo -> sorted tags
    content: dict[str, dict[str, bytes]]        # "repo:tag" -> digest -> bytes (deep)
    digests: dict[str, str]                     # "repo:tag" -> manifest digest
    sources: dict[str, im.Layout]               # "repo:tag" -> the layout pushed there
    deleted: tuple[str, str]                    # (repo, digest) deleted through the API


def fetch_tree(url: str, repo: str, ref: str) -> dict[str, bytes]:
    """Everything a client can pull for `repo:ref`, through plain HTTP: the manifest, index
    children, configs and layers, by digest. Checks every digest on the way."""
    out: dict[str, bytes] = {}
    r = requests.get(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_TYPES},
                     timeout=30)
    assert r.status_code == 200, f"{repo}:{ref}: {r.status_code} {r.text}"
    digest = r.headers["Docker-Content-Digest"]
    assert im.sha256(r.content) == digest
    out[digest] = r.content
    manifest = r.json()
    for child in manifest.get("manifests", []):
        out.update(fetch_tree(url, repo, child["digest"]))
    for desc in [manifest["config"], *manifest["layers"]] if "config" in manifest else []:
        b = requests.get(f"{url}/v2/{repo}/blobs/{desc['digest']}", timeout=30)
        assert b.status_code == 200, f"{repo} {desc['digest']}: {b.status_code}"
        assert len(b.content) == desc["size"] and im.sha256(b.content) == desc["digest"]
        out[desc["digest"]] = b.content
    return out


def answers(url: str) -> tuple[list[str], dict[str, list[str]]]:
    catalog = requests.get(f"{url}/v2/_catalog", timeout=30).json()["repositories"]
    tags = {}
    for repo in catalog:
        body = requests.get(f"{url}/v2/{repo}/tags/list", timeout=30).json()
        tags[repo] = sorted(body["tags"] or [])
    return catalog, tags


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """path (relative) -> (inode, mtime in ns, size) of every file under root/docker."""
    out = {}
    for dirpath, _, files in os.walk(root / "docker"):
        for f in files:
            p = Path(dirpath) / f
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def link_counts(root: Path) -> dict[str, int]:
    """What `berth import` should report, counted straight from the link files."""
    repos = root / V2 / "repositories"
    repo_dirs = {p.parent for p in repos.rglob("_manifests")} | {p.parent for p in repos.rglob("_layers")}
    return {
        "repositories": len(repo_dirs),
        "manifests": len(list(repos.glob("**/_manifests/revisions/sha256/*/link"))),
        "tags": len(list(repos.glob("**/_manifests/tags/*/current/link"))),
        "layers": len(list(repos.glob("**/_layers/sha256/*/link"))),
    }


@pytest.fixture(scope="module")
def distribution_tree(tmp_path_factory) -> Tree:
    """Runs Distribution once for the module and fills its root; tests work on copies."""
    base = tmp_path_factory.mktemp("distribution")
    root = base / "root"
    (base / "server").mkdir()
    dist = Registry(base / "server", kind="distribution", root=root, delete=True).start()
    try:
        src = base / "src"
        shared = im.build_image(src / "base", "base", layers=2)
        base_img = shared.images[0]
        # An image on top of the base's layers: the two share blobs in the blob store.
        derived = im.make_image("derived", layers=1, layer_size=32 * 1024,
                                shared=list(zip(base_img.layers, base_img.diff_ids)))
        app = im.write_layout(src / "app", "app", derived.manifest, [derived], derived.platform)
        other = im.build_image(src / "other", "other", layers=1, busybox=False)
        doomed = im.build_image(src / "doomed", "doomed", layers=1, busybox=False)
        multi = im.build_multiarch(src / "multi", "multi", layers=1, busybox=False)
        legacy = im.build_image(src / "legacy", "legacy", layers=2, busybox=False)

        def push(layout, ref, *extra):
            im.copy(layout.ref, f"docker://{dist.host}/{ref}", *extra)

        push(shared, "team/base:1.0")
        push(shared, "team/base:latest")
        push(other, "team/app:v2")       # v2 is moved to `app` below: the tag has history
        push(app, "team/app:v1")
        push(app, "team/app:v2")
        push(other, "team/app:other")
        push(doomed, "team/app:old")
        push(multi, "team/multi:v1", "--all")
        push(legacy, "legacy/tool:v1", "--format", "v2s2")
        push(shared, "mirror/base:1.0")  # cross-repository mount of every layer

        # Delete the manifest behind `old` through the API (its blob stays on disk).
        im.delete(f"docker://{dist.host}/team/app:old")
        # Uploads Distribution was still receiving when it stopped: one in a repository
        # that exists, one in a repository that has nothing else (not a repository yet).
        for repo in ("team/app", "team/pending"):
            r = requests.post(f"{dist.url}/v2/{repo}/blobs/uploads/", timeout=30)
            r = requests.patch(urljoin(dist.url, r.headers["Location"]), data=b"x" * 1000,
                               headers={"Content-Type": "application/octet-stream"}, timeout=30)
            assert r.status_code == 202

        sources = {"team/base:1.0": shared, "team/base:latest": shared, "team/app:v1": app,
                   "team/app:v2": app, "team/app:other": other, "team/multi:v1": multi,
                   "legacy/tool:v1": legacy, "mirror/base:1.0": shared}
        catalog, tags = answers(dist.url)
        content, digests = {}, {}
        for repo, repo_tags in tags.items():
            for tag in repo_tags:
                content[f"{repo}:{tag}"] = fetch_tree(dist.url, repo, tag)
                digests[f"{repo}:{tag}"] = requests.head(
                    f"{dist.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES},
                    timeout=30).headers["Docker-Content-Digest"]
    finally:
        dist.stop()

    # The pushes landed as expected (this checks the fixture, not berth).
    assert catalog == ["legacy/tool", "mirror/base", "team/app", "team/base", "team/multi"]
    assert tags["team/app"] == ["other", "v1", "v2"]
    assert list((root / V2 / "repositories/team/pending/_uploads").iterdir())
    assert digests["team/app:v2"] == app.digest
    assert digests["legacy/tool:v1"] != legacy.digest  # converted to schema 2 by skopeo
    return Tree(root, catalog, tags, content, digests, sources, ("team/app", doomed.digest))


def copy_tree(tree: Tree, dest: Path) -> Path:
    shutil.copytree(tree.root, dest, symlinks=True)
    return dest


def assert_serves_tree(reg: Registry, tree: Tree):
    catalog, tags = answers(reg.url)
    assert catalog == tree.catalog
    assert tags == tree.tags
    for key, expected in tree.content.items():
        repo, tag = key.split(":")
        assert fetch_tree(reg.url, repo, tag) == expected, key
        head = requests.head(f"{reg.url}/v2/{repo}/manifests/{tag}",
                             headers={"Accept": MANIFEST_TYPES}, timeout=30)
        assert head.headers["Docker-Content-Digest"] == tree.digests[key]
    repo, digest = tree.deleted
    gone = requests.get(f"{reg.url}/v2/{repo}/manifests/{digest}",
                        headers={"Accept": MANIFEST_TYPES}, timeout=30)
    assert gone.status_code == 404


def test_berth_serves_distribution_root_in_place(make_registry, distribution_tree, workdir):
    tree = distribution_tree
    root = copy_tree(tree, workdir / "root")
    before = snapshot(root)
    blobs_before = {p for p in before if p.startswith(str(V2 / "blobs"))}
    assert len(blobs_before) > 10

    reg = make_registry(kind="berth", root=root)
    assert "imported existing registry:2 data" in reg.log()
    assert (root / "berth" / "metadata.db").is_file()
    assert_serves_tree(reg, tree)
    # Every repository is in a project: its first path component's (private, so only
    # system administrators reach it until members are added).
    projects = requests.get(f"{reg.url}/api/v2.0/projects?page_size=100", timeout=30).json()
    assert sorted(p["name"] for p in projects) == sorted({r.split("/")[0] for r in tree.catalog})
    assert all(p["metadata"]["public"] == "false" and p["repo_count"] > 0 for p in projects)

    # skopeo pulls every tag byte for byte as pushed to Distribution.
    (workdir / "pull").mkdir()
    for key, layout in tree.sources.items():
        if key == "legacy/tool:v1":
            continue  # converted on push; compared through fetch_tree above
        dest = workdir / "pull" / key.replace("/", "_").replace(":", "_")
        extra = ["--all"] if layout.top.media_type == im.OCI_INDEX else []
        im.copy(f"docker://{reg.host}/{key}", f"oci:{dest}:t", *extra)
        manifest, _ = im.layout_manifest(dest, "t")
        assert manifest == layout.top.data, key
        pulled = im.layout_blobs(dest)
        for digest, data in layout.all_blobs().items():
            assert pulled[digest] == data, (key, digest)
    im.copy(f"docker://{reg.host}/legacy/tool:v1", f"dir:{workdir / 'legacy'}")
    assert im.dir_blobs(workdir / "legacy").items() <= tree.content["legacy/tool:v1"].items()

    # Nothing Distribution wrote was touched: same inode, mtime and size for every file,
    # and no new file anywhere under docker/ except berth's own upload area.
    after = snapshot(root)
    changed = {p: (before[p], after.get(p)) for p in before if after.get(p) != before[p]}
    assert not changed, changed
    new = [p for p in after if p not in before]
    assert all(p.startswith(str(V2 / "_berth")) for p in new), new

    # A restart does not import again, and still serves everything.
    reg.restart()
    assert reg.log().count("imported existing registry:2 data") == 1
    assert_serves_tree(reg, tree)
    assert snapshot(root).items() >= before.items()

    # Imported repositories take new pushes, and their layers mount into new ones.
    extra = im.build_image(workdir / "extra", "extra", busybox=False)
    im.copy(extra.ref, f"docker://{reg.host}/team/app:extra")
    im.copy(f"docker://{reg.host}/team/base:1.0", f"docker://{reg.host}/team/copy:1.0")
    assert im.inspect_raw(f"docker://{reg.host}/team/copy:1.0") == \
        tree.sources["team/base:1.0"].top.data
    tags = requests.get(f"{reg.url}/v2/team/app/tags/list", timeout=30).json()["tags"]
    assert sorted(tags) == sorted([*tree.tags["team/app"], "extra"])
    assert fetch_tree(reg.url, "team/copy", "1.0") == tree.content["team/base:1.0"]
    # Old files are still untouched after all that.
    assert snapshot(root).items() >= before.items()


def test_berth_import_cli(make_registry, distribution_tree, workdir):
    tree = distribution_tree
    root = copy_tree(tree, workdir / "root")
    before = snapshot(root)
    expected = link_counts(root)
    assert expected["repositories"] == len(tree.catalog)

    run = subprocess.run([berth_bin(), "import", str(root)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    summary = (f"imported {expected['repositories']} repositories, {expected['manifests']} "
               f"manifests, {expected['tags']} tags, {expected['layers']} layer links "
               f"(0 warnings)")
    assert summary in run.stdout, run.stdout
    assert str(root / "berth" / "metadata.db") in run.stdout
    assert "warning" not in run.stderr
    assert snapshot(root) == before

    # Running it again is harmless and finds the same.
    again = subprocess.run([berth_bin(), "import", str(root)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and summary in again.stdout

    # `serve` sees the import is done and does not walk the tree again.
    reg = make_registry(kind="berth", root=root)
    assert "importing registry:2 metadata" not in reg.log()
    assert_serves_tree(reg, tree)


def test_berth_import_after_distribution_garbage_collect(make_registry, distribution_tree,
                                                        workdir):
    """`registry garbage-collect` deletes unreferenced blobs but leaves the repositories'
    layer links to them: berth warns about each and imports the rest."""
    tree = distribution_tree
    root = copy_tree(tree, workdir / "root")
    (workdir / "gc").mkdir()
    config = Registry(workdir / "gc", kind="distribution", root=root).config_path
    gc = subprocess.run(["docker-registry", "garbage-collect", str(config)],
                        capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0, gc.stderr
    links = [p for p in (root / V2 / "repositories").glob("**/_layers/sha256/*/link")]
    dangling = sorted(p.read_text().strip() for p in links
                      if not (root / V2 / "blobs/sha256" / p.parent.name[:2] / p.parent.name
                              / "data").is_file())
    assert dangling, "garbage-collect removed nothing; the fixture should leave garbage"
    expected = link_counts(root)

    run = subprocess.run([berth_bin(), "import", str(root)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    for digest in dangling:
        assert f"layer {digest} is linked but its blob is missing" in run.stderr, run.stderr
    assert (f"{expected['layers'] - len(dangling)} layer links ({len(dangling)} warnings)"
            in run.stdout), run.stdout

    reg = make_registry(kind="berth", root=root)
    assert_serves_tree(reg, tree)


def test_berth_import_to_other_metadata_path(distribution_tree, workdir):
    root = copy_tree(distribution_tree, workdir / "root")
    db = workdir / "elsewhere" / "meta.db"
    run = subprocess.run([berth_bin(), "import", str(root), "--metadata", str(db)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert db.is_file() and str(db) in run.stdout
    assert not (root / "berth").exists()


@pytest.mark.parametrize("what", ["empty", "missing", "file"])
def test_berth_import_without_registry_data_fails(workdir, what):
    target = workdir / "target"
    if what == "empty":
        target.mkdir()
    elif what == "file":
        target.write_text("not a registry")
    run = subprocess.run([berth_bin(), "import", str(target)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0
    assert "holds no registry:2 data" in run.stderr, run.stderr
    assert str(target) in run.stderr
    assert "imported" not in run.stdout
    # Nothing was created in a directory that is not a registry.
    if what == "empty":
        assert list(target.iterdir()) == []


def test_distribution_still_serves_after_berth(make_registry, distribution_tree, workdir):
    tree = distribution_tree
    root = copy_tree(tree, workdir / "root")
    berth = make_registry(kind="berth", root=root)
    assert_serves_tree(berth, tree)
    berth.stop()
    assert (root / V2 / "_berth").is_dir() and (root / "berth").is_dir()

    dist = make_registry(kind="distribution", root=root)
    assert_serves_tree(dist, tree)
    # And Distribution still accepts pushes to the tree.
    extra = im.build_image(workdir / "extra", "extra", busybox=False)
    im.copy(extra.ref, f"docker://{dist.host}/team/app:extra")
    assert im.inspect_raw(f"docker://{dist.host}/team/app:extra") == extra.top.data


def clone_repository(v2: Path, source: str, names: list[str]):
    """New repositories with the same link files as `source` (what cross-repository
    mounts produce in Distribution): the blobs are shared, only links are written."""
    src = v2 / "repositories" / source
    links = [(link.relative_to(src), link.read_bytes()) for link in src.rglob("link")]
    for name in names:
        for rel, content in links:
            target = v2 / "repositories" / name / rel
            os.makedirs(target.parent, exist_ok=True)
            target.write_bytes(content)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def catalog_all(url: str) -> list[str]:
    names, path = [], "/v2/_catalog?n=1000"
    while path:
        r = requests.get(url + path, timeout=30)
        assert r.status_code == 200
        names += r.json()["repositories"]
        link = r.headers.get("Link")
        path = link.split(";")[0].strip("<> ") if link else None
    return names


def test_kill_during_first_start_import(distribution_tree, workdir):
    """berth dies while indexing a registry:2 tree on first start; the next start indexes
    it again and serves everything."""
    tree = distribution_tree
    root = copy_tree(tree, workdir / "root")
    v2 = root / V2
    bulk = [f"bulk/app{i:04d}" for i in range(400)]
    clone_repository(v2, "team/base", bulk)
    (workdir / "server").mkdir()
    reg = Registry(workdir / "server", kind="berth", root=root)
    wal = root / "berth" / "metadata.db-wal"
    try:
        log = open(reg.log_path, "ab")
        reg.proc = subprocess.Popen(reg.command(), stdout=log, stderr=subprocess.STDOUT,
                                    env=reg.env, cwd=reg.workdir)
        # Kill once the import has committed some repositories (the write-ahead log
        # grows with each) but not all of them.
        deadline = time.monotonic() + 30
        started_at = None
        while started_at is None or file_size(wal) < started_at + 64 * 1024:
            assert reg.proc.poll() is None, reg.log()
            assert time.monotonic() < deadline, "the import never got going"
            if started_at is None and "importing registry:2 metadata" in reg.log():
                started_at = file_size(wal)
            time.sleep(0.001)
        reg.kill()
        log.close()
        assert "imported existing registry:2 data" not in reg.log(), \
            "the import finished before the kill; make the tree bigger"

        reg.start(timeout=120)
        assert reg.log().count("importing registry:2 metadata") == 2
        assert "imported existing registry:2 data" in reg.log()
        assert catalog_all(reg.url) == sorted([*tree.catalog, *bulk])
        base = tree.content["team/base:1.0"]
        for name in (bulk[0], bulk[len(bulk) // 2], bulk[-1]):
            assert fetch_tree(reg.url, name, "1.0") == base
        assert_serves_tree_subset(reg, tree)
    finally:
        reg.stop()


def assert_serves_tree_subset(reg: Registry, tree: Tree):
    """Every tag of the original tree, as Distribution served it."""
    for key, expected in tree.content.items():
        repo, tag = key.split(":")
        assert fetch_tree(reg.url, repo, tag) == expected, key


def blob_files(root: Path) -> set[str]:
    return {p.parent.name for p in (root / V2 / "blobs/sha256").glob("*/*/data")}


def test_berth_gc_removes_what_registry_garbage_collect_removes(make_registry,
                                                                distribution_tree, workdir):
    """On copies of the same registry:2 tree, berth's online collection and Distribution's
    offline `garbage-collect` keep exactly the same blobs; berth keeps serving everything.
    A blob whose layer link was deleted (`DELETE /v2/<repo>/blobs/<digest>` on registry:2)
    but that a manifest still references keeps its bytes in both."""
    tree = distribution_tree
    unlinked = None
    roots = {}
    for kind in ("distribution", "berth"):
        roots[kind] = copy_tree(tree, workdir / f"{kind}-root")
        # A blob of legacy/tool's image, which no other repository links.
        links = sorted((roots[kind] / V2 / "repositories/legacy/tool/_layers/sha256").iterdir())
        unlinked = links[0].name
        shutil.rmtree(links[0])
    (workdir / "dist-gc").mkdir()
    config = Registry(workdir / "dist-gc", kind="distribution",
                      root=roots["distribution"]).config_path
    run = subprocess.run(["docker-registry", "garbage-collect", str(config)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr

    reg = make_registry(kind="berth", root=roots["berth"])
    before = blob_files(roots["berth"])
    # The deleted manifest's own bytes: registry:2 left them, no repository holds them.
    dry = subprocess.run([berth_bin(), "gc", "--dry-run", "--grace", "0s",
                          str(reg.config_path)],
                         capture_output=True, text=True, timeout=120, env=reg.env)
    assert dry.returncode == 0, dry.stderr
    assert "would remove 1 stored blobs no repository holds" in dry.stdout, dry.stdout
    assert blob_files(roots["berth"]) == before
    run = subprocess.run([berth_bin(), "gc", "--quiet", "--grace", "0s", str(reg.config_path)],
                         capture_output=True, text=True, timeout=120, env=reg.env)
    assert run.returncode == 0, run.stderr
    assert blob_files(roots["berth"]) == blob_files(roots["distribution"])
    assert unlinked in blob_files(roots["berth"])
    assert tree.deleted[1].split(":")[1] not in blob_files(roots["berth"])
    # Everything else is still served in full (legacy/tool lacks the unlinked blob, a 404
    # on registry:2 too).
    for key, expected in tree.content.items():
        repo, tag = key.split(":")
        if repo != "legacy/tool":
            assert fetch_tree(reg.url, repo, tag) == expected, key
