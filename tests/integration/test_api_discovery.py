"""Content discovery: tags/list, _catalog (both with n/last pagination and Link headers) and
the OCI 1.1 referrers API.

Runs against Distribution too (REGISTRY_TARGET=distribution). The Distribution 2.8 in
Debian lists tags unsorted and without pagination, and has no referrers API: those tests
are berth_only.
"""

import json
import re

import pytest

from images import Blob
from oci import (OCI_INDEX, Client, artifact_manifest, blob, config_blob,
                 empty_blob, error_code, image_manifest, index_manifest, sha256)

LINK = re.compile(r'^<([^>]+)>;\s*rel="next"$')
TAGS = ["v1", "1.0", "C", "a", "b", "latest", "m-x", "m_x", "z", "v1.0.0-rc1", "_under"]


def next_link(c: Client, r) -> str | None:
    """The URL of the Link rel="next" header, or None."""
    if "Link" not in r.headers:
        return None
    m = LINK.match(r.headers["Link"])
    assert m, r.headers["Link"]
    return c.abs(m.group(1))


def tag_all(c: Client, repo: str, tags: list[str]):
    m = c.push_image(repo, tags[0], f"{repo}-image")
    for t in tags[1:]:
        c.push_manifest(repo, t, m)
    return m


def walk(c: Client, first: str, key: str) -> list[list[str]]:
    """Follows Link headers from `first` and returns each page's list."""
    pages, url = [], first
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text
        pages.append(r.json()[key] or [])
        url = next_link(c, r)
        assert len(pages) < 100, "Link loop"
    return pages


# ------------------------------------------------------------------------ tags

def test_tags_list(registry):
    c = Client(registry)
    tag_all(c, "disc/tags", TAGS)
    r = c.get("/v2/disc/tags/tags/list")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["name"] == "disc/tags"
    assert sorted(body["tags"]) == sorted(TAGS)
    assert "Link" not in r.headers


@pytest.mark.berth_only  # Distribution 2.8 returns tags in directory order (unsorted).
def test_tags_list_is_sorted(registry):
    c = Client(registry)
    tag_all(c, "disc/sorted", TAGS)
    # Lexical (byte) order, as Go's sort.Strings: upper case and digits first.
    assert c.tags("disc/sorted") == sorted(TAGS)


@pytest.mark.berth_only  # Distribution 2.8 ignores `n` and `last` on tags/list.
def test_tags_pagination(registry):
    c = Client(registry)
    tag_all(c, "disc/pages", TAGS)
    for n in (1, 2, 3, 5, 10, 11, 12):
        r = c.get("/v2/disc/pages/tags/list", params={"n": n})
        assert r.status_code == 200
        assert r.json()["tags"] == sorted(TAGS)[:n]
        if n < len(TAGS):
            link = next_link(c, r)
            assert link is not None, n
            assert "/v2/disc/pages/tags/list?" in link
        else:
            assert "Link" not in r.headers, n
        pages = walk(c, f"{c.base}/v2/disc/pages/tags/list?n={n}", "tags")
        assert [t for p in pages for t in p] == sorted(TAGS), n
        assert all(len(p) == n for p in pages[:-1]), n
        assert 1 <= len(pages[-1]) <= n


@pytest.mark.berth_only  # Distribution 2.8 ignores `n` and `last` on tags/list.
def test_tags_last(registry):
    c = Client(registry)
    tag_all(c, "disc/last", TAGS)
    ordered = sorted(TAGS)
    r = c.get("/v2/disc/last/tags/list", params={"n": 3, "last": "a"})
    i = ordered.index("a")
    assert r.json()["tags"] == ordered[i + 1:i + 4]
    # `last` alone: everything after it. `last` need not be a tag that exists.
    assert c.get("/v2/disc/last/tags/list", params={"last": "m_x"}).json()["tags"] == \
        [t for t in ordered if t > "m_x"]
    assert c.get("/v2/disc/last/tags/list", params={"last": "b0"}).json()["tags"] == \
        [t for t in ordered if t > "b0"]
    r = c.get("/v2/disc/last/tags/list", params={"last": ordered[-1]})
    assert r.json()["tags"] == []
    assert "Link" not in r.headers


@pytest.mark.berth_only  # Distribution 2.8 ignores `n`.
def test_tags_n_zero_and_invalid(registry):
    c = Client(registry)
    tag_all(c, "disc/nzero", TAGS)
    r = c.get("/v2/disc/nzero/tags/list", params={"n": 0})
    assert r.status_code == 200
    assert r.json()["tags"] == []
    assert "Link" not in r.headers  # spec: n=0 MUST give an empty list and no Link
    for bad in ("-1", "x", "1.5"):
        r = c.get("/v2/disc/nzero/tags/list", params={"n": bad})
        assert r.status_code == 400, bad
        assert error_code(r) == "PAGINATION_NUMBER_INVALID"


