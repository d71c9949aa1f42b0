"""Manifests over HTTP: every supported type pushed and pulled back byte for byte, by tag
and by digest; validation errors; size limit; unknown references; subjects; Accept
negotiation.

Runs against Distribution too (REGISTRY_TARGET=distribution); what only berth does is
marked berth_only, with what Distribution does instead.
"""

import json

import pytest

from oci import (DOCKER_LIST, DOCKER_MANIFEST, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST,
                 Client, artifact_manifest, blob, config_blob, empty_blob, error_code,
                 image_manifest, index_manifest, sha256)

MAX_MANIFEST = 4 * 1024 * 1024


def assert_manifest(r, manifest, body: bool = True):
    """A 200 serving `manifest` exactly as pushed (HEAD: the same headers, no body)."""
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == manifest.media_type
    assert r.headers["Docker-Content-Digest"] == manifest.digest
    assert r.headers["Content-Length"] == str(len(manifest.data))
    assert r.content == (manifest.data if body else b"")


def push_children(c: Client, repo: str, media_type: str, n: int = 2):
    return [c.push_image(repo, None, f"{repo}/child{i}", media_type=media_type)
            for i in range(n)]


def build(c: Client, repo: str, kind: str):
    """Pushes what a manifest of `kind` references and returns the (unpushed) manifest."""
    if kind == "oci-image":
        config, layer = config_blob("oci"), blob("oci-layer")
        c.push_blobs(repo, config, layer)
        return image_manifest(config, [layer])
    if kind == "docker-image":
        config = config_blob("docker", "application/vnd.docker.container.image.v1+json")
        layer = blob("docker-layer", media_type="application/vnd.docker.image.rootfs.diff.tar.gzip")
        c.push_blobs(repo, config, layer)
        return image_manifest(config, [layer], media_type=DOCKER_MANIFEST)
    if kind == "oci-index":
        return index_manifest(push_children(c, repo, OCI_MANIFEST), OCI_INDEX)
    if kind == "docker-list":
        return index_manifest(push_children(c, repo, DOCKER_MANIFEST), DOCKER_LIST)
    raise ValueError(kind)


KINDS = ["oci-image", "oci-index", "docker-image", "docker-list"]


# ------------------------------------------------------------------------ push and pull

@pytest.mark.parametrize("kind", KINDS)
def test_push_and_pull_by_tag_and_digest(registry, kind):
    c = Client(registry)
    repo = f"man/{kind}"
    m = build(c, repo, kind)
    r = c.push_manifest(repo, "v1", m)
    assert c.abs(r.headers["Location"]) in (c.manifest_url(repo, m.digest),
                                            c.manifest_url(repo, "v1"))
    for ref in ("v1", m.digest):
        assert_manifest(c.get_manifest(repo, ref), m)
        assert_manifest(c.get_manifest(repo, ref, method="HEAD"), m, body=False)
        # Asking for exactly the stored type works too.
        assert_manifest(c.get_manifest(repo, ref, accept=m.media_type), m)
    assert c.tags(repo) == ["v1"]


@pytest.mark.parametrize("kind", KINDS)
def test_push_by_digest(registry, kind):
    c = Client(registry)
    repo = f"bydigest/{kind}"
    m = build(c, repo, kind)
    r = c.push_manifest(repo, m.digest, m)
    assert c.abs(r.headers["Location"]) == c.manifest_url(repo, m.digest)
    assert_manifest(c.get_manifest(repo, m.digest), m)
    # Pushed by digest: no tag was made. berth lists the repository with no tags;
    # Distribution calls a repository without tags unknown.
    r = c.get(f"/v2/{repo}/tags/list")
    if registry.kind == "distribution":
        assert r.status_code == 404
        assert error_code(r) == "NAME_UNKNOWN"
    else:
        assert r.status_code == 200
        assert r.json() == {"name": repo, "tags": []}


def test_push_same_manifest_twice_is_idempotent(registry):
    c = Client(registry)
    m = build(c, "man/twice", "oci-image")
    c.push_manifest("man/twice", "v1", m)
    c.push_manifest("man/twice", "v1", m)
    c.push_manifest("man/twice", m.digest, m)
    assert_manifest(c.get_manifest("man/twice", "v1"), m)
    assert c.tags("man/twice") == ["v1"]


