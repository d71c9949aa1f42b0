"""Deleting manifests and tags over HTTP, and what a registry with deletes disabled says.

Runs against Distribution too (REGISTRY_TARGET=distribution)."""

import json

from oci import DOCKER_MANIFEST, Client, error_code, index_manifest, sha256


def test_delete_manifest_by_digest(registry):
    c = Client(registry)
    gone = c.push_image("del/app", "v1", "del-v1")
    kept = c.push_image("del/app", "v2", "del-v2")
    r = c.delete(c.manifest_url("del/app", gone.digest))
    assert r.status_code == 202
    for ref in (gone.digest, "v1"):
        r = c.get_manifest("del/app", ref)
        assert r.status_code == 404, ref
        assert error_code(r) == "MANIFEST_UNKNOWN"
        assert c.get_manifest("del/app", ref, method="HEAD").status_code == 404
    # The tag that pointed at it is gone from the list; the other manifest is untouched.
    assert c.tags("del/app") == ["v2"]
    assert c.get_manifest("del/app", "v2").content == kept.data
    # Deleting it again: it is not there.
    r = c.delete(c.manifest_url("del/app", gone.digest))
    assert r.status_code == 404
    assert error_code(r) == "MANIFEST_UNKNOWN"


def test_delete_removes_every_tag_of_the_manifest(registry):
    c = Client(registry)
    m = c.push_image("del/tags", "a", "del-tags")
    for tag in ("b", "c", "latest"):
        c.push_manifest("del/tags", tag, m)
    other = c.push_image("del/tags", "other", "del-other")
    assert c.delete(c.manifest_url("del/tags", m.digest)).status_code == 202
    assert c.tags("del/tags") == ["other"]
    for tag in ("a", "b", "c", "latest"):
        assert c.get_manifest("del/tags", tag).status_code == 404, tag
    assert c.get_manifest("del/tags", "other").content == other.data


def test_delete_unknown_manifest(registry):
    c = Client(registry)
    c.push_image("del/known", "v1", "del-known")
    for repo in ("del/known", "del/never-pushed"):
        r = c.delete(c.manifest_url(repo, sha256(b"never pushed")))
        assert r.status_code == 404, repo
        assert error_code(r) == "MANIFEST_UNKNOWN"


def test_delete_then_push_again(registry):
    c = Client(registry)
    m = c.push_image("del/again", "v1", "del-again", media_type=DOCKER_MANIFEST)
    assert c.delete(c.manifest_url("del/again", m.digest)).status_code == 202
    c.push_manifest("del/again", "v1", m)
    r = c.get_manifest("del/again", "v1")
    assert r.status_code == 200
    assert r.content == m.data


def test_delete_index_keeps_its_children(registry):
    c = Client(registry)
    children = [c.push_image("del/index", None, f"del-child-{i}") for i in range(2)]
    idx = index_manifest(children)
    c.push_manifest("del/index", "multi", idx)
    assert c.delete(c.manifest_url("del/index", idx.digest)).status_code == 202
    assert c.get_manifest("del/index", "multi").status_code == 404
    for child in children:
        assert c.get_manifest("del/index", child.digest).content == child.data


def test_delete_by_tag(registry):
    """berth (docs/api.md): DELETE by tag removes that tag only (202). Distribution 2.8
    does not delete tags this way: 400 DIGEST_INVALID, which the spec allows ("if tag
    deletion is disabled, 400 or 405"), and the tag stays."""
    c = Client(registry)
    m = c.push_image("del/bytag", "v1", "del-bytag")
    c.push_manifest("del/bytag", "v1-alias", m)
    r = c.delete(c.manifest_url("del/bytag", "v1"))
    if registry.kind == "distribution":
        assert r.status_code == 400
        assert error_code(r) == "DIGEST_INVALID"
        assert sorted(c.tags("del/bytag")) == ["v1", "v1-alias"]
        return
    assert r.status_code == 202
    r = c.get_manifest("del/bytag", "v1")
    assert r.status_code == 404
    assert error_code(r) == "MANIFEST_UNKNOWN"
    # Only the tag went: the manifest and its other tag are still there.
    assert c.tags("del/bytag") == ["v1-alias"]
    assert c.get_manifest("del/bytag", m.digest).content == m.data
    assert c.get_manifest("del/bytag", "v1-alias").content == m.data
    # The tag is no longer there to delete.
    r = c.delete(c.manifest_url("del/bytag", "v1"))
    assert r.status_code == 404
    assert error_code(r) == "MANIFEST_UNKNOWN"


def test_deletes_disabled(make_registry):
    reg = make_registry(delete=False)
    c = Client(reg)
    m = c.push_image("del/off", "v1", "del-off")
    config_digest = json.loads(m.data)["config"]["digest"]
    for url in (c.manifest_url("del/off", m.digest), c.manifest_url("del/off", "v1"),
                c.blob_url("del/off", config_digest)):
        r = c.delete(url)
        assert r.status_code == 405, (url, r.status_code, r.text)
        assert error_code(r) == "UNSUPPORTED"
    # Nothing was removed.
    assert c.tags("del/off") == ["v1"]
    assert c.get_manifest("del/off", "v1").content == m.data
    assert c.head(c.blob_url("del/off", config_digest)).status_code == 200
