"""skopeo (containers/image, the library behind podman and buildah) against the registry:
push OCI layouts, read manifests back byte for byte, multi-platform indexes with --all,
copies between repositories (cross-repository mounts), deletes, tag listing, and Docker
schema 2 images through docker-archive tarballs.

Runs against Distribution too (REGISTRY_TARGET=distribution)."""

import gzip
import json
import re
import tarfile

import pytest
import requests

import images as im
from images import SkopeoError


def docker_ref(reg, name: str) -> str:
    return f"docker://{reg.host}/{name}"


def upload_requests(reg, repo: str) -> dict[str, int]:
    """Counts, from the registry's log, the blob-upload requests sent to `repo`: chunks
    (PATCH), and POSTs answered 201 without a body upload (cross-repository mounts).
    Understands berth's access log and Distribution's combined log."""
    log = reg.log()
    uploads = f"/v2/{repo}/blobs/uploads/"
    if reg.kind == "distribution":
        patches = re.findall(rf'"PATCH {re.escape(uploads)}[^"]*" \d+', log)
        mounts = re.findall(rf'"POST {re.escape(uploads)}\?[^"]*mount=[^"]*" 201', log)
    else:
        patches = re.findall(rf'method=PATCH path="{re.escape(uploads)}[^"]*" status=\d+', log)
        mounts = re.findall(rf'method=POST path="{re.escape(uploads)}" status=201', log)
    return {"patch": len(patches), "mount": len(mounts)}


