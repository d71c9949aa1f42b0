"""Test images made from nothing: OCI image layouts written by hand in Python (gzip'd tar
layers, config, manifest, index.json, oci-layout), plus a thin wrapper around skopeo.

An OCI layout directory written here is usable as `oci:DIR:TAG` by skopeo. Every byte is
derived from a seed, so two calls with the same arguments produce the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

OCI_LAYOUT = "application/vnd.oci.image.layout.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass
class Image:
    """One platform image: its config, layers (compressed) and manifest."""
    config: Blob
    layers: list[Blob]
    diff_ids: list[str]
    manifest: Blob
    platform: dict

    @property
    def digest(self) -> str:
        return self.manifest.digest

    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


@dataclass
class Layout:
    """An OCI image layout on disk and what was written into it."""
    path: Path
    tag: str
    top: Blob                      # what index.json's entry for `tag` points at
    images: list[Image] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The skopeo transport reference, `oci:DIR:TAG`."""
        return f"oci:{self.path}:{self.tag}"

    @property
    def digest(self) -> str:
        return self.top.digest

    def all_blobs(self) -> dict[str, bytes]:
        """digest -> bytes of every config and layer."""
        return {b.digest: b.data for img in self.images for b in img.blobs()}


# ---------------------------------------------------------------------------- layers

def tar_bytes(files: dict[str, bytes], mode: int = 0o755) -> bytes:
    """A reproducible uncompressed tar: fixed mtime, root owner, sorted entries, with the
    parent directories of every file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in files if str(Path(p).parent) != "."})
        seen = set()
        for d in dirs:
            parts = Path(d).parts
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub in seen:
                    continue
                seen.add(sub)
                info = tarfile.TarInfo(sub)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = 1_700_000_000
                tar.addfile(info)
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0 and no file name: the same input always compresses to the same bytes.
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def make_layer(files: dict[str, bytes], media_type: str = OCI_LAYER_GZIP) -> tuple[Blob, str]:
    """A gzip'd tar layer and its diff ID (digest of the uncompressed tar)."""
    raw = tar_bytes(files)
    return Blob(media_type, gzip_bytes(raw)), sha256(raw)


def random_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def layer_files(seed: str, index: int, size: int, busybox: bool) -> dict[str, bytes]:
    """Layer 0 carries busybox (when asked) so the image is runnable; every layer carries
    a file of seeded random bytes, so layers of different seeds never collide."""
    files = {f"data/{seed}-{index}.bin": random_bytes(f"{seed}/{index}", size)}
    if busybox and index == 0:
        files["bin/busybox"] = BUSYBOX.read_bytes()
    return files


# ---------------------------------------------------------------------------- images

def make_image(seed: str, layers: int = 1, layer_size: int = 64 * 1024, busybox: bool = True,
               arch: str = "amd64", shared: list[tuple[Blob, str]] | None = None) -> Image:
    """An image of `layers` own layers, after the `shared` ones (layer, diff ID) if any."""
    built = list(shared or [])
    for i in range(layers):
        built.append(make_layer(layer_files(seed, i, layer_size, busybox and not shared)))
    platform = {"architecture": arch, "os": "linux"}
    config = {
        "created": "2024-01-01T00:00:00Z",
        **platform,
        "config": {"Cmd": ["/bin/busybox", "sh"], "Env": ["PATH=/bin"],
                   "Labels": {"berth.test.seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in built]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"images.py {seed} {i}"}
                    for i in range(len(built))],
    }
    config_blob = Blob(OCI_CONFIG, canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b, _ in built],
        "annotations": {"org.opencontainers.image.title": seed},
    }
    manifest_blob = Blob(manifest["mediaType"], json.dumps(manifest, indent=2).encode())
    return Image(config_blob, [b for b, _ in built], [d for _, d in built], manifest_blob,
                 platform)


def write_blob(root: Path, blob: Blob):
    alg, hex_ = blob.digest.split(":")
    path = root / "blobs" / alg / hex_
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob.data)


