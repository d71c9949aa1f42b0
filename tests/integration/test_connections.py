"""Connection reuse after errors: a registry that answers before reading a request body
must tell the client the connection is done, or the client's next request on it fails."""

import hashlib
import os

import pytest
import requests


def start_upload(s: requests.Session, reg, repo: str) -> str:
    r = s.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    return loc if loc.startswith("http") else reg.url + loc


# Distribution 2.8 does not check where a chunk starts (it answers 202), so it has no
# early error to test here.
@pytest.mark.berth_only
def test_error_before_body_is_read_closes_the_connection_cleanly(registry):
    s = requests.Session()
    upload = start_upload(s, registry, "conn/reuse")
    chunk = os.urandom(8 << 20)
    # The upload is empty, so a chunk claiming to start at byte 100 is out of order: the
    # registry refuses it without reading the 8 MiB behind it.
    r = s.patch(upload, data=chunk, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"100-{100 + len(chunk) - 1}",
    })
    assert r.status_code == 416
    assert r.headers["Range"] == "0-0"  # nothing received yet
    assert r.headers.get("Connection", "").lower() == "close"
    # The same session goes on working: its next requests use a fresh connection.
    for _ in range(3):
        assert s.get(f"{registry.url}/v2/").status_code == 200
    r = s.patch(upload, data=chunk, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    digest = "sha256:" + hashlib.sha256(chunk).hexdigest()
    r = s.put(f"{upload}{'&' if '?' in upload else '?'}digest={digest}")
    assert r.status_code == 201, r.text
    assert s.head(f"{registry.url}/v2/conn/reuse/blobs/{digest}").headers[
        "Content-Length"] == str(len(chunk))


def test_successful_requests_keep_the_connection(registry):
    """The close is only for errors: normal pushes and pulls reuse one connection."""
    s = requests.Session()
    data = b"keep-alive"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = start_upload(s, registry, "conn/keep")
    r = s.put(f"{upload}{'&' if '?' in upload else '?'}digest={digest}", data=data)
    assert r.status_code == 201, r.text
    assert r.headers.get("Connection", "").lower() != "close"
    r = s.get(f"{registry.url}/v2/conn/keep/blobs/{digest}")
    assert r.content == data
    assert r.headers.get("Connection", "").lower() != "close"
