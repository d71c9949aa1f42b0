"""A small OCI distribution client over `requests`, for the HTTP API tests (test_api_*.py).

It speaks the protocol directly (no skopeo, no docker) so the tests can look at every
status code and header. Manifests are built here from `images.Blob`s, so their digests
are real: `sha256` of the exact bytes that are pushed.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urljoin

import requests

from images import (DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST,  # noqa: F401
                    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, Blob, random_bytes,
                    sha256)

OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
TIMEOUT = 30
# What a modern client (containerd, skopeo) accepts. Distribution ignores `*/*`, so the
# tests that want "any manifest" list the four types.
MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST]


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def error_code(r: requests.Response) -> str | None:
    """`errors[0].code` of an error response, or None when the body is not the envelope."""
    try:
        return r.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def error_codes(r: requests.Response) -> list[str]:
    try:
        return [e["code"] for e in r.json()["errors"]]
    except (ValueError, KeyError, TypeError):
        return []


def blob(seed: str, size: int = 1024, media_type: str = OCI_LAYER_GZIP) -> Blob:
    """A blob of `size` seeded random bytes (not a real tar: registries do not look)."""
    return Blob(media_type, random_bytes(seed, size))


def config_blob(seed: str, media_type: str = OCI_CONFIG) -> Blob:
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": []},
              "config": {"Labels": {"seed": seed}}}
    return Blob(media_type, json.dumps(config, sort_keys=True).encode())


def empty_blob() -> Blob:
    return Blob(OCI_EMPTY, EMPTY_JSON)


def _dump(obj: dict) -> bytes:
    # Indented, so the bytes differ from any canonical re-serialisation: a registry that
    # re-encodes the manifest would be caught by the byte-for-byte comparisons.
    return json.dumps(obj, indent=3).encode()


def image_manifest(config: Blob, layers: list[Blob], media_type: str = OCI_MANIFEST,
                   subject: Blob | None = None, artifact_type: str | None = None,
                   annotations: dict | None = None) -> Blob:
    """An OCI image manifest (or, with media_type=DOCKER_MANIFEST, Docker schema 2)."""
    doc = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = config.descriptor()
    doc["layers"] = [b.descriptor() for b in layers]
    if subject is not None:
        doc["subject"] = subject.descriptor()
    if annotations:
        doc["annotations"] = annotations
    return Blob(media_type, _dump(doc))


def index_manifest(children: list[Blob], media_type: str = OCI_INDEX,
                   platforms: list[dict] | None = None, annotations: dict | None = None) -> Blob:
    """An OCI image index (or, with media_type=DOCKER_LIST, a Docker manifest list)."""
    platforms = platforms or [{"architecture": a, "os": "linux"}
                              for a in ("amd64", "arm64", "s390x", "ppc64le")][:len(children)]
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "manifests": [c.descriptor(platform=p) for c, p in zip(children, platforms)]}
    if annotations:
        doc["annotations"] = annotations
    return Blob(media_type, _dump(doc))


def artifact_manifest(artifact_type: str, subject: Blob | None, payload: Blob,
                      annotations: dict | None = None) -> Blob:
    """An OCI 1.1 artifact: an image manifest with `artifactType`, the empty config and one
    layer (the payload)."""
    return image_manifest(empty_blob(), [payload], subject=subject,
                          artifact_type=artifact_type, annotations=annotations)


class Client:
    """Requests against one registry (anything with a `url`, e.g. conftest.Registry)."""

    def __init__(self, reg):
        self.reg = reg
        self.base = reg.url
        self.s = requests.Session()

    # ------------------------------------------------------------------ plumbing

    def abs(self, location: str) -> str:
        """A `Location` header made absolute (registries may send a path)."""
        return urljoin(self.base + "/", location)

    def request(self, method: str, path_or_url: str, **kw) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, url, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    @staticmethod
    def with_query(url: str, query: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}{query}"

    # ------------------------------------------------------------------ blobs

    def blob_url(self, repo: str, digest: str) -> str:
        return f"{self.base}/v2/{repo}/blobs/{digest}"

    def start_upload(self, repo: str, params: dict | None = None) -> str:
        """POST a new upload session; returns its absolute Location."""
        r = self.post(f"/v2/{repo}/blobs/uploads/", params=params)
        assert r.status_code == 202, (r.status_code, r.text)
        return self.abs(r.headers["Location"])

    def patch_chunk(self, upload: str, data: bytes, start: int | None = None,
                    expect: int = 202) -> requests.Response:
        """PATCH a chunk; with `start`, announced by Content-Range (OCI chunked upload)."""
        headers = {"Content-Type": "application/octet-stream"}
        if start is not None:
            headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
            headers["Content-Length"] = str(len(data))
        r = self.patch(upload, data=data, headers=headers)
        if expect is not None:
            assert r.status_code == expect, (r.status_code, r.headers, r.text)
        return r

    def finish_upload(self, upload: str, digest: str, data: bytes = b"",
                      expect: int | None = 201) -> requests.Response:
        headers = {"Content-Type": "application/octet-stream"}
        r = self.put(self.with_query(upload, f"digest={digest}"), data=data, headers=headers)
        if expect is not None:
            assert r.status_code == expect, (r.status_code, r.headers, r.text)
        return r

    def post_blob(self, repo: str, data: bytes, digest: str | None = None) -> requests.Response:
        """The single-request monolithic upload: POST ?digest= with the whole blob as body."""
        return self.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest or sha256(data)},
                         data=data, headers={"Content-Type": "application/octet-stream"})

    def push_blob(self, repo: str, data: bytes | Blob, digest: str | None = None) -> str:
        """Monolithic upload in two requests (POST, then PUT ?digest= with the whole body),
        which every registry supports. Returns the digest."""
        if isinstance(data, Blob):
            data = data.data
        digest = digest or sha256(data)
        r = self.finish_upload(self.start_upload(repo), digest, data)
        assert r.headers["Docker-Content-Digest"] == digest
        return digest

    def push_blob_chunked(self, repo: str, data: bytes, chunk: int = 1000,
                          content_range: bool = True) -> str:
        """POST, PATCH the data in chunks, PUT with ?digest=. Returns the digest."""
        upload = self.start_upload(repo)
        for start in range(0, len(data), chunk):
            r = self.patch_chunk(upload, data[start:start + chunk],
                                 start if content_range else None)
            upload = self.abs(r.headers["Location"])
        digest = sha256(data)
        self.finish_upload(upload, digest)
        return digest

    def push_blobs(self, repo: str, *blobs: Blob):
        for b in blobs:
            self.push_blob(repo, b)

    # ------------------------------------------------------------------ manifests

    def manifest_url(self, repo: str, ref: str) -> str:
        return f"{self.base}/v2/{repo}/manifests/{ref}"

    def put_manifest(self, repo: str, ref: str, manifest: Blob | bytes,
                     media_type: str | None = None, params=None) -> requests.Response:
        body = manifest.data if isinstance(manifest, Blob) else manifest
        ct = media_type or (manifest.media_type if isinstance(manifest, Blob) else OCI_MANIFEST)
        return self.put(self.manifest_url(repo, ref), data=body,
                        headers={"Content-Type": ct}, params=params)

    def push_manifest(self, repo: str, ref: str, manifest: Blob, params=None) -> requests.Response:
        r = self.put_manifest(repo, ref, manifest, params=params)
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.headers["Docker-Content-Digest"] == manifest.digest
        return r

    def push_image(self, repo: str, ref: str, seed: str, layers: int = 1,
                   media_type: str = OCI_MANIFEST, **kw) -> Blob:
        """Config and layers, then the manifest, tagged (or pushed by digest) as `ref`
        (None: by its own digest)."""
        docker = media_type == DOCKER_MANIFEST
        config = config_blob(seed, DOCKER_CONFIG if docker else OCI_CONFIG)
        lay = [blob(f"{seed}/{i}", 512 + i, DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP)
               for i in range(layers)]
        self.push_blobs(repo, config, *lay)
        m = image_manifest(config, lay, media_type=media_type, **kw)
        self.push_manifest(repo, ref or m.digest, m)
        return m

    def get_manifest(self, repo: str, ref: str, accept: str | list[str] | None = MANIFEST_TYPES,
                     method: str = "GET") -> requests.Response:
        """GET (or HEAD) a manifest. `accept=None` sends no Accept header at all (requests
        would otherwise add `*/*`)."""
        if accept is None:
            headers = {"Accept": None}
        else:
            headers = {"Accept": accept if isinstance(accept, str) else ", ".join(accept)}
        return self.request(method, self.manifest_url(repo, ref), headers=headers)

    def tags(self, repo: str) -> list[str]:
        r = self.get(f"/v2/{repo}/tags/list")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json().get("tags") or []
