"""Benchmark content: incompressible files, OCI image layouts for skopeo, and registry:2
storage trees written straight to disk (so 20,000 repositories need no 20,000 pushes)."""

import hashlib
import json
import os
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

CHUNK = 8 << 20


def random_file(path: Path, size: int) -> str:
    """Writes `size` random bytes to `path`; returns the sha256 digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, digest: str, size: int) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size}


def config_blob(label: str) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "config": {"Labels": {"bench": label}},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def image_manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, sha256(config), len(config)),
        "layers": [descriptor(OCI_LAYER, d, s) for d, s in layers],
    }, indent=2).encode()


class OciLayout:
    """An OCI image layout directory (what `skopeo copy oci:DIR:TAG` reads)."""

    def __init__(self, path: Path):
        self.path = path
        self.blobs = path / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def add_bytes(self, data: bytes) -> str:
        digest = sha256(data)
        (self.blobs / digest.split(":")[1]).write_bytes(data)
        return digest

    def add_random(self, size: int) -> str:
        tmp = self.blobs / "incoming"
        digest = random_file(tmp, size)
        tmp.rename(self.blobs / digest.split(":")[1])
        return digest

    def finish(self, tag: str, config: bytes, layers: list[tuple[str, int]]) -> str:
        self.add_bytes(config)
        manifest = image_manifest(config, layers)
        digest = self.add_bytes(manifest)
        index = {"schemaVersion": 2, "manifests": [
            dict(descriptor(OCI_MANIFEST, digest, len(manifest)),
                 annotations={"org.opencontainers.image.ref.name": tag})]}
        (self.path / "index.json").write_text(json.dumps(index))
        return f"oci:{self.path}:{tag}"


def image_layout(path: Path, layer_sizes: list[int], tag: str = "latest") -> str:
    """A layout whose layers are random bytes of the given sizes; returns the skopeo ref."""
    layout = OciLayout(path)
    layers = [(layout.add_random(size), size) for size in layer_sizes]
    return layout.finish(tag, config_blob(str(path)), layers)


class DistributionTree:
    """Writes repositories, manifests, tags and blobs in registry:2's on-disk layout."""

    def __init__(self, root: Path):
        self.v2 = root / "docker" / "registry" / "v2"

    def _blob(self, data: bytes) -> str:
        digest = sha256(data)
        hex_ = digest.split(":")[1]
        path = self.v2 / "blobs" / "sha256" / hex_[:2] / hex_ / "data"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return digest

    @staticmethod
    def _link(path: Path, digest: str):
        path.mkdir(parents=True, exist_ok=True)
        (path / "link").write_text(digest)

    def add_image(self, repo: str, tags: list[str], layers: list[bytes]) -> str:
        """One image (config + layers + manifest) in `repo` under each tag; returns the
        manifest digest."""
        repo_dir = self.v2 / "repositories" / repo
        config = config_blob(repo)
        layer_descs = []
        for data in [config, *layers]:
            digest = self._blob(data)
            self._link(repo_dir / "_layers" / "sha256" / digest.split(":")[1], digest)
            if data is not config:
                layer_descs.append((digest, len(data)))
        manifest = image_manifest(config, layer_descs)
        digest = self._blob(manifest)
        hex_ = digest.split(":")[1]
        self._link(repo_dir / "_manifests" / "revisions" / "sha256" / hex_, digest)
        for tag in tags:
            tag_dir = repo_dir / "_manifests" / "tags" / tag
            self._link(tag_dir / "current", digest)
            self._link(tag_dir / "index" / "sha256" / hex_, digest)
        return digest


def catalog_tree(root: Path, repositories: int, blobs_per_repo: int, tags_repo_tags: int):
    """`repositories` repositories with one tagged image each, made of `blobs_per_repo`
    distinct blobs (config, layers, manifest), plus `bench/tags` with `tags_repo_tags`
    tags on one image."""
    tree = DistributionTree(root)
    layers_per_image = max(blobs_per_repo - 2, 1)
    for i in range(repositories):
        repo = f"team{i % 100:02d}/app{i:06d}"
        layers = [f"{repo} layer {j}".encode() * 8 for j in range(layers_per_image)]
        tree.add_image(repo, ["latest"], layers)
    tags = [f"v{i:05d}" for i in range(tags_repo_tags)]
    tree.add_image("bench/tags", tags, [b"tags layer"])