def test_push_inspect_and_pull_back_byte_identical(registry, workdir):
    layout = im.build_image(workdir / "src", "v1", layers=3)
    ref = docker_ref(registry, "team/app:v1")
    out = im.copy(layout.ref, ref)
    assert "Writing manifest" in out.stderr + out.stdout

    # The manifest comes back exactly as pushed, so its digest is unchanged.
    raw = im.inspect_raw(ref)
    assert raw == layout.top.data
    assert im.sha256(raw) == layout.digest
    assert im.inspect_raw(ref, config=True) == layout.images[0].config.data
    info = im.inspect(ref)
    assert info["Digest"] == layout.digest
    assert info["Layers"] == [b.digest for b in layout.images[0].layers]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Labels"] == {"berth.test.seed": "v1"}

    # The registry's own answer agrees with skopeo's.
    r = requests.get(f"{registry.url}/v2/team/app/manifests/v1",
                     headers={"Accept": im.OCI_MANIFEST}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == layout.digest
    assert r.content == layout.top.data

    # Back into an OCI layout: same manifest, same blobs.
    im.copy(ref, f"oci:{workdir / 'back'}:v1")
    manifest, entry = im.layout_manifest(workdir / "back", "v1")
    assert manifest == layout.top.data and entry["digest"] == layout.digest
    back = im.layout_blobs(workdir / "back")
    for digest, data in layout.all_blobs().items():
        assert back[digest] == data, digest

    # And into a plain directory.
    im.copy(ref, f"dir:{workdir / 'dir'}")
    assert (workdir / "dir" / "manifest.json").read_bytes() == layout.top.data
    plain = im.dir_blobs(workdir / "dir")
    assert plain == layout.all_blobs()

    # A second push of the same image uploads nothing and changes nothing.
    uploads = upload_requests(registry, "team/app")["patch"]
    im.copy(layout.ref, ref)
    assert upload_requests(registry, "team/app")["patch"] == uploads
    assert im.inspect_raw(ref) == layout.top.data


def test_multi_arch_index_with_all(registry, workdir):
    layout = im.build_multiarch(workdir / "src", "multi", layers=2)
    ref = docker_ref(registry, "team/multi:v1")
    im.copy(layout.ref, ref, "--all")

    raw = im.inspect_raw(ref)
    assert raw == layout.top.data
    assert json.loads(raw)["mediaType"] == im.OCI_INDEX
    for img in layout.images:
        by_digest = docker_ref(registry, f"team/multi@{img.digest}")
        assert im.inspect_raw(by_digest) == img.manifest.data

    # The whole index back: every manifest and blob identical.
    im.copy(ref, f"oci:{workdir / 'all'}:multi", "--all")
    manifest, _ = im.layout_manifest(workdir / "all", "multi")
    assert manifest == layout.top.data
    back = im.layout_blobs(workdir / "all")
    for img in layout.images:
        assert back[img.digest] == img.manifest.data
        for blob in img.blobs():
            assert back[blob.digest] == blob.data

    # Each platform on its own, as a client on that platform would pull it.
    for img in layout.images:
        arch = img.platform["architecture"]
        dest = workdir / f"dir-{arch}"
        im.copy(ref, f"dir:{dest}", "--override-arch", arch, "--override-os", "linux")
        assert (dest / "manifest.json").read_bytes() == img.manifest.data
        assert im.dir_blobs(dest) == {b.digest: b.data for b in img.blobs()}
        config = json.loads((dest / img.config.digest.split(":")[1]).read_bytes())
        assert config["architecture"] == arch


def test_docker_manifest_list(registry, workdir):
    """An OCI index converted by skopeo into a Docker manifest list on the way in."""
    layout = im.build_multiarch(workdir / "src", "list", layers=1, busybox=False)
    ref = docker_ref(registry, "team/list:v1")
    im.copy(layout.ref, ref, "--all", "--format", "v2s2")
    listing = json.loads(im.inspect_raw(ref))
    assert listing["mediaType"] == im.DOCKER_LIST
    platforms = {m["platform"]["architecture"]: m for m in listing["manifests"]}
    assert set(platforms) == {"amd64", "arm64"}
    assert {m["mediaType"] for m in listing["manifests"]} == {im.DOCKER_MANIFEST}

    # A client that takes only single manifests gets the linux/amd64 entry.
    r = requests.get(f"{registry.url}/v2/team/list/manifests/v1",
                     headers={"Accept": im.DOCKER_MANIFEST}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == im.DOCKER_MANIFEST
    assert r.headers["Docker-Content-Digest"] == platforms["amd64"]["digest"]
    # One that takes lists gets the list as stored.
    r = requests.get(f"{registry.url}/v2/team/list/manifests/v1",
                     headers={"Accept": f"{im.DOCKER_LIST}, {im.DOCKER_MANIFEST}"}, timeout=10)
    assert r.headers["Content-Type"] == im.DOCKER_LIST
    assert r.content == im.inspect_raw(ref)

    for img in layout.images:
        arch = img.platform["architecture"]
        dest = workdir / f"dir-{arch}"
        im.copy(ref, f"dir:{dest}", "--override-arch", arch, "--override-os", "linux")
        manifest = json.loads((dest / "manifest.json").read_bytes())
        assert im.sha256((dest / "manifest.json").read_bytes()) == platforms[arch]["digest"]
        assert [l["digest"] for l in manifest["layers"]] == [b.digest for b in img.layers]
        pulled = im.dir_blobs(dest)
        for blob in img.layers:
            assert pulled[blob.digest] == blob.data


def test_copy_between_repositories_mounts_layers(registry, workdir):
    layout = im.build_image(workdir / "src", "v1", layers=3)
    im.copy(layout.ref, docker_ref(registry, "team/app:v1"))
    before = upload_requests(registry, "other/app")
    assert before == {"patch": 0, "mount": 0}

    im.copy(docker_ref(registry, "team/app:v1"), docker_ref(registry, "other/app:v1"))

    # skopeo knows from its blob-info cache that the layers are in team/app on this
    # registry and asks for mounts; only the config is uploaded again.
    counts = upload_requests(registry, "other/app")
    layers = layout.images[0].layers
    assert counts["mount"] == len(layers), registry.log()[-4000:]
    assert counts["patch"] <= 1, counts
    assert im.inspect_raw(docker_ref(registry, "other/app:v1")) == layout.top.data
    for blob in layout.images[0].blobs():
        r = requests.get(f"{registry.url}/v2/other/app/blobs/{blob.digest}", timeout=10)
        assert r.status_code == 200 and r.content == blob.data
    im.copy(docker_ref(registry, "other/app:v1"), f"dir:{workdir / 'dir'}")
    assert im.dir_blobs(workdir / "dir") == layout.all_blobs()

    catalog = requests.get(f"{registry.url}/v2/_catalog", timeout=10).json()
    assert {"team/app", "other/app"} <= set(catalog["repositories"])


def test_delete(registry, workdir):
    one = im.build_image(workdir / "one", "v1", seed="one")
    two = im.build_image(workdir / "two", "v2", seed="two")
    for tag, layout in (("v1", one), ("also-v1", one), ("v2", two), ("v3", two)):
        im.copy(layout.ref, docker_ref(registry, f"team/app:{tag}"))
    assert sorted(im.list_tags(docker_ref(registry, "team/app"))) == ["also-v1", "v1", "v2", "v3"]

    # skopeo deletes by digest: the manifest goes, and with it every tag naming it.
    im.delete(docker_ref(registry, "team/app:v1"))
    for gone in ("v1", "also-v1"):
        with pytest.raises(SkopeoError) as err:
            im.inspect_raw(docker_ref(registry, f"team/app:{gone}"))
        assert "manifest unknown" in err.value.stderr.lower()
    with pytest.raises(SkopeoError):
        im.inspect_raw(docker_ref(registry, f"team/app@{one.digest}"))
    assert sorted(im.list_tags(docker_ref(registry, "team/app"))) == ["v2", "v3"]
    assert im.inspect_raw(docker_ref(registry, "team/app:v2")) == two.top.data

    # By digest reference.
    im.delete(docker_ref(registry, f"team/app@{two.digest}"))
    assert im.list_tags(docker_ref(registry, "team/app")) == []
    with pytest.raises(SkopeoError):
        im.inspect_raw(docker_ref(registry, "team/app:v3"))

    # Deleting what is not there fails.
    missing = im.delete(docker_ref(registry, "team/app:v2"), check=False)
    assert missing.returncode != 0


def test_delete_refused_when_disabled(make_registry, workdir):
    reg = make_registry(delete=False)
    layout = im.build_image(workdir / "src", "v1")
    ref = docker_ref(reg, "team/app:v1")
    im.copy(layout.ref, ref)
    refused = im.delete(ref, check=False)
    assert refused.returncode != 0
    assert "unsupported" in refused.stderr.lower() or "405" in refused.stderr
    assert im.inspect_raw(ref) == layout.top.data


def test_list_tags(registry, workdir):
    layout = im.build_image(workdir / "src", "latest")
    tags = ["latest", "v1", "v1.0", "v1.0.1", "V2-rc_1", "_private", "a" * 128, "1", "10", "2"]
    for tag in tags:
        im.copy(layout.ref, docker_ref(registry, f"team/app:{tag}"))
    listed = im.list_tags(docker_ref(registry, "team/app"))
    assert sorted(listed) == sorted(tags)
    body = requests.get(f"{registry.url}/v2/team/app/tags/list", timeout=10).json()
    assert body["name"] == "team/app" and sorted(body["tags"]) == sorted(tags)
    if registry.kind == "berth":
        # berth answers in lexical order (docs/api.md); Distribution 2.8 in directory order.
        assert body["tags"] == sorted(tags)

    with pytest.raises(SkopeoError) as err:
        im.list_tags(docker_ref(registry, "team/nothing"))
    assert "404" in err.value.stderr
    r = requests.get(f"{registry.url}/v2/team/nothing/tags/list", timeout=10)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def _archive(path):
    """manifest.json of a docker-archive tarball and a reader for its members."""
    tar = tarfile.open(path)
    manifest = json.load(tar.extractfile("manifest.json"))
    return tar, manifest


def test_docker_schema2_and_docker_archive(registry, workdir):
    layout = im.build_image(workdir / "src", "v1", layers=2)
    img = layout.images[0]
    ref = docker_ref(registry, "team/v2s2:v1")
    im.copy(layout.ref, ref, "--format", "v2s2")

    manifest = json.loads(im.inspect_raw(ref))
    assert manifest["mediaType"] == im.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == im.DOCKER_CONFIG
    # The compressed layers are reused as they are; only their media type changes.
    assert [l["digest"] for l in manifest["layers"]] == [b.digest for b in img.layers]
    assert {l["mediaType"] for l in manifest["layers"]} == {im.DOCKER_LAYER_GZIP}
    r = requests.get(f"{registry.url}/v2/team/v2s2/manifests/v1",
                     headers={"Accept": im.DOCKER_MANIFEST}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == im.DOCKER_MANIFEST
    config = json.loads(im.inspect_raw(ref, config=True))
    assert config["rootfs"]["diff_ids"] == img.diff_ids

    # Pull into a docker-archive tarball (what `docker save` writes): uncompressed layers
    # whose digests are the diff IDs.
    archive = workdir / "image.tar"
    im.copy(ref, f"docker-archive:{archive}:team/v2s2:v1")
    tar, entries = _archive(archive)
    assert len(entries) == 1 and entries[0]["RepoTags"] == ["docker.io/team/v2s2:v1"]
    assert len(entries[0]["Layers"]) == len(img.layers)
    for member, blob in zip(entries[0]["Layers"], img.layers):
        assert tar.extractfile(member).read() == gzip.decompress(blob.data)
    archived_config = json.load(tar.extractfile(entries[0]["Config"]))
    assert archived_config["rootfs"]["diff_ids"] == img.diff_ids
    tar.close()

    # Push the tarball: skopeo compresses the layers itself, so the digests differ, but
    # the content (diff IDs) and the manifest type are the same.
    ref2 = docker_ref(registry, "team/fromarchive:v1")
    im.copy(f"docker-archive:{archive}", ref2)
    manifest2 = json.loads(im.inspect_raw(ref2))
    assert manifest2["mediaType"] == im.DOCKER_MANIFEST
    assert len(manifest2["layers"]) == len(img.layers)
    config2 = json.loads(im.inspect_raw(ref2, config=True))
    assert config2["rootfs"]["diff_ids"] == img.diff_ids
    im.copy(ref2, f"dir:{workdir / 'dir2'}")
    pulled = im.dir_blobs(workdir / "dir2")
    for layer in manifest2["layers"]:
        raw = gzip.decompress(pulled[layer["digest"]])
        assert im.sha256(raw) in img.diff_ids
