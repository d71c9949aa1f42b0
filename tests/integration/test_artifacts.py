"""Repositories, artifacts and tags through Harbor's API against the real binary, with
`harborapi` as any Harbor client would use it: images pushed with skopeo are listed with
their tags, sizes, platforms and config; tags are added and removed; an artifact is copied
to another project (same digest, pullable there); deleting an artifact or a repository is
seen through `/v2`; and roles decide who may do what."""

from __future__ import annotations

import pytest
import requests
from harborapi.models import (ProjectReq, Repository, Tag, WebhookPolicy,
                              WebhookTargetObject)

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, GUEST, Harbor, add_user
from test_auth import admin_password
from webhooks import Receiver

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def manifest_status(reg, repo, ref, password):
    return requests.get(f"{reg.url}/v2/{repo}/manifests/{ref}", auth=("admin", password),
                        headers={"Accept": "application/vnd.oci.image.index.v1+json,"
                                           "application/vnd.oci.image.manifest.v1+json"},
                        timeout=30).status_code


def test_artifacts_are_listed_tagged_copied_and_deleted(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for name in ("team", "prod"):
        admin.create_project(ProjectReq(project_name=name))
    creds = f"--dest-creds=admin:{password}"
    single = im.build_image(workdir / "single", seed="artifact-single")
    multi = im.build_multiarch(workdir / "multi", seed="artifact-multi")
    im.copy(single.ref, f"docker://{reg.host}/team/app/api:v1", creds)
    im.copy(f"oci:{workdir / 'multi'}:latest", f"docker://{reg.host}/team/app/api:multi",
            creds, "--all")
    im.copy(single.ref, f"docker://{reg.host}/team/web:v1", creds)

    repos = admin.get_repositories("team")
    assert [r.name for r in repos] == ["team/web", "team/app/api"], "Harbor's order: newest first"
    by_name = admin.get_repositories("team", sort="name")
    assert [r.name for r in by_name] == ["team/app/api", "team/web"]
    r = requests.get(f"{reg.url}/api/v2.0/projects/team/repositories", params={"sort": "size"},
                     auth=("admin", password), timeout=30)
    assert r.status_code == 400 and "sort by one of" in r.text, r.text
    api_repo = admin.get_repository("team", "app/api")
    assert api_repo.artifact_count == 2, "the image and the index; not the index's children"
    assert api_repo.project_id == admin.get_project("team").project_id
    admin.update_repository("team", "app/api", Repository(description="the API"))
    assert admin.get_repository("team", "app/api").description == "the API"

    artifacts = admin.get_artifacts("team", "app/api")
    assert len(artifacts) == 2
    by_tag = {a.tags[0].name: a for a in artifacts}
    index = by_tag["multi"]
    assert index.manifest_media_type == "application/vnd.oci.image.index.v1+json"
    assert sorted(r.platform.architecture for r in index.references) == ["amd64", "arm64"]
    image = by_tag["v1"]
    assert image.type == "IMAGE"
    assert image.media_type == "application/vnd.oci.image.config.v1+json"
    assert image.extra_attrs.root["os"] == "linux"
    stored = sum(len(b) for b in im.layout_blobs(workdir / "single").values())
    assert image.size == stored, "manifest, config and layers, each once"

    # A project's artifacts span its repositories; the latest push of each, one apiece.
    in_team = admin.get_project_artifacts("team", with_tag=True, page_size=50)
    assert sorted((a.repository_name, a.tags[0].name) for a in in_team) == [
        ("team/app/api", "multi"), ("team/app/api", "v1"), ("team/web", "v1")]
    # (harborapi's `latest=` is not Harbor's parameter name.)
    latest = requests.get(f"{reg.url}/api/v2.0/projects/team/artifacts",
                          params={"latest_in_repository": "true"}, auth=("admin", password),
                          timeout=30).json()
    assert sorted(a["repository_name"] for a in latest) == ["team/app/api", "team/web"]
    same = admin.get_project_artifacts("team", query=f"digest={image.digest}", page_size=50)
    assert sorted(a.repository_name for a in same) == ["team/app/api", "team/web"]

    # Tags: added through the API, seen through /v2; removed again.
    admin.create_artifact_tag("team", "app/api", image.digest, Tag(name="stable"))
    assert manifest_status(reg, "team/app/api", "stable", password) == 200
    assert sorted(t.name for t in admin.get_artifact_tags("team", "app/api", "v1")) == ["stable", "v1"]
    r = requests.post(f"{reg.url}/api/v2.0/projects/team/repositories/app%252Fapi/artifacts/v1/tags",
                      auth=("admin", password), json={"name": "stable"}, timeout=30)
    assert r.status_code == 409, r.text
    r = requests.post(f"{reg.url}/api/v2.0/projects/team/repositories/app%252Fapi/artifacts/v1/tags",
                      auth=("admin", password), json={"name": "no good!"}, timeout=30)
    assert r.status_code == 400, r.text
    admin.delete_artifact_tag("team", "app/api", "v1", "stable")
    assert manifest_status(reg, "team/app/api", "stable", password) == 404

    # Copied to another project by tag: the same digest, index children included.
    admin.copy_artifact("prod", "api", "team/app/api:multi")
    copied = admin.get_artifact("prod", "api", "multi")
    assert copied.digest == index.digest
    for child in index.references:
        assert manifest_status(reg, "prod/api", child.child_digest, password) == 200
    im.copy(f"docker://{reg.host}/prod/api:multi", f"oci:{workdir / 'back'}:x",
            f"--src-creds=admin:{password}", "--all")
    r = requests.post(f"{reg.url}/api/v2.0/projects/prod/repositories/api/artifacts",
                      params={"from": "team/app/api:nope"}, auth=("admin", password), timeout=30)
    assert r.status_code == 404, r.text

    # Deleting the index takes its children; deleting a repository empties it.
    admin.delete_artifact("team", "app/api", "multi")
    assert manifest_status(reg, "team/app/api", index.digest, password) == 404
    for child in index.references:
        assert manifest_status(reg, "team/app/api", child.child_digest, password) == 404
    assert manifest_status(reg, "team/app/api", "v1", password) == 200
    admin.delete_repository("team", "web")
    assert manifest_status(reg, "team/web", "v1", password) == 404
    assert [r.name for r in admin.get_repositories("team")] == ["team/app/api"]
    r = requests.get(f"{reg.url}/api/v2.0/projects/team/repositories/web", auth=("admin", password),
                     timeout=30)
    assert r.status_code == 404


def test_repositories_across_projects_and_search_show_only_what_the_caller_sees(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    admin.create_project(ProjectReq(project_name="open", metadata={"public": "true"}))
    admin.create_project(ProjectReq(project_name="secret"))
    add_user(reg, "dev", "dev-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    image = im.build_image(workdir / "img", seed="repositories-across")
    creds = f"--dest-creds=admin:{password}"
    for repo in ("team/app", "open/app", "open/tools", "secret/app"):
        im.copy(image.ref, f"docker://{reg.host}/{repo}:v1", creds)

    everything = admin.get_repositories(page_size=50)
    assert [r.name for r in everything] == ["secret/app", "open/tools", "open/app", "team/app"]
    dev = Harbor(reg, "dev", "dev-password")
    assert sorted(r.name for r in dev.get_repositories(page_size=50)) == [
        "open/app", "open/tools", "team/app"], "the public project and his own; not secret"
    anonymous = requests.get(f"{reg.url}/api/v2.0/repositories", timeout=30)
    assert anonymous.status_code == 200, anonymous.text
    assert sorted(r["name"] for r in anonymous.json()) == ["open/app", "open/tools"]
    assert anonymous.headers["X-Total-Count"] == "2"
    secret_id = admin.get_project("secret").project_id
    only = admin.get_repositories(query=f"project_id={secret_id}")
    assert [(r.name, r.project_id) for r in only] == [("secret/app", secret_id)]
    paged = requests.get(f"{reg.url}/api/v2.0/repositories",
                         params={"page": 2, "page_size": 1, "sort": "name"},
                         auth=("admin", password), timeout=30)
    assert [r["name"] for r in paged.json()] == ["open/tools"]
    assert 'rel="next"' in paged.headers["Link"] and 'rel="prev"' in paged.headers["Link"]

    found = dev.search("app")
    assert sorted(r.repository_name for r in found.repository) == ["open/app", "team/app"]
    assert found.project == [], "no project name contains 'app'"
    [open_app] = [r for r in found.repository if r.project_name == "open"]
    assert open_app.project_public and open_app.artifact_count == 1
    projects = admin.search("e")
    assert sorted(p.name for p in projects.project) == ["open", "secret", "team"]
    r = requests.get(f"{reg.url}/api/v2.0/search", timeout=30)
    assert r.status_code == 422 and "q is required" in r.text, r.text
    r = requests.get(f"{reg.url}/api/v2.0/search", params={"q": "app"}, timeout=30)
    assert [x["repository_name"] for x in r.json()["repository"]] == ["open/app"]
    # A project's artifacts are refused to whoever may not list them.
    r = requests.get(f"{reg.url}/api/v2.0/projects/secret/artifacts", auth=("dev", "dev-password"),
                     timeout=30)
    assert r.status_code == 403, r.text


def test_changes_through_the_api_reach_webhook_policies(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for name in ("team", "prod"):
        admin.create_project(ProjectReq(project_name=name))
    receiver = Receiver().start()
    try:
        for project in ("team", "prod"):
            admin.create_webhook_policy(project, WebhookPolicy(
                name="all", enabled=True, event_types=["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
                targets=[WebhookTargetObject(type="http", address=receiver.url)]))
        image = im.build_image(workdir / "img", seed="artifact-events")
        im.copy(image.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
        admin.copy_artifact("prod", "app", "team/app:v1")
        admin.delete_artifact("team", "app", "v1")

        def seen(bodies):
            return {(b["type"], b["event_data"]["repository"]["repo_full_name"])
                    for _, b in bodies}
        want = {("PUSH_ARTIFACT", "team/app"), ("PUSH_ARTIFACT", "prod/app"),
                ("DELETE_ARTIFACT", "team/app")}
        bodies = receiver.wait_for(lambda b: want <= seen(b), read=receiver.bodies)
        [copied] = [b for _, b in bodies if b["event_data"]["repository"]["repo_full_name"] == "prod/app"]
        assert copied["operator"] == "admin"
        assert copied["event_data"]["resources"][0]["tag"] == "v1", "the copy keeps its tags"
    finally:
        receiver.stop()


def test_roles_decide_who_reads_tags_and_deletes(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    add_user(reg, "dev", "dev-password")
    add_user(reg, "guest", "guest-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "guest", GUEST)
    image = im.build_image(workdir / "img", seed="artifact-roles")
    im.copy(image.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
    base = f"{reg.url}/api/v2.0/projects/team/repositories/app"
    guest, dev = ("guest", "guest-password"), ("dev", "dev-password")
    assert requests.get(f"{base}/artifacts", auth=guest, timeout=30).status_code == 200
    assert requests.get(f"{base}/artifacts", timeout=30).status_code == 401
    r = requests.post(f"{base}/artifacts/v1/tags", auth=guest, json={"name": "x"}, timeout=30)
    assert r.status_code == 403, r.text
    r = requests.post(f"{base}/artifacts/v1/tags", auth=dev, json={"name": "x"}, timeout=30)
    assert r.status_code == 201, r.text
    assert requests.delete(f"{base}/artifacts/v1", auth=dev, timeout=30).status_code == 403
    assert requests.delete(base, auth=dev, timeout=30).status_code == 403
    assert manifest_status(reg, "team/app", "v1", password) == 200, "nothing was deleted"
    # A copy needs pull on the source: the developer cannot copy from a project he is
    # not in.
    admin.create_project(ProjectReq(project_name="secret"))
    im.copy(image.ref, f"docker://{reg.host}/secret/app:v1", f"--dest-creds=admin:{password}")
    r = requests.post(f"{base}/artifacts", params={"from": "secret/app:v1"}, auth=dev, timeout=30)
    assert r.status_code == 403, r.text