def test_retag_moves_the_tag(registry):
    c = Client(registry)
    a = c.push_image("man/retag", "latest", "retag-a")
    b = c.push_image("man/retag", "latest", "retag-b")
    assert a.digest != b.digest
    assert_manifest(c.get_manifest("man/retag", "latest"), b)
    # The old manifest is still there by digest.
    assert_manifest(c.get_manifest("man/retag", a.digest), a)


def test_manifest_without_media_type_field(registry):
    """mediaType is optional in an OCI manifest: Content-Type says what it is."""
    c = Client(registry)
    config, layer = config_blob("nomt"), blob("nomt-layer")
    c.push_blobs("man/nomt", config, layer)
    doc = {"schemaVersion": 2, "config": config.descriptor(), "layers": [layer.descriptor()]}
    body = json.dumps(doc).encode()
    r = c.put_manifest("man/nomt", "v1", body, media_type=OCI_MANIFEST)
    assert r.status_code == 201, r.text
    r = c.get_manifest("man/nomt", "v1")
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == sha256(body)


@pytest.mark.berth_only  # Distribution 2.8 ignores `tag` query parameters: only the
# reference in the path is stored (here a digest, so no tag at all).
def test_put_by_digest_with_tag_parameters(registry):
    c = Client(registry)
    m = build(c, "man/tags", "oci-image")
    r = c.put_manifest("man/tags", m.digest, m,
                       params=[("tag", "1.2.3"), ("tag", "1.2"), ("tag", "1"), ("tag", "latest")])
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == m.digest
    assert c.tags("man/tags") == ["1", "1.2", "1.2.3", "latest"]
    for tag in ("1", "1.2", "1.2.3", "latest"):
        assert_manifest(c.get_manifest("man/tags", tag), m)


@pytest.mark.berth_only
def test_put_with_an_invalid_tag_parameter(registry):
    c = Client(registry)
    m = build(c, "man/badtagparam", "oci-image")
    r = c.put_manifest("man/badtagparam", m.digest, m, params=[("tag", "ok"), ("tag", "-bad")])
    assert r.status_code == 400
    assert error_code(r) == "TAG_INVALID"


@pytest.mark.berth_only
def test_put_with_tag_parameters_reports_oci_tag(registry):
    c = Client(registry)
    m = build(c, "man/ocitag", "oci-image")
    r = c.put_manifest("man/ocitag", m.digest, m, params=[("tag", "a"), ("tag", "b")])
    assert r.status_code == 201
    # One header with a list, or several headers, are the same to HTTP: requests joins them.
    tags = [t.strip() for t in r.headers.get("OCI-Tag", "").split(",") if t.strip()]
    assert sorted(tags) == ["a", "b"]


# ------------------------------------------------------------------------ validation

@pytest.mark.parametrize("missing", ["config", "layer"])
@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_manifest_with_missing_blob(registry, missing, media_type):
    c = Client(registry)
    config, layer = config_blob(f"mb-{missing}"), blob(f"mb-layer-{missing}")
    c.push_blob("man/missing", layer if missing == "config" else config)
    m = image_manifest(config, [layer], media_type=media_type)
    r = c.put_manifest("man/missing", "v1", m)
    assert r.status_code == 400, r.text
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert c.get_manifest("man/missing", m.digest).status_code == 404


def test_blob_in_another_repository_does_not_count(registry):
    c = Client(registry)
    config, layer = config_blob("elsewhere"), blob("elsewhere-layer")
    c.push_blobs("man/elsewhere", config, layer)
    r = c.put_manifest("man/here", "v1", image_manifest(config, [layer]))
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_with_missing_child(registry, media_type):
    """Distribution checks an index's children exist too (MANIFEST_BLOB_UNKNOWN)."""
    c = Client(registry)
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    present = c.push_image("man/idx", None, "present", media_type=child_type)
    absent = image_manifest(config_blob("absent"), [], media_type=child_type)
    idx = index_manifest([present, absent], media_type)
    r = c.put_manifest("man/idx", "v1", idx)
    assert r.status_code == 400, r.text
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert c.get_manifest("man/idx", "v1").status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b"\xff\xfe"])
def test_malformed_manifest(registry, body):
    c = Client(registry)
    r = c.put_manifest("man/malformed", "v1", body, media_type=OCI_MANIFEST)
    assert r.status_code == 400, (r.status_code, r.text)
    assert error_code(r) == "MANIFEST_INVALID"


