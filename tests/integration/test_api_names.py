"""Repository names (and other path parts) that try to break out of the storage root, or
break the name grammar, sent as raw request paths with http.client so that no client
library normalises `..`, `%2e%2e` or `//` away first.

Afterwards nothing may exist outside the registry's data root, and valid nested names keep
working. Runs against Distribution too (REGISTRY_TARGET=distribution); the exact
NAME_INVALID answers are berth's.
"""

import http.client
import json
import os
import uuid
from pathlib import Path

import pytest

from oci import Client, error_code, random_bytes, sha256

MARKER = f"escape{uuid.uuid4().hex[:12]}"
UP = "../" * 12

# Each is used as <name> in /v2/<name>/...; those with MARKER would create a directory
# named MARKER somewhere if the registry joined them to a filesystem path.
HOSTILE = {
    "upper case": "Team/App",
    "dot-dot": f"a/../{MARKER}",
    "dot-dot climb": f"{UP}tmp/{MARKER}",
    "encoded dot-dot": f"a/%2e%2e/%2e%2e/{MARKER}",
    "encoded dot-dot climb": "%2e%2e/" * 12 + MARKER,
    "upper-case encoding": "%2E%2E/%2E%2E/" + MARKER,
    "encoded slash": f"%2e%2e%2f%2e%2e%2f{MARKER}",
    "leading slash": f"/{MARKER}",
    "double slash": f"a//{MARKER}",
    "dot segment": f"a/./{MARKER}",
    "trailing dash": "app-",
    "trailing dash component": "team/app-",
    "leading dash": "-app",
    "leading dot": f".{MARKER}",
    "triple underscore": "a___b",
    "double dot in component": "a..b",
    "backslash": f"a\\..\\{MARKER}",
    "nul byte": f"a%00{MARKER}",
    "256 characters": "a" * 256,
    "256 characters nested": "ab/" * 85 + "a",
}

# method, path suffix, body: every endpoint that writes, and some that read.
ENDPOINTS = [
    ("GET", "/tags/list", b""),
    ("GET", "/manifests/latest", b""),
    ("PUT", "/manifests/latest", b'{"schemaVersion": 2}'),
    ("POST", "/blobs/uploads/", b""),
    ("POST", f"/blobs/uploads/?digest={sha256(b'payload')}", b"payload"),
    ("POST", f"/blobs/uploads/?mount={sha256(b'payload')}&from=src", b""),
    ("GET", f"/blobs/{sha256(b'payload')}", b""),
    ("DELETE", f"/manifests/{sha256(b'payload')}", b""),
    ("GET", f"/referrers/{sha256(b'payload')}", b""),
]

# Hostile values in the other path parts: upload ids, references, digests.
HOSTILE_PARTS = [
    ("PATCH", f"/v2/ok/blobs/uploads/..%2f..%2f..%2f{MARKER}", b"data"),
    ("PATCH", f"/v2/ok/blobs/uploads/{UP}{MARKER}", b"data"),
    ("PUT", f"/v2/ok/blobs/uploads/%2e%2e%2f{MARKER}?digest={sha256(b'data')}", b"data"),
    ("DELETE", f"/v2/ok/blobs/uploads/..%2F..%2F{MARKER}", b""),
    ("GET", f"/v2/ok/blobs/uploads/..%2f..%2f{MARKER}", b""),
    ("GET", f"/v2/ok/blobs/sha256:..%2f..%2f{MARKER}", b""),
    ("PUT", f"/v2/ok/manifests/..%2f..%2f{MARKER}", b'{"schemaVersion": 2}'),
    ("PUT", "/v2/ok/manifests/%2e%2e", b'{"schemaVersion": 2}'),
    ("GET", f"/v2/ok/referrers/sha256:..%2f{MARKER}", b""),
]


