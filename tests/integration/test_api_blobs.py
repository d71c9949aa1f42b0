"""Blob uploads (monolithic, chunked, streamed, resumed, cancelled, mounted) and blob reads
(GET, HEAD, ranges, deletes), straight over HTTP.

Runs against Distribution too (REGISTRY_TARGET=distribution); what only berth does is
marked berth_only, with what Distribution does instead.

Distribution hands out Locations carrying a `_state` token that changes with every chunk,
so these tests always follow the newest Location, as clients must.
"""

import re

import pytest

from oci import Client, error_code, random_bytes, sha256, sha512

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_blob(c: Client, repo: str, digest: str, data: bytes):
    """GET serves exactly `data` with the right headers, HEAD the same headers, no body."""
    r = c.get(c.blob_url(repo, digest))
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == data
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == digest
    h = c.head(c.blob_url(repo, digest))
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["Content-Length"] == str(len(data))
    assert h.headers["Docker-Content-Digest"] == digest


def assert_no_blob(c: Client, repo: str, digest: str):
    r = c.get(c.blob_url(repo, digest))
    assert r.status_code == 404, (r.status_code, r.text)
    assert error_code(r) == "BLOB_UNKNOWN"
    assert c.head(c.blob_url(repo, digest)).status_code == 404


def assert_upload_headers(c: Client, r, upload_id: str | None, last_byte: int):
    """What every upload response (POST 202, PATCH 202, status 204) carries."""
    assert r.headers["Range"] == f"0-{last_byte}"
    assert "/blobs/uploads/" in r.headers["Location"]
    uid = r.headers["Docker-Upload-UUID"]
    assert UUID.match(uid), uid
    assert uid in r.headers["Location"]
    if upload_id is not None:
        assert uid == upload_id


# ------------------------------------------------------------------------ monolithic

@pytest.mark.berth_only  # Distribution 2.8 ignores ?digest= on POST: it answers 202 (an
# empty upload session) and discards the body; clients then fall back to POST + PUT.
def test_single_post_with_digest(registry):
    c = Client(registry)
    data = random_bytes("mono", 5000)
    r = c.post_blob("blobs/mono", data)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert c.abs(r.headers["Location"]) == c.blob_url("blobs/mono", sha256(data))
    assert_blob(c, "blobs/mono", sha256(data), data)


@pytest.mark.berth_only  # Distribution starts an upload (202) whatever the digest says.
def test_single_post_with_wrong_digest(registry):
    c = Client(registry)
    data = random_bytes("mono-wrong", 5000)
    r = c.post_blob("blobs/mono", data, digest=sha256(b"something else"))
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    assert_no_blob(c, "blobs/mono", sha256(data))
    assert_no_blob(c, "blobs/mono", sha256(b"something else"))