@pytest.mark.berth_only  # Distribution answers 500 UNKNOWN to a JSON object that is no
# manifest at all.
@pytest.mark.parametrize("body", [b'{"hello": 1}', b'{"schemaVersion": 1}',
                                  b'{"schemaVersion": 2, "config": 5}'])
def test_json_that_is_not_a_manifest(registry, body):
    c = Client(registry)
    r = c.put_manifest("man/notmanifest", "v1", body, media_type=OCI_MANIFEST)
    assert r.status_code == 400, (r.status_code, r.text)
    assert error_code(r) == "MANIFEST_INVALID"


def test_content_type_differs_from_media_type_field(registry):
    c = Client(registry)
    m = build(c, "man/ctype", "oci-image")
    r = c.put_manifest("man/ctype", "v1", m, media_type=DOCKER_MANIFEST)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"


def test_digest_mismatch_when_put_by_digest(registry):
    c = Client(registry)
    m = build(c, "man/mismatch", "oci-image")
    wrong = sha256(m.data + b" ")
    r = c.put_manifest("man/mismatch", wrong, m)
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    assert c.get_manifest("man/mismatch", wrong).status_code == 404
    assert c.get_manifest("man/mismatch", m.digest).status_code == 404


def padded_manifest(c: Client, repo: str, size: int) -> bytes:
    """A valid OCI manifest of exactly `size` bytes (an annotation pads it)."""
    config = config_blob("big")
    c.push_blob(repo, config)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
           "layers": [], "annotations": {"pad": ""}}
    short = len(json.dumps(doc).encode())
    doc["annotations"]["pad"] = "x" * (size - short)
    body = json.dumps(doc).encode()
    assert len(body) == size
    return body


def test_manifest_of_exactly_4_mib_is_accepted(registry):
    c = Client(registry)
    body = padded_manifest(c, "man/big", MAX_MANIFEST)
    r = c.put_manifest("man/big", "max", body, media_type=OCI_MANIFEST)
    assert r.status_code == 201, r.text[:300]
    r = c.get_manifest("man/big", "max")
    assert r.content == body


@pytest.mark.berth_only  # Distribution answers 400 MANIFEST_INVALID ("http: request body
# too large").
def test_manifest_over_4_mib_is_413(registry):
    c = Client(registry)
    body = padded_manifest(c, "man/big", MAX_MANIFEST + 1)
    r = c.put_manifest("man/big", "over", body, media_type=OCI_MANIFEST)
    assert r.status_code == 413
    assert error_code(r) == "SIZE_INVALID"
    assert c.get_manifest("man/big", "over").status_code == 404


@pytest.mark.berth_only  # Distribution's router has no route for a tag outside the
# grammar: a plain-text `404 page not found`.
@pytest.mark.parametrize("tag", ["-bad", ".bad", "a" * 129, "bad+tag"])
def test_invalid_tag(registry, tag):
    c = Client(registry)
    m = build(c, "man/badtag", "oci-image")
    r = c.put_manifest("man/badtag", tag, m)
    assert r.status_code == 400
    assert error_code(r) == "TAG_INVALID"


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_a_reference_nobody_can_push_is_not_found(registry, method):
    """Reads (and deletes) of a reference outside the tag and digest grammar: 404, as the
    spec's conformance tests expect; only a PUT is told the tag is invalid."""
    c = Client(registry)
    build(c, "man/impossible", "oci-image")
    r = c.request(method, c.manifest_url("man/impossible", ".INVALID_MANIFEST_NAME"))
    assert r.status_code == 404, (r.status_code, r.text)
    if registry.kind == "berth" and method != "HEAD":
        assert error_code(r) == "MANIFEST_UNKNOWN"