def raw(reg, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Sends `path` exactly as given."""
    host, port = reg.host.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        if body:
            conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def code_of(body: bytes) -> str | None:
    try:
        return json.loads(body)["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def snapshot(top: Path) -> set[Path]:
    return {p for p in top.rglob("*")}


def marker_paths(*tops: Path) -> list[Path]:
    """Anything named with MARKER under the given directories (not recursing into big
    trees: only the test's own tree recursively, the others one level)."""
    found = []
    for top in tops:
        try:
            found += [p for p in top.iterdir() if MARKER in p.name]
        except OSError:
            pass
    return found


def send_everything(reg):
    statuses = {}
    for label, name in HOSTILE.items():
        for method, suffix, body in ENDPOINTS:
            statuses[(label, method, suffix)] = raw(reg, method, f"/v2/{name}{suffix}", body)
    for method, path, body in HOSTILE_PARTS:
        statuses[("part", method, path)] = raw(reg, method, path, body)
    return statuses


def test_hostile_names_write_nothing_outside_the_root(registry, workdir):
    # Something valid first, so the registry has created whatever it creates lazily.
    c = Client(registry)
    c.push_image("ok", "v1", "ok")
    before = snapshot(workdir)
    statuses = send_everything(registry)

    for key, (status, body) in statuses.items():
        # Nothing was accepted; Distribution also answers 301 (Go's path cleaning) and
        # 500 (names over 255 characters) where berth says 400 or 404.
        assert status not in (200, 201, 202, 204) or key[0] == "upper case", (key, status)
        assert status < 500 or registry.kind == "distribution", (key, status, body)

    new = snapshot(workdir) - before
    outside = [p for p in new if registry.root not in p.parents]
    assert outside == [], outside
    assert marker_paths(workdir, workdir.parent, Path("/tmp"), Path("/"), Path.cwd(),
                        Path(os.path.expanduser("~"))) == []
    assert not any(MARKER in str(p) for p in new), sorted(new)
    # The valid repository is unharmed.
    assert c.get_manifest("ok", "v1").status_code == 200


@pytest.mark.berth_only  # Distribution accepts upper case names (POST uploads/ is 202),
# redirects `..`, `.`, `//` and %2e%2e paths (301), answers 404 (plain text) for names
# its router does not match and 500 UNKNOWN for names over 255 characters.
@pytest.mark.parametrize("label", list(HOSTILE))
def test_hostile_name_is_name_invalid(registry, label):
    name = HOSTILE[label]
    for method, suffix, body in ENDPOINTS:
        status, resp = raw(registry, method, f"/v2/{name}{suffix}", body)
        assert status == 400, (label, method, suffix, status, resp)
        assert code_of(resp) == "NAME_INVALID", (label, method, suffix, resp)


@pytest.mark.berth_only  # Distribution redirects these (301) after cleaning the path.
def test_hostile_path_parts_are_refused(registry):
    expected = {"BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "TAG_INVALID", "NOT_FOUND",
                "MANIFEST_UNKNOWN"}
    for method, path, body in HOSTILE_PARTS:
        status, resp = raw(registry, method, path, body)
        assert status in (400, 404), (method, path, status, resp)
        assert code_of(resp) in expected, (method, path, resp)


@pytest.mark.berth_only  # Distribution writes nothing outside its root either, but it
# does create directories for upper-case names inside it.
def test_hostile_names_write_nothing_at_all(registry, workdir):
    c = Client(registry)
    c.push_image("ok", "v1", "ok")
    before = snapshot(registry.root)
    send_everything(registry)
    assert snapshot(registry.root) - before == set()
    assert c.get("/v2/_catalog").json()["repositories"] == ["ok"]


VALID = ["a/b/c-d_e.f", "a0/b__c/d--e/f.g", "x", "1/2/3", "a-b-c.d_e__f",
         "l" * 255, "ab/" * 84 + "abc"]


def test_valid_names(registry):
    c = Client(registry)
    for name in VALID:
        assert len(name) <= 255
        m = c.push_image(name, "v1", f"valid-{name[:20]}")
        # Through raw paths too, so nothing but the registry parses them.
        status, body = raw(registry, "GET", f"/v2/{name}/tags/list")
        assert status == 200, (name, status, body)
        r = c.get_manifest(name, "v1")
        assert r.status_code == 200, name
        assert r.content == m.data
        data = random_bytes(name, 100)
        digest = c.push_blob(name, data)
        assert c.get(c.blob_url(name, digest)).content == data
    # (berth lists in byte order; Distribution in directory-walk order, where
    # "a/b/c-d_e.f" comes before "a-b-c.d_e__f".)
    assert sorted(c.get("/v2/_catalog").json()["repositories"]) == sorted(VALID)


def test_name_of_256_characters_is_refused(registry):
    c = Client(registry)
    r = c.post(f"/v2/{'n' * 256}/blobs/uploads/")
    # berth: 400 NAME_INVALID. Distribution: 500 UNKNOWN (its storage refuses the path).
    if registry.kind == "distribution":
        assert r.status_code == 500
    else:
        assert r.status_code == 400
        assert error_code(r) == "NAME_INVALID"
    assert c.get("/v2/_catalog").json()["repositories"] == []