def test_post_then_put_whole_blob(registry):
    c = Client(registry)
    data = random_bytes("post-put", 10_000)
    r = c.post("/v2/blobs/pp/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["Content-Length"] == "0"
    assert_upload_headers(c, r, None, 0)
    upload = c.abs(r.headers["Location"])
    r = c.finish_upload(upload, sha256(data), data)
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert c.abs(r.headers["Location"]) == c.blob_url("blobs/pp", sha256(data))
    assert_blob(c, "blobs/pp", sha256(data), data)


def test_empty_blob(registry):
    c = Client(registry)
    digest = c.push_blob("blobs/empty", b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert_blob(c, "blobs/empty", digest, b"")


# ------------------------------------------------------------------------ chunked

def test_chunked_upload_with_content_range(registry):
    c = Client(registry)
    data = random_bytes("chunked", 10_000)
    upload = c.start_upload("blobs/chunked")
    uid = c.get(upload).headers["Docker-Upload-UUID"]
    for start in range(0, len(data), 3000):
        chunk = data[start:start + 3000]
        r = c.patch_chunk(upload, chunk, start)
        assert r.headers["Content-Length"] == "0"
        assert_upload_headers(c, r, uid, start + len(chunk) - 1)
        upload = c.abs(r.headers["Location"])
    r = c.finish_upload(upload, sha256(data))
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert_blob(c, "blobs/chunked", sha256(data), data)


def test_streamed_patch_without_content_range(registry):
    """Docker's way: PATCHes with no Content-Range, each appended to the upload."""
    c = Client(registry)
    data = random_bytes("streamed", 300_000)
    upload = c.start_upload("blobs/streamed")
    sent = 0
    for part in (data[:100_000], data[100_000:250_000], data[250_000:]):
        # A generator body goes out with chunked transfer encoding, no Content-Length.
        r = c.patch(upload, data=iter([part[:1000], part[1000:]]),
                    headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        sent += len(part)
        assert r.headers["Range"] == f"0-{sent - 1}"
        upload = c.abs(r.headers["Location"])
    c.finish_upload(upload, sha256(data))
    assert_blob(c, "blobs/streamed", sha256(data), data)


def test_last_chunk_in_the_put(registry):
    c = Client(registry)
    data = random_bytes("last-in-put", 4000)
    upload = c.start_upload("blobs/lastput")
    upload = c.abs(c.patch_chunk(upload, data[:2500], 0).headers["Location"])
    c.finish_upload(upload, sha256(data), data[2500:])
    assert_blob(c, "blobs/lastput", sha256(data), data)


def test_upload_status(registry):
    c = Client(registry)
    upload = c.start_upload("blobs/status")
    r = c.get(upload)
    assert r.status_code == 204
    assert r.content == b""
    assert_upload_headers(c, r, None, 0)
    uid = r.headers["Docker-Upload-UUID"]

    r = c.patch_chunk(upload, random_bytes("status", 1234), 0)
    upload = c.abs(r.headers["Location"])
    r = c.get(upload)
    assert r.status_code == 204
    assert_upload_headers(c, r, uid, 1233)
    # The Location it gives continues the upload.
    r = c.patch_chunk(c.abs(r.headers["Location"]), b"x" * 766, 1234)
    assert r.headers["Range"] == "0-1999"


def test_cancel_upload(registry):
    c = Client(registry)
    upload = c.start_upload("blobs/cancel")
    upload = c.abs(c.patch_chunk(upload, b"partial", 0).headers["Location"])
    r = c.delete(upload)
    assert r.status_code == 204
    for method in ("GET", "PATCH", "PUT"):
        url = c.with_query(upload, f"digest={sha256(b'partial')}") if method == "PUT" else upload
        r = c.request(method, url, data=b"more" if method == "PATCH" else None)
        assert r.status_code == 404, (method, r.status_code)
        assert error_code(r) == "BLOB_UPLOAD_UNKNOWN", (method, r.text)
    assert_no_blob(c, "blobs/cancel", sha256(b"partial"))


def test_unknown_upload_id(registry):
    c = Client(registry)
    r = c.get("/v2/blobs/none/blobs/uploads/0b4c3f2e-9f7e-4a39-8d62-1d6f1b1a0c55")
    assert r.status_code == 404
    # berth: BLOB_UPLOAD_UNKNOWN. Distribution cannot decode the missing `_state`
    # token first and answers BLOB_UPLOAD_INVALID (still 404).
    expected = "BLOB_UPLOAD_INVALID" if registry.kind == "distribution" else "BLOB_UPLOAD_UNKNOWN"
    assert error_code(r) == expected


def test_upload_belongs_to_its_repository(registry):
    c = Client(registry)
    upload = c.start_upload("blobs/own")
    other = upload.replace("/v2/blobs/own/", "/v2/blobs/other/")
    assert other != upload
    r = c.patch(other, data=b"stolen", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404
    assert error_code(r) in ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")
    # The real upload is untouched.
    assert c.get(upload).headers["Range"] == "0-0"


@pytest.mark.berth_only  # Distribution 2.8 ignores Content-Range: it appends the chunk
# wherever it claims to start (202, Range grows), so out-of-order data corrupts the blob.
def test_out_of_order_chunk_is_416(registry):
    c = Client(registry)
    data = random_bytes("ooo", 3000)
    upload = c.start_upload("blobs/ooo")
    upload = c.abs(c.patch_chunk(upload, data[:1000], 0).headers["Location"])
    for start, chunk in ((2000, data[2000:]), (0, data[:1000]), (500, data[500:1500])):
        r = c.patch_chunk(upload, chunk, start, expect=416)
        assert r.headers["Range"] == "0-999"
        assert error_code(r) == "BLOB_UPLOAD_INVALID"
        assert "/blobs/uploads/" in r.headers["Location"]
    # Nothing of the refused chunks was kept: the upload goes on from byte 1000.
    assert c.get(upload).headers["Range"] == "0-999"
    upload = c.abs(c.patch_chunk(upload, data[1000:2000], 1000).headers["Location"])
    upload = c.abs(c.patch_chunk(upload, data[2000:], 2000).headers["Location"])
    c.finish_upload(upload, sha256(data))
    assert_blob(c, "blobs/ooo", sha256(data), data)


@pytest.mark.berth_only  # Distribution ignores Content-Range, so cannot see the mismatch.
def test_chunk_shorter_than_its_content_range(registry):
    c = Client(registry)
    upload = c.start_upload("blobs/short")
    r = c.patch(upload, data=b"x" * 10, headers={"Content-Type": "application/octet-stream",
                                                "Content-Range": "0-19"})
    assert r.status_code in (400, 416), r.status_code
    assert error_code(r) == "BLOB_UPLOAD_INVALID"
    assert c.get(upload).headers["Range"] == "0-0"


# ------------------------------------------------------------------------ digests

def test_wrong_digest_at_put(registry):
    c = Client(registry)
    data = random_bytes("wrong", 3000)
    claimed = sha256(b"not the data")
    upload = c.start_upload("blobs/wrong")
    upload = c.abs(c.patch_chunk(upload, data[:1000], 0).headers["Location"])
    r = c.finish_upload(upload, claimed, data[1000:], expect=400)
    assert error_code(r) == "DIGEST_INVALID"
    assert_no_blob(c, "blobs/wrong", claimed)
    assert_no_blob(c, "blobs/wrong", sha256(data))


@pytest.mark.parametrize("failure", ["final PUT with a wrong digest and a body",
                                     "PATCH longer than its Content-Range"])
def test_bytes_of_a_failed_request_never_reach_the_blob(registry, failure):
    """A request that fails after writing bytes past the acknowledged offset, then an empty
    PUT with the right digest of what was acknowledged: the blob holds exactly that, and a
    later honest push of the same layer keeps the intact file."""
    from blobstore import blob_bytes

    c = Client(registry)
    repo = "blobs/failed-write"
    good, evil = random_bytes("good", 3000), random_bytes("evil", 2000)
    upload = c.abs(c.patch_chunk(c.start_upload(repo), good).headers["Location"])
    if failure.startswith("final PUT"):
        r = c.finish_upload(upload, sha256(b"something else"), evil, expect=400)
        assert error_code(r) == "DIGEST_INVALID"
    else:
        if registry.kind != "berth":
            pytest.skip("Distribution ignores Content-Range (it appends the whole body)")
        # Streamed (no Content-Length), so the length shows only once the body is read.
        r = c.patch(upload, data=iter([evil, evil]), headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{len(good)}-{len(good) + len(evil) - 1}"})
        assert r.status_code in (400, 416), r.status_code
    r = c.finish_upload(upload, sha256(good), b"", expect=None)
    if registry.kind == "berth":
        assert r.status_code == 201, r.text
    if r.status_code == 201:
        assert blob_bytes(registry, sha256(good)) == good
        assert_blob(c, repo, sha256(good), good)
    else:  # Distribution ends the session after the failed request
        assert r.status_code == 404, r.text
    c.push_blob("blobs/failed-write-again", good)
    assert blob_bytes(registry, sha256(good)) == good


@pytest.mark.berth_only  # reaches into berth's own upload directory
@pytest.mark.parametrize("loss", ["file removed", "file cut short"])
def test_an_upload_whose_bytes_vanished_is_never_finished(registry, loss):
    """Someone freeing a full disk removes (or truncates) an upload's file: the session can
    never finish. It must not be padded with zeros and committed under the digest the
    client names (the hash state still covers the lost bytes)."""
    c = Client(registry)
    data = random_bytes("vanishing", 6000)
    upload = c.abs(c.patch_chunk(c.start_upload("blobs/vanished"), data[:4000]).headers["Location"])
    uid = upload.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    if getattr(registry, "s3", None):
        if loss == "file cut short":
            pytest.skip("an object is written whole: an upload's chunk in S3 cannot be cut short")
        from blobstore import remove_upload_bytes
        remove_upload_bytes(registry, uid)
    else:
        path = registry.root / "docker/registry/v2/_berth/uploads" / uid / "data"
        if loss == "file removed":
            path.unlink()
        else:
            with open(path, "r+b") as f:
                f.truncate(1000)
    r = c.finish_upload(upload, sha256(data), data[4000:], expect=None)
    assert r.status_code == 404, r.text
    assert error_code(r) == "BLOB_UPLOAD_UNKNOWN" and "start the upload again" in r.text
    assert_no_blob(c, "blobs/vanished", sha256(data))
    assert c.get(upload).status_code == 404, "the session is forgotten"
    c.push_blob("blobs/vanished", data)  # a fresh upload works
    assert_blob(c, "blobs/vanished", sha256(data), data)


@pytest.mark.parametrize("digest", [
    "sha256:xyz",                         # not hex
    "sha256:" + "A" * 64,                 # upper case
    "sha256:" + "0" * 63,                 # short
    "sha256" + "0" * 64,                  # no colon
    "md5:" + "0" * 32,                    # unknown algorithm
])
def test_malformed_digest_at_put(registry, digest):
    c = Client(registry)
    upload = c.start_upload("blobs/malformed")
    r = c.finish_upload(upload, digest, b"data", expect=400)
    assert error_code(r) == "DIGEST_INVALID"


def test_put_without_digest(registry):
    c = Client(registry)
    upload = c.start_upload("blobs/nodigest")
    r = c.put(upload, data=b"data", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"


def test_malformed_digest_in_blob_path(registry):
    c = Client(registry)
    r = c.get("/v2/blobs/malformed/blobs/sha256:xyz")
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"


@pytest.mark.berth_only  # Distribution's router does not match a digest without `alg:`,
# so it answers a plain-text `404 page not found`.
def test_digest_without_algorithm_in_blob_path(registry):
    r = Client(registry).get("/v2/blobs/malformed/blobs/notadigest")
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"


@pytest.mark.berth_only  # Distribution verifies a sha512 digest at PUT but stores and
# serves the blob under its sha256 digest (Docker-Content-Digest is sha256:...).
def test_sha512_blob(registry):
    c = Client(registry)
    data = random_bytes("sha512", 7000)
    # Monolithic, and chunked with the algorithm announced at POST.
    r = c.post_blob("blobs/sha512", data, digest=sha512(data))
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha512(data)
    assert_blob(c, "blobs/sha512", sha512(data), data)

    other = random_bytes("sha512-chunked", 7000)
    r = c.post("/v2/blobs/sha512/blobs/uploads/", params={"digest-algorithm": "sha512"})
    assert r.status_code == 202
    upload = c.abs(r.headers["Location"])
    upload = c.abs(c.patch_chunk(upload, other[:4000], 0).headers["Location"])
    upload = c.abs(c.patch_chunk(upload, other[4000:], 4000).headers["Location"])
    r = c.finish_upload(upload, sha512(other))
    assert r.headers["Docker-Content-Digest"] == sha512(other)
    assert_blob(c, "blobs/sha512", sha512(other), other)

    # Without the announcement, PUT still verifies a sha512 digest.
    third = random_bytes("sha512-late", 3000)
    upload = c.start_upload("blobs/sha512")
    c.finish_upload(upload, sha512(third), third)
    assert_blob(c, "blobs/sha512", sha512(third), third)
    r = c.finish_upload(c.start_upload("blobs/sha512"), sha512(b"other"), third, expect=400)
    assert error_code(r) == "DIGEST_INVALID"


# ------------------------------------------------------------------------ resume

def test_upload_resumes_across_a_restart(make_registry):
    # Distribution signs its upload `_state` tokens with `http.secret`: without a fixed
    # one, each process makes its own and refuses the tokens of the last.
    registry = make_registry(extra_config="  secret: berth-test-upload-state-secret\n")
    c = Client(registry)
    data = random_bytes("resume", 200_000)
    upload = c.start_upload("blobs/resume")
    upload = c.abs(c.patch_chunk(upload, data[:120_000], 0).headers["Location"])

    registry.restart()
    c = Client(registry)  # fresh connections: the old ones died with the process

    r = c.get(upload)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-119999"
    upload = c.abs(r.headers["Location"])
    upload = c.abs(c.patch_chunk(upload, data[120_000:180_000], 120_000).headers["Location"])
    c.finish_upload(upload, sha256(data), data[180_000:])
    assert_blob(c, "blobs/resume", sha256(data), data)


# ------------------------------------------------------------------------ reads

def test_get_and_head_blob(registry):
    c = Client(registry)
    data = random_bytes("read", 65_536 + 17)
    digest = c.push_blob("blobs/read", data)
    assert_blob(c, "blobs/read", digest, data)
    r = c.head(c.blob_url("blobs/read", digest))
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_blob_etag_and_if_none_match(registry):
    c = Client(registry)
    digest = c.push_blob("blobs/etag", b"cache me")
    etag = c.get(c.blob_url("blobs/etag", digest)).headers["ETag"]
    assert etag == f'"{digest}"'
    for method in ("GET", "HEAD"):
        r = c.request(method, c.blob_url("blobs/etag", digest), headers={"If-None-Match": etag})
        assert r.status_code == 304, method
        assert r.content == b""
    r = c.get(c.blob_url("blobs/etag", digest), headers={"If-None-Match": '"sha256:other"'})
    assert r.status_code == 200
    assert r.content == b"cache me"


@pytest.mark.parametrize("range_,start,end", [
    ("bytes=10-19", 10, 19),
    ("bytes=0-0", 0, 0),
    ("bytes=2990-", 2990, 2999),
    ("bytes=-10", 2990, 2999),
    ("bytes=2990-5000", 2990, 2999),      # an end past the blob is clamped
])
def test_range_request(registry, range_, start, end):
    c = Client(registry)
    data = random_bytes("range", 3000)
    digest = c.push_blob("blobs/range", data)
    r = c.get(c.blob_url("blobs/range", digest), headers={"Range": range_})
    assert r.status_code == 206, (r.status_code, r.text)
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/3000"
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.content == data[start:end + 1]
    assert r.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("range_", ["bytes=3000-", "bytes=5000-6000"])
def test_unsatisfiable_range(registry, range_):
    c = Client(registry)
    data = random_bytes("range", 3000)
    digest = c.push_blob("blobs/range", data)
    # stream=True: Distribution's 416 announces the blob's Content-Length but sends a
    # short body (see the berth_only test below), so its body cannot be read.
    r = c.get(c.blob_url("blobs/range", digest), headers={"Range": range_}, stream=True)
    try:
        assert r.status_code == 416
        assert r.headers["Content-Range"] == "bytes */3000"
    finally:
        r.close()


@pytest.mark.berth_only  # Distribution's 416 carries `Content-Length: 3000` (the blob's)
# with a 33-byte text body, so the client sees a truncated response.
def test_unsatisfiable_range_is_a_complete_error(registry):
    c = Client(registry)
    digest = c.push_blob("blobs/range", random_bytes("range", 3000))
    r = c.get(c.blob_url("blobs/range", digest), headers={"Range": "bytes=3000-"})
    assert r.status_code == 416
    assert r.headers["Content-Length"] == str(len(r.content))
    assert error_code(r) == "BLOB_UNKNOWN"


def test_unknown_blob(registry):
    c = Client(registry)
    c.push_blob("blobs/known", b"known")
    for repo in ("blobs/known", "blobs/never-pushed"):
        r = c.get(c.blob_url(repo, sha256(b"unknown")))
        assert r.status_code == 404
        assert error_code(r) == "BLOB_UNKNOWN"
        r = c.head(c.blob_url(repo, sha256(b"unknown")))
        assert r.status_code == 404
        assert r.content == b""


def test_blob_is_only_in_the_repository_it_was_pushed_to(registry):
    c = Client(registry)
    digest = c.push_blob("blobs/here", b"only here")
    assert_blob(c, "blobs/here", digest, b"only here")
    assert_no_blob(c, "blobs/there", digest)


# ------------------------------------------------------------------------ mounts

def test_cross_repository_mount(registry):
    c = Client(registry)
    data = random_bytes("mount", 5000)
    digest = c.push_blob("mount/src", data)
    r = c.post("/v2/mount/dst/blobs/uploads/", params={"mount": digest, "from": "mount/src"})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert c.abs(r.headers["Location"]) == c.blob_url("mount/dst", digest)
    assert_blob(c, "mount/dst", digest, data)
    assert_blob(c, "mount/src", digest, data)


@pytest.mark.parametrize("case", ["unknown source repository", "blob not in source"])
def test_mount_that_cannot_mount_starts_an_upload(registry, case):
    c = Client(registry)
    data = random_bytes("mount-fallback", 5000)
    c.push_blob("mount/src", b"something else")
    source = "mount/nowhere" if case == "unknown source repository" else "mount/src"
    r = c.post("/v2/mount/dst/blobs/uploads/", params={"mount": sha256(data), "from": source})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-0"
    assert_no_blob(c, "mount/dst", sha256(data))
    # The session it opened is an ordinary upload.
    c.finish_upload(c.abs(r.headers["Location"]), sha256(data), data)
    assert_blob(c, "mount/dst", sha256(data), data)


@pytest.mark.berth_only  # Distribution needs `from`: without it, it starts an upload (202).
def test_mount_without_from(registry):
    """docs/api.md: without `from`, berth mounts the blob from any repository holding it."""
    c = Client(registry)
    data = random_bytes("mount-anywhere", 5000)
    digest = c.push_blob("mount/somewhere", data)
    r = c.post("/v2/mount/anywhere/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob(c, "mount/anywhere", digest, data)
    # A digest nobody holds still falls back to an upload.
    r = c.post("/v2/mount/anywhere/blobs/uploads/", params={"mount": sha256(b"nobody")})
    assert r.status_code == 202


# ------------------------------------------------------------------------ deletes

def test_delete_blob(registry):
    c = Client(registry)
    data = random_bytes("delete", 2000)
    digest = c.push_blob("blobs/del", data)
    c.post("/v2/blobs/kept/blobs/uploads/", params={"mount": digest, "from": "blobs/del"})
    r = c.delete(c.blob_url("blobs/del", digest))
    assert r.status_code == 202
    assert_no_blob(c, "blobs/del", digest)
    r = c.delete(c.blob_url("blobs/del", digest))
    assert r.status_code == 404
    assert error_code(r) == "BLOB_UNKNOWN"
    # Only this repository's link went: the mounted copy is still readable.
    assert_blob(c, "blobs/kept", digest, data)