def test_longest_valid_tag(registry):
    c = Client(registry)
    m = build(c, "man/longtag", "oci-image")
    tag = "_" + "a" * 127
    c.push_manifest("man/longtag", tag, m)
    assert_manifest(c.get_manifest("man/longtag", tag), m)


# ------------------------------------------------------------------------ unknown

def test_unknown_tag_and_digest(registry):
    c = Client(registry)
    c.push_image("man/known", "v1", "known")
    for ref in ("v2", sha256(b"no such manifest")):
        r = c.get_manifest("man/known", ref)
        assert r.status_code == 404
        assert error_code(r) == "MANIFEST_UNKNOWN"
        r = c.get_manifest("man/known", ref, method="HEAD")
        assert r.status_code == 404
        assert r.content == b""


def test_unknown_repository(registry):
    c = Client(registry)
    for ref in ("v1", sha256(b"x")):
        r = c.get_manifest("man/never-pushed", ref)
        assert r.status_code == 404
        # Distribution does not look at the repository first: MANIFEST_UNKNOWN.
        assert error_code(r) in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


@pytest.mark.berth_only  # Distribution says MANIFEST_UNKNOWN.
def test_unknown_repository_is_name_unknown(registry):
    r = Client(registry).get_manifest("man/never-pushed", "v1")
    assert r.status_code == 404
    assert error_code(r) == "NAME_UNKNOWN"


@pytest.mark.berth_only  # Distribution keeps manifests apart from layers: GET blobs/<manifest
# digest> is 404 BLOB_UNKNOWN there.
def test_manifest_is_readable_as_a_blob(registry):
    c = Client(registry)
    m = c.push_image("man/asblob", "v1", "asblob")
    r = c.get(c.blob_url("man/asblob", m.digest))
    assert r.status_code == 200
    assert r.content == m.data
    assert r.headers["Docker-Content-Digest"] == m.digest


# ------------------------------------------------------------------------ subject

@pytest.mark.berth_only  # Distribution 2.8 has no referrers API: it stores the manifest
# but ignores `subject`, and sends no OCI-Subject.
@pytest.mark.parametrize("by", ["tag", "digest"])
def test_manifest_with_subject_answers_oci_subject(registry, by):
    c = Client(registry)
    target = c.push_image("man/subject", "v1", "subject-target")
    payload = blob("sbom")
    c.push_blobs("man/subject", payload, empty_blob())
    art = artifact_manifest("application/vnd.example.sbom", target, payload)
    r = c.push_manifest("man/subject", "sbom" if by == "tag" else art.digest, art)
    assert r.headers["OCI-Subject"] == target.digest
    assert_manifest(c.get_manifest("man/subject", art.digest), art)
    # A manifest without `subject` gets no such header.
    r = c.push_manifest("man/subject", "again", target)
    assert "OCI-Subject" not in r.headers


def test_subject_need_not_exist(registry):
    """A referrer may be pushed before its subject (spec: registries MUST accept it)."""
    c = Client(registry)
    ghost = image_manifest(config_blob("ghost"), [])
    payload = blob("ghost-sig")
    c.push_blobs("man/ghost", payload, empty_blob())
    art = artifact_manifest("application/vnd.example.sig", ghost, payload)
    c.push_manifest("man/ghost", art.digest, art)
    assert_manifest(c.get_manifest("man/ghost", art.digest), art)
    assert c.get_manifest("man/ghost", ghost.digest).status_code == 404


# ------------------------------------------------------------------------ Accept

def test_docker_manifest_with_accept_listing_it(registry):
    c = Client(registry)
    m = build(c, "neg/docker", "docker-image")
    c.push_manifest("neg/docker", "v1", m)
    accept = f"{DOCKER_MANIFEST}, application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert_manifest(c.get_manifest("neg/docker", "v1", accept=accept), m)
    # Several Accept headers, or q-values, are the same thing.
    r = c.request("GET", c.manifest_url("neg/docker", "v1"),
                  headers={"Accept": f"{OCI_MANIFEST};q=0.9, {DOCKER_MANIFEST};q=0.5"})
    assert_manifest(r, m)