def test_tags_of_unknown_repository(registry):
    r = Client(registry).get("/v2/disc/nothing/tags/list")
    assert r.status_code == 404
    assert error_code(r) == "NAME_UNKNOWN"


# ------------------------------------------------------------------------ catalog

REPOS = ["alpha", "beta/one", "beta/two", "beta/two/three", "gamma-x", "gamma.y", "gamma_z",
         "zeta/a/b/c"]


def test_catalog(registry):
    c = Client(registry)
    for repo in REPOS:
        c.push_image(repo, "v1", repo)
    r = c.get("/v2/_catalog")
    assert r.status_code == 200
    assert r.json() == {"repositories": sorted(REPOS)}
    assert "Link" not in r.headers


def test_catalog_pagination(registry):
    c = Client(registry)
    for repo in REPOS:
        c.push_image(repo, "v1", repo)
    for n in (1, 2, 3, 7, 8, 9):
        r = c.get("/v2/_catalog", params={"n": n})
        assert r.status_code == 200
        assert r.json()["repositories"] == sorted(REPOS)[:n]
        if n < len(REPOS):
            link = next_link(c, r)
            assert link is not None and "/v2/_catalog?" in link, n
        else:
            assert "Link" not in r.headers, n
        pages = walk(c, f"{c.base}/v2/_catalog?n={n}", "repositories")
        assert [x for p in pages for x in p] == sorted(REPOS), n
        assert all(len(p) == n for p in pages[:-1]), n


def test_catalog_last(registry):
    c = Client(registry)
    for repo in REPOS:
        c.push_image(repo, "v1", repo)
    r = c.get("/v2/_catalog", params={"n": 2, "last": "beta/one"})
    assert r.json()["repositories"] == ["beta/two", "beta/two/three"]
    assert next_link(c, r) is not None
    r = c.get("/v2/_catalog", params={"n": 100, "last": "gamma.y"})
    assert r.json()["repositories"] == ["gamma_z", "zeta/a/b/c"]
    assert "Link" not in r.headers


def test_catalog_n_zero(registry):
    c = Client(registry)
    c.push_image("only", "v1", "only")
    r = c.get("/v2/_catalog", params={"n": 0})
    assert r.status_code == 200
    assert r.json()["repositories"] == []


@pytest.mark.berth_only  # Distribution lists every repository directory, including
# those that only hold blobs or uploads.
def test_catalog_lists_only_repositories_with_manifests(registry):
    c = Client(registry)
    c.push_image("with/manifest", "v1", "with")
    c.push_blob("only/blobs", b"a blob")
    c.start_upload("only/upload")
    assert c.get("/v2/_catalog").json()["repositories"] == ["with/manifest"]


# ------------------------------------------------------------------------ referrers

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"


