"""The API version check and paths outside the API.

Runs against Distribution too (REGISTRY_TARGET=distribution)."""

import pytest

from oci import Client, error_code


def test_version_check(registry):
    c = Client(registry)
    r = c.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json() == {}
    # The configured `http.headers` are sent too.
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    r = c.head("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.content == b""


def test_version_check_without_trailing_slash(registry):
    # Docker clients ping `/v2/`; `/v2` is either redirected there or answered directly.
    r = Client(registry).get("/v2")
    assert r.status_code in (200, 301, 308), r.status_code
    if r.status_code != 200:
        assert r.headers["Location"].endswith("/v2/")


@pytest.mark.parametrize("path", [
    "/v1/",
    "/v3/",
    "/v2/team/app",                       # a repository name with no endpoint after it
    "/v2/team/app/nothing/here",
    "/v2/team/app/tags",
    "/favicon.ico",
])
def test_unknown_paths_are_404(registry, path):
    r = Client(registry).get(path)
    assert r.status_code == 404, (path, r.status_code, r.text)


@pytest.mark.berth_only  # Distribution answers `GET /` with an empty 200 (a health page).
def test_root_is_404_with_an_error_envelope(make_registry):
    """registry:2 has nothing at `/`; berth has its web interface there unless
    `berth.ui.enabled` is false, and then answers as registry:2 does."""
    registry = make_registry(extra_config="berth:\n  ui:\n    enabled: false\n")
    r = Client(registry).get("/")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert error_code(r) == "NOT_FOUND"
    if registry.kind == "berth":
        for path in ("/sign-in", "/projects", "/static/style.css"):
            assert Client(registry).get(path).status_code == 404, path


@pytest.mark.berth_only
def test_root_is_the_web_interface(registry):
    r = Client(registry).get("/", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in"
    page = Client(registry).get("/sign-in")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    # Without authentication nobody can sign in: the page says how to add users.
    assert "auth: {local: {}}" in page.text


@pytest.mark.parametrize("path,status,code", [
    ("/v2/team/app/blobs/", 400, "DIGEST_INVALID"),
    # A manifest nobody can push is not there, as the spec's conformance tests expect.
    ("/v2/team/app/manifests/", 404, "MANIFEST_UNKNOWN"),
])
def test_empty_reference(registry, path, status, code):
    r = Client(registry).get(path)
    if registry.kind == "distribution":
        # Distribution's router matches no route: a plain-text `404 page not found`.
        assert r.status_code == 404
    else:
        # berth parses the empty reference and answers in the error envelope.
        assert r.status_code == status, r.text
        assert error_code(r) == code


def test_unknown_path_has_no_side_effects(registry):
    c = Client(registry)
    for method in ("PUT", "POST", "DELETE", "PATCH"):
        r = c.request(method, "/v2/team/app/nothing/here", data=b"x")
        assert r.status_code in (404, 405), (method, r.status_code)
    r = c.get("/v2/_catalog")
    assert r.status_code == 200
    assert r.json()["repositories"] == []