@pytest.mark.parametrize("kind", ["oci-image", "oci-index"])
def test_oci_manifest_not_in_accept_is_404(registry, kind):
    """Both registries: a client that cannot parse OCI types is told there is nothing."""
    c = Client(registry)
    repo = f"neg/{kind}"
    m = build(c, repo, kind)
    c.push_manifest(repo, "v1", m)
    other = [t for t in (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
             if t != m.media_type]
    for ref in ("v1", m.digest):
        for accept in (DOCKER_MANIFEST, ", ".join(other), "application/json"):
            r = c.get_manifest(repo, ref, accept=accept)
            assert r.status_code == 404, (ref, accept, r.status_code)
            assert error_code(r) == "MANIFEST_UNKNOWN"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("accept", [None, "*/*"])
def test_no_accept_or_wildcard(registry, kind, accept):
    """berth: a request without Accept, or with */*, gets the manifest as stored.
    Distribution ignores */* and treats both as "schema 1 only": OCI types are 404
    MANIFEST_UNKNOWN, Docker types fail converting to schema 1 (400 MANIFEST_INVALID)."""
    c = Client(registry)
    repo = f"neg/wild-{kind}"
    m = build(c, repo, kind)
    c.push_manifest(repo, "v1", m)
    r = c.get_manifest(repo, "v1", accept=accept)
    if registry.kind == "berth":
        assert_manifest(r, m)
    elif kind.startswith("oci"):
        assert r.status_code == 404
        assert error_code(r) == "MANIFEST_UNKNOWN"
    else:
        assert r.status_code == 400
        assert error_code(r) == "MANIFEST_INVALID"


def test_docker_manifest_not_in_accept(registry):
    """berth always serves Docker schema 2 (docs/api.md). Distribution, asked by tag by a
    client without schema 2 in Accept, tries to convert to schema 1 and fails (400)."""
    c = Client(registry)
    m = build(c, "neg/docker-only", "docker-image")
    c.push_manifest("neg/docker-only", "v1", m)
    r = c.get_manifest("neg/docker-only", "v1", accept=[OCI_MANIFEST, OCI_INDEX])
    if registry.kind == "berth":
        assert_manifest(r, m)
    else:
        assert r.status_code == 400
        assert error_code(r) == "MANIFEST_INVALID"
    # By digest, both serve it as stored.
    assert_manifest(c.get_manifest("neg/docker-only", m.digest, accept=OCI_MANIFEST), m)


def test_docker_list_to_a_client_without_lists(registry):
    """A Docker manifest list asked for by tag by a client accepting schema 2 but not
    lists: both registries answer with the list's linux/amd64 manifest."""
    c = Client(registry)
    arm = c.push_image("neg/list", None, "list-arm", media_type=DOCKER_MANIFEST)
    amd = c.push_image("neg/list", None, "list-amd", media_type=DOCKER_MANIFEST)
    lst = index_manifest([arm, amd], DOCKER_LIST,
                         platforms=[{"architecture": "arm64", "os": "linux"},
                                    {"architecture": "amd64", "os": "linux"}])
    c.push_manifest("neg/list", "multi", lst)
    assert_manifest(c.get_manifest("neg/list", "multi", accept=DOCKER_MANIFEST), amd)
    assert_manifest(c.get_manifest("neg/list", "multi", accept=MANIFEST_TYPES), lst)


def test_docker_list_by_digest_is_never_rewritten(registry):
    c = Client(registry)
    amd = c.push_image("neg/listdigest", None, "ld-amd", media_type=DOCKER_MANIFEST)
    lst = index_manifest([amd], DOCKER_LIST)
    c.push_manifest("neg/listdigest", "multi", lst)
    r = c.get_manifest("neg/listdigest", lst.digest, accept=DOCKER_MANIFEST)
    assert r.status_code in (200, 404), r.status_code
    if r.status_code == 200:
        assert r.headers["Docker-Content-Digest"] == lst.digest
        assert sha256(r.content) == lst.digest