def write_layout(path: Path, tag: str, top: Blob, images: list[Image],
                 platform: dict | None = None) -> Layout:
    """Writes blobs, `oci-layout` and an `index.json` naming `top` as `tag`. Adds to an
    existing layout: other tags already in index.json are kept."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    for img in images:
        for b in (*img.blobs(), img.manifest):
            write_blob(path, b)
    write_blob(path, top)
    index_path = path / "index.json"
    index = (json.loads(index_path.read_text()) if index_path.exists()
             else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    ref = "org.opencontainers.image.ref.name"
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(ref) != tag]
    entry = top.descriptor(annotations={ref: tag})
    if platform:
        entry["platform"] = platform
    index["manifests"].append(entry)
    index_path.write_text(json.dumps(index, indent=2))
    return Layout(path, tag, top, images)


def build_image(path: Path, tag: str = "latest", seed: str | None = None, **kwargs) -> Layout:
    """A single-platform OCI layout at `path` (see make_image for the options)."""
    img = make_image(seed or tag, **kwargs)
    return write_layout(path, tag, img.manifest, [img], img.platform)


def build_multiarch(path: Path, tag: str = "latest", seed: str | None = None,
                    archs: tuple[str, ...] = ("amd64", "arm64"), **kwargs) -> Layout:
    """An OCI index with one image per architecture (each with its own layers)."""
    seed = seed or tag
    images = [make_image(f"{seed}-{arch}", arch=arch, **kwargs) for arch in archs]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [img.manifest.descriptor(platform=img.platform) for img in images],
    }
    top = Blob(OCI_INDEX, json.dumps(index, indent=2).encode())
    return write_layout(path, tag, top, images)


def read_layout_blob(path: Path, digest: str) -> bytes:
    alg, hex_ = digest.split(":")
    return (path / "blobs" / alg / hex_).read_bytes()


def layout_manifest(path: Path, tag: str | None = None) -> tuple[bytes, dict]:
    """The raw bytes and the index.json entry of the manifest tagged `tag` (or the only
    one) in an OCI layout written by anyone (e.g. skopeo)."""
    index = json.loads((path / "index.json").read_text())
    entries = index["manifests"]
    if tag is not None:
        entries = [m for m in entries
                   if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(entries) == 1, f"expected one manifest for {tag!r} in {index}"
    return read_layout_blob(path, entries[0]["digest"]), entries[0]


# ---------------------------------------------------------------------------- skopeo

class SkopeoError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str):
        super().__init__(f"skopeo {' '.join(args)} exited with {returncode}:\n{stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _tls_flags(flag: str, ref: str) -> list[str]:
    return [f"--{flag}-tls-verify=false"] if ref.startswith("docker://") else []


def skopeo(*args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    """Runs skopeo with a permissive signature policy; raises SkopeoError (with stderr)
    unless `check` is False."""
    cmd = ["skopeo", "--insecure-policy", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, LC_ALL="C"))
    if check and proc.returncode != 0:
        raise SkopeoError(list(args), proc.returncode, proc.stdout, proc.stderr)
    return proc


def copy(src: str, dst: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    """`skopeo copy SRC DST`, with TLS verification off for any docker:// side."""
    return skopeo("copy", *_tls_flags("src", src), *_tls_flags("dest", dst), *extra, src, dst,
                  check=check)


def inspect_raw(ref: str, config: bool = False) -> bytes:
    """The manifest (or with `config`, the config blob) exactly as the registry serves it."""
    args = ["inspect", "--raw", *(["--config"] if config else []), "--tls-verify=false", ref]
    return skopeo(*args).stdout.encode()


def inspect(ref: str) -> dict:
    return json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)


def list_tags(ref: str) -> list[str]:
    return json.loads(skopeo("list-tags", "--tls-verify=false", ref).stdout)["Tags"]


def delete(ref: str, check: bool = True) -> subprocess.CompletedProcess:
    return skopeo("delete", "--tls-verify=false", ref, check=check)


def dir_blobs(path: Path) -> dict[str, bytes]:
    """A skopeo `dir:` directory's blobs by digest (files named by their hex digest)."""
    out = {}
    for f in path.iterdir():
        if len(f.name) == 64 and all(c in "0123456789abcdef" for c in f.name):
            out["sha256:" + f.name] = f.read_bytes()
    return out


def layout_blobs(path: Path) -> dict[str, bytes]:
    """Every blob of an OCI layout by digest."""
    return {f"sha256:{f.name}": f.read_bytes() for f in (path / "blobs" / "sha256").iterdir()}