def push_referrers(c: Client, repo: str):
    """A subject image and four referrers to it: two artifacts (one annotated), an image
    manifest without artifactType (falls back to its config's media type) and an index."""
    subject = c.push_image(repo, "v1", f"{repo}-subject")
    p1, p2 = blob("sbom-payload"), blob("sig-payload")
    c.push_blobs(repo, empty_blob(), p1, p2)
    sbom = artifact_manifest(SBOM, subject, p1, annotations={
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.format": "json"})
    sig = artifact_manifest(SIG, subject, p2)
    config = config_blob("typed", "application/vnd.example.config.v1+json")
    c.push_blob(repo, config)
    plain = image_manifest(config, [p1], subject=subject)
    for m in (sbom, sig, plain):
        c.push_manifest(repo, m.digest, m)
    doc = json.loads(index_manifest([sig]).data)
    doc["subject"] = subject.descriptor()
    doc["annotations"] = {"org.example.kind": "bundle"}
    idx = Blob(OCI_INDEX, json.dumps(doc, indent=1).encode())
    c.push_manifest(repo, idx.digest, idx)
    return subject, {"sbom": sbom, "sig": sig, "plain": plain, "index": idx}


def referrers(c: Client, repo: str, digest: str, **params):
    r = c.get(f"/v2/{repo}/referrers/{digest}", params=params or None)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == OCI_INDEX
    body = r.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    return r, {d["digest"]: d for d in body["manifests"]}


@pytest.mark.berth_only  # Distribution 2.8 has no referrers API (404 page not found).
def test_referrers(registry):
    c = Client(registry)
    subject, refs = push_referrers(c, "ref/app")
    r, got = referrers(c, "ref/app", subject.digest)
    assert "OCI-Filters-Applied" not in r.headers
    assert set(got) == {m.digest for m in refs.values()}
    for name, m in refs.items():
        d = got[m.digest]
        assert d["mediaType"] == m.media_type
        assert d["size"] == len(m.data)
    assert got[refs["sbom"].digest]["artifactType"] == SBOM
    assert got[refs["sbom"].digest]["annotations"] == {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.format": "json"}
    assert got[refs["sig"].digest]["artifactType"] == SIG
    assert not got[refs["sig"].digest].get("annotations")
    # No artifactType: the config's media type stands in.
    assert got[refs["plain"].digest]["artifactType"] == "application/vnd.example.config.v1+json"
    assert got[refs["index"].digest]["annotations"] == {"org.example.kind": "bundle"}


@pytest.mark.berth_only
def test_referrers_index_without_artifact_type_omits_it(registry):
    """Spec: for an index without artifactType, the descriptor's artifactType is omitted."""
    c = Client(registry)
    subject = c.push_image("ref/idx", "v1", "ref-idx")
    doc = json.loads(index_manifest([subject]).data)
    doc["subject"] = subject.descriptor()
    idx = Blob(OCI_INDEX, json.dumps(doc).encode())
    r = c.push_manifest("ref/idx", idx.digest, idx)
    assert r.headers["OCI-Subject"] == subject.digest
    _, got = referrers(c, "ref/idx", subject.digest)
    assert list(got) == [idx.digest]
    assert "artifactType" not in got[idx.digest]


@pytest.mark.berth_only
def test_referrers_filtered_by_artifact_type(registry):
    c = Client(registry)
    subject, refs = push_referrers(c, "ref/filter")
    r, got = referrers(c, "ref/filter", subject.digest, artifactType=SIG)
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert list(got) == [refs["sig"].digest]
    assert got[refs["sig"].digest]["artifactType"] == SIG
    r, got = referrers(c, "ref/filter", subject.digest, artifactType="application/x-none")
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert got == {}


@pytest.mark.berth_only
def test_referrers_of_a_digest_without_referrers(registry):
    c = Client(registry)
    subject, refs = push_referrers(c, "ref/empty")
    for digest in (refs["sbom"].digest,      # exists, has no referrers
                   sha256(b"never pushed")):  # unknown
        r, got = referrers(c, "ref/empty", digest)
        assert got == {}
        assert r.json()["manifests"] == []
    # A repository that does not exist: still an empty index, never 404.
    r, got = referrers(c, "ref/never-pushed", subject.digest)
    assert got == {}


@pytest.mark.berth_only
def test_referrers_are_per_repository(registry):
    c = Client(registry)
    subject, _ = push_referrers(c, "ref/one")
    # The same subject (same seed, same digest) pushed to a second repository has no
    # referrers there.
    again = c.push_image("ref/two", "v1", "ref/one-subject")
    assert again.digest == subject.digest
    _, got = referrers(c, "ref/two", subject.digest)
    assert got == {}


@pytest.mark.berth_only
def test_deleted_referrer_disappears(registry):
    c = Client(registry)
    subject, refs = push_referrers(c, "ref/del")
    r = c.delete(c.manifest_url("ref/del", refs["sbom"].digest))
    assert r.status_code == 202
    _, got = referrers(c, "ref/del", subject.digest)
    assert refs["sbom"].digest not in got
    assert len(got) == len(refs) - 1


@pytest.mark.berth_only
def test_referrers_with_invalid_digest_is_400(registry):
    c = Client(registry)
    for bad in ("sha256:xyz", "v1", "sha256:" + "A" * 64):
        r = c.get(f"/v2/ref/bad/referrers/{bad}")
        assert r.status_code == 400, (bad, r.status_code)
        assert error_code(r) == "DIGEST_INVALID"


@pytest.mark.berth_only
def test_referrer_pushed_before_its_subject(registry):
    c = Client(registry)
    later = image_manifest(config_blob("later"), [])
    payload = blob("early-sig")
    c.push_blobs("ref/early", empty_blob(), payload)
    sig = artifact_manifest(SIG, later, payload)
    r = c.push_manifest("ref/early", sig.digest, sig)
    assert r.headers["OCI-Subject"] == later.digest
    _, got = referrers(c, "ref/early", later.digest)
    assert list(got) == [sig.digest]
