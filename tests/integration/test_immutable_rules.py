"""Immutable-tag rules per project through Harbor's API against the real binary, managed
with `harborapi`: a covered tag is pushed once and then neither overwritten (skopeo is
refused, saying why) nor deleted, through `/v2` or the management API; listings mark it;
switching the rule off lifts it; bad rules are refused; who may manage them."""

from __future__ import annotations

import pytest
import requests
from harborapi.models import ImmutableRule, ImmutableSelector, ProjectReq

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, MAINTAINER, Harbor, add_user
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def rule(tags="v*", repos="**", tag_decoration="matches", repo_decoration="repoMatches"):
    return ImmutableRule(
        action="immutable", template="immutable_template",
        tag_selectors=[ImmutableSelector(kind="doublestar", decoration=tag_decoration,
                                         pattern=tags)],
        scope_selectors={"repository": [ImmutableSelector(
            kind="doublestar", decoration=repo_decoration, pattern=repos)]})


def test_a_covered_tag_is_neither_moved_nor_deleted(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    location = admin.create_project_immutable_tag_rule("team", rule(tags="{v,release-}*",
                                                                    repos="app/**"))
    rule_id = int(location.rsplit("/", 1)[1])
    [stored] = admin.get_project_immutable_tag_rules("team")
    assert stored.id == rule_id and stored.tag_selectors[0].pattern == "{v,release-}*"

    creds = f"--dest-creds=admin:{password}"
    first = im.build_image(workdir / "a", seed="immutable-a")
    second = im.build_image(workdir / "b", seed="immutable-b")
    for tag in ("v1", "latest"):
        im.copy(first.ref, f"docker://{reg.host}/team/app/api:{tag}", creds)
    im.copy(first.ref, f"docker://{reg.host}/team/web:v1", creds)

    refused = im.copy(second.ref, f"docker://{reg.host}/team/app/api:v1", creds, check=False)
    assert refused.returncode != 0 and "immutable" in refused.stderr
    im.copy(second.ref, f"docker://{reg.host}/team/app/api:latest", creds)
    im.copy(second.ref, f"docker://{reg.host}/team/web:v1", creds)  # web is not under app/**

    api = f"{reg.url}/api/v2.0/projects/team/repositories/app%252Fapi/artifacts"
    # Harbor's API answers 412; the registry API the spec's 403 DENIED.
    r = requests.delete(f"{api}/v1/tags/v1", auth=("admin", password), timeout=30)
    assert r.status_code == 412 and "immutable" in r.text, r.text
    assert r.json()["errors"][0]["code"] == "PRECONDITION"
    r = requests.delete(f"{api}/v1", auth=("admin", password), timeout=30)
    assert r.status_code == 412, r.text
    r = requests.delete(f"{reg.url}/api/v2.0/projects/team/repositories/app%252Fapi",
                        auth=("admin", password), timeout=30)
    assert r.status_code == 412, r.text
    r = requests.delete(f"{reg.url}/v2/team/app/api/manifests/v1", auth=("admin", password),
                        timeout=30)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED", r.text
    tags = {t.name: t.immutable for t in admin.get_artifact_tags("team", "app/api", "v1")}
    assert tags == {"v1": True}

    # Switched off (harborapi sends only `disabled`), the tag may move again.
    admin.enable_project_immutable_tagrule("team", rule_id, False)
    assert admin.get_project_immutable_tag_rules("team")[0].disabled
    im.copy(second.ref, f"docker://{reg.host}/team/app/api:v1", creds)
    tags = {t.name: t.immutable for t in admin.get_artifact_tags("team", "app/api", "v1")}
    assert tags == {"latest": False, "v1": False}

    admin.delete_project_immutable_tag_rule("team", rule_id)
    assert admin.get_project_immutable_tag_rules("team") == []


def test_bad_rules_are_refused_and_roles_decide(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    api = f"{reg.url}/api/v2.0/projects/team/immutabletagrules"
    good = rule().model_dump(exclude_none=True)
    assert requests.post(api, auth=("admin", password), json=good, timeout=30).status_code == 201
    cases = [
        (rule(tag_decoration="nope").model_dump(exclude_none=True), 400, "matches or excludes"),
        (rule(repo_decoration="matches").model_dump(exclude_none=True), 400, "repoMatches"),
        (rule(tags="").model_dump(exclude_none=True), 400, "tag selector"),
        ({**good, "tag_selectors": []}, 400, "one tag selector"),
        ({**good, "action": "delete"}, 400, "immutable"),
        (good, 409, "has this rule"),
    ]
    for body, status, words in cases:
        r = requests.post(api, auth=("admin", password), json=body, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["errors"][0]["message"], r.text
    r = requests.get(api, auth=("admin", password), timeout=30)
    assert r.headers["X-Total-Count"] == "1", "nothing else was created"
    [stored] = r.json()
    r = requests.put(f"{api}/{stored['id']}", auth=("admin", password), timeout=30,
                     json={**good, "id": stored["id"] + 1})
    assert r.status_code == 400

    add_user(reg, "dev", "dev-password")
    add_user(reg, "lead", "lead-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "lead", MAINTAINER)
    assert requests.get(api, auth=("dev", "dev-password"), timeout=30).status_code == 403
    r = requests.post(api, auth=("lead", "lead-password"), timeout=30,
                      json=rule(tags="release-*").model_dump(exclude_none=True))
    assert r.status_code == 201, r.text
