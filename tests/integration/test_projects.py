"""Projects and roles: Harbor's access model through the real binary. A Harbor client
nobody here wrote (`harborapi`) manages projects and members; skopeo pulls, pushes and
deletes as each of Harbor's roles; anonymous pulls work for public projects only."""

from __future__ import annotations

import json
import os

import pytest
import requests
from harborapi.exceptions import Conflict, NotFound, PreconditionFailed, Unauthorized
from harborapi.models import ProjectMember, ProjectMetadata, ProjectReq, UserEntity

import images as im
from conftest import LOCAL_AUTH
from teams import (DEVELOPER, GUEST, LIMITED_GUEST, MAINTAINER, PROJECT_ADMIN, Harbor,
                   add_user)
from test_auth import admin_password, challenge, run_berth

pytestmark = pytest.mark.berth_only


def harbor(reg, user: str, password: str) -> Harbor:
    return Harbor(reg, user, password)


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def test_harbor_client_manages_projects_and_members(teams, workdir):
    reg = teams
    admin = harbor(reg, "admin", admin_password(reg))
    add_user(reg, "dev", "dev-password")

    admin.create_project(ProjectReq(project_name="team",
                                    metadata=ProjectMetadata(public="false")))
    assert admin.project_exists("team")
    assert not admin.project_exists("nothing")
    with pytest.raises(Conflict):
        admin.create_project(ProjectReq(project_name="team"))
    team = admin.get_project("team")
    assert (team.name, team.metadata.public, team.owner_name) == ("team", "false", "admin")
    assert admin.get_project(team.project_id).name == "team"

    # Paging: harborapi follows the Link header through pages of its own size.
    for i in range(12):
        admin.create_project(ProjectReq(project_name=f"many-{i:02}"))
    listed = admin.get_projects(name="many", page_size=5)
    assert [p.name for p in listed] == [f"many-{i:02}" for i in range(12)]
    r = requests.get(f"{reg.url}/api/v2.0/projects", params={"q": "name=~many-0", "page_size": 3},
                     auth=("admin", admin_password(reg)), timeout=30)
    assert r.headers["X-Total-Count"] == "10"
    assert r.headers["Link"] == ('</api/v2.0/projects?page=2&page_size=3&q=name=~many-0>; '
                                 'rel="next"')

    # Members: by name, listed, role changed, removed.
    admin.add_project_member("team", ProjectMember(role_id=DEVELOPER,
                                                  member_user=UserEntity(username="dev")))
    members = {m.entity_name: m for m in admin.get_project_members("team")}
    assert members["dev"].role_name == "developer" and members["dev"].entity_type == "u"
    assert members["admin"].role_id == PROJECT_ADMIN
    with pytest.raises(Conflict):
        admin.add_project_member_user("team", "dev", GUEST)
    admin.update_project_member_role("team", members["dev"].id, MAINTAINER)
    assert admin.get_project_member("team", members["dev"].id).role_name == "maintainer"
    summary = admin.get_project_summary("team")
    assert (summary.project_admin_count, summary.maintainer_count) == (1, 1)

    # The developer sees the project and their role in it; not the others (private).
    dev = harbor(reg, "dev", "dev-password")
    assert dev.get_current_user().username == "dev"
    assert [p.name for p in dev.get_projects()] == ["team"]
    assert dev.get_project("team").current_user_role_ids == [MAINTAINER]
    perms = {(p.resource, p.action) for p in
             dev.get_current_user_permissions(scope=f"/project/{team.project_id}", relative=True)}
    assert ("repository", "delete") in perms and ("member", "create") not in perms
    assert (".", "read") in perms and (".", "delete") not in perms, "the project itself is ."

    # A project holding a repository is not deleted (412), and says why.
    layout = im.build_image(workdir / "img", seed="projects")
    im.copy(layout.ref, f"docker://{reg.host}/team/app:v1", "--dest-creds=dev:dev-password")
    assert admin.get_project("team").repo_count == 1
    im.copy(layout.ref, f"docker://{reg.host}/team/app/web:v1", "--dest-creds=dev:dev-password")
    admin.create_project(ProjectReq(project_name="teamwork"))
    im.copy(layout.ref, f"docker://{reg.host}/teamwork/app:v1",
            f"--dest-creds=admin:{admin_password(reg)}")
    # A listing counts each project's repositories (below `team/`, not `teamwork`).
    counts = {p.name: p.repo_count for p in admin.get_projects()}
    assert (counts["team"], counts["teamwork"]) == (2, 1), counts
    im.skopeo("delete", "--tls-verify=false", "--creds=dev:dev-password",
              f"docker://{reg.host}/team/app/web:v1")
    im.skopeo("delete", "--tls-verify=false", f"--creds=admin:{admin_password(reg)}",
              f"docker://{reg.host}/teamwork/app:v1")
    admin.delete_project("teamwork")
    assert not admin.get_project_deletable("team").deletable
    with pytest.raises(PreconditionFailed):
        admin.delete_project("team")
    im.skopeo("delete", "--tls-verify=false", "--creds=dev:dev-password",
              f"docker://{reg.host}/team/app:v1")
    assert admin.get_project_deletable("team").deletable, "its only manifest is gone"

    admin.remove_project_member("team", members["dev"].id)
    assert [p.name for p in dev.get_projects()] == []
    admin.delete_project("many-00")
    with pytest.raises(NotFound):
        admin.get_project("many-00")
    admin.delete_project("team")
    admin.create_project(ProjectReq(project_name="team"))

    info = admin.get_system_info()
    assert info.auth_mode == "db_auth" and info.project_creation_restriction == "everyone"
    stats = admin.get_statistics()
    assert stats.total_project_count == 12 and stats.private_project_count == 12
    with pytest.raises(Unauthorized):
        harbor(reg, "dev", "wrong-password").get_projects()


ACTIONS = ["pull", "push", "delete", "list members", "add members"]
# Harbor's table (src/common/rbac/project/rbac_role.go) for these actions.
ALLOWED = {
    PROJECT_ADMIN: {"pull", "push", "delete", "list members", "add members"},
    MAINTAINER: {"pull", "push", "delete", "list members"},
    DEVELOPER: {"pull", "push", "list members"},
    GUEST: {"pull", "list members"},
    LIMITED_GUEST: {"pull"},
    None: set(),
}


def test_each_role_may_do_exactly_what_harbor_allows(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    layout = im.build_image(workdir / "img", seed="roles")
    base = f"docker://{reg.host}/team"
    im.copy(layout.ref, f"{base}/base:v1", f"--dest-creds=admin:{password}")
    add_user(reg, "newcomer", "newcomer-password")
    seen = {}
    for role in ALLOWED:
        user = f"user-{role or 'none'}"
        add_user(reg, user, f"{user}-password")
        if role is not None:
            admin.add_project_member_user("team", user, role)
        creds = f"{user}:{user}-password"
        victim = f"{base}/victim-{role or 'none'}:v1"
        im.copy(layout.ref, victim, f"--dest-creds=admin:{password}")
        done = set()
        if im.skopeo("inspect", "--tls-verify=false", f"--creds={creds}", f"{base}/base:v1",
                     check=False).returncode == 0:
            done.add("pull")
        if im.copy(layout.ref, f"{base}/pushed-{role or 'none'}:v1", f"--dest-creds={creds}",
                   check=False).returncode == 0:
            done.add("push")
        if im.skopeo("delete", "--tls-verify=false", f"--creds={creds}", victim,
                     check=False).returncode == 0:
            done.add("delete")
        api = f"{reg.url}/api/v2.0/projects/team/members"
        listed = requests.get(api, auth=(user, f"{user}-password"), timeout=30)
        if listed.status_code == 200:
            done.add("list members")
        else:
            assert listed.status_code == 403, listed.text
        added = requests.post(api, auth=(user, f"{user}-password"), timeout=30,
                              json={"role_id": GUEST, "member_user": {"username": "newcomer"}})
        if added.status_code == 201:
            done.add("add members")
            requests.delete(f"{reg.url}{added.headers['Location']}", auth=("admin", password),
                            timeout=30).raise_for_status()
        else:
            assert added.status_code == 403, added.text
        seen[role] = done
    assert seen == ALLOWED


def test_refusals_say_which_permission_is_missing(teams):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    add_user(reg, "tess", "tess-password")
    admin.add_project_member_user("team", "tess", GUEST)
    # A guest asking for push gets a token for pull only; a push with it is refused.
    r = requests.get(f"{reg.url}/auth/token", auth=("tess", "tess-password"), timeout=30,
                     params={"service": "test-registry", "scope": "repository:team/app:pull,push"})
    assert r.status_code == 200
    # Basic credentials straight on /v2 get the decision's own words.
    r = requests.post(f"{reg.url}/v2/team/app/blobs/uploads/", auth=("tess", "tess-password"),
                      timeout=30)
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "tess is guest in project team" in r.text and "developer" in r.text
    # A project that does not exist is named as such.
    r = requests.post(f"{reg.url}/v2/elsewhere/app/blobs/uploads/", auth=("tess", "tess-password"),
                      timeout=30)
    assert r.status_code == 403 and "project elsewhere does not exist" in r.text


def test_public_projects_pull_anonymously_private_ones_challenge(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="open", metadata=ProjectMetadata(public="true")))
    admin.create_project(ProjectReq(project_name="closed"))
    layout = im.build_image(workdir / "img", seed="public")
    for project in ("open", "closed"):
        im.copy(layout.ref, f"docker://{reg.host}/{project}/app:v1", f"--dest-creds=admin:{password}")
    # skopeo without credentials: the public one pulls.
    im.skopeo("inspect", "--tls-verify=false", f"docker://{reg.host}/open/app:v1")
    failed = im.skopeo("inspect", "--tls-verify=false", f"docker://{reg.host}/closed/app:v1",
                       check=False)
    assert failed.returncode != 0
    r = requests.get(f"{reg.url}/v2/closed/app/manifests/v1", timeout=30)
    assert r.status_code == 401
    assert challenge(r)["scope"] == "repository:closed/app:pull"
    # An anonymous token names the public repository's pull only.
    t = requests.get(f"{reg.url}/auth/token", timeout=30, params={
        "service": "test-registry",
        "scope": ["repository:open/app:pull,push", "repository:closed/app:pull"]}).json()
    r = requests.get(f"{reg.url}/v2/open/app/manifests/v1", timeout=30,
                     headers={"Authorization": f"Bearer {t['token']}",
                              "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200
    r = requests.get(f"{reg.url}/v2/closed/app/manifests/v1", timeout=30,
                     headers={"Authorization": f"Bearer {t['token']}"})
    assert r.status_code == 401
    # Anonymous callers of the API see the public project only.
    listed = requests.get(f"{reg.url}/api/v2.0/projects", timeout=30).json()
    assert [p["name"] for p in listed] == ["open"]
    assert requests.get(f"{reg.url}/api/v2.0/projects/closed", timeout=30).status_code == 401


def test_catalog_shows_what_the_caller_may_pull(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    for name in ("alpha", "beta", "gamma"):
        admin.create_project(ProjectReq(project_name=name))
    layout = im.build_image(workdir / "img", seed="catalog")
    for name in ("alpha", "beta", "gamma"):
        im.copy(layout.ref, f"docker://{reg.host}/{name}/app:v1", f"--dest-creds=admin:{password}")
    add_user(reg, "gus", "gus-password")
    admin.add_project_member_user("beta", "gus", LIMITED_GUEST)
    r = requests.get(f"{reg.url}/v2/_catalog", auth=("gus", "gus-password"), timeout=30)
    assert r.json()["repositories"] == ["beta/app"]
    r = requests.get(f"{reg.url}/v2/_catalog", auth=("admin", password), timeout=30)
    assert r.json()["repositories"] == ["alpha/app", "beta/app", "gamma/app"]
    # With paging, the filter holds across pages.
    r = requests.get(f"{reg.url}/v2/_catalog?n=1", auth=("gus", "gus-password"), timeout=30)
    assert r.json()["repositories"] == ["beta/app"] and "Link" not in r.headers


def test_a_push_to_a_missing_project(make_registry, workdir):
    layout = im.build_image(workdir / "img", seed="missing")
    # By default only administrators' pushes create projects.
    reg = make_registry(extra_config=LOCAL_AUTH)
    add_user(reg, "ursula", "ursula-password")
    refused = im.copy(layout.ref, f"docker://{reg.host}/newteam/app:v1",
                      "--dest-creds=ursula:ursula-password", check=False)
    assert refused.returncode != 0
    im.copy(layout.ref, f"docker://{reg.host}/adminteam/app:v1",
            f"--dest-creds=admin:{admin_password(reg)}")
    created = harbor(reg, "admin", admin_password(reg)).get_project("adminteam")
    assert created.repo_count == 1 and created.metadata.public == "false"
    reg.stop()
    # With autocreate, the pusher's first push creates the project and makes them its admin.
    reg = make_registry(extra_config=LOCAL_AUTH + "berth:\n  projects:\n    autocreate: true\n")
    add_user(reg, "ursula", "ursula-password")
    im.copy(layout.ref, f"docker://{reg.host}/newteam/app:v1",
            "--dest-creds=ursula:ursula-password")
    mine = harbor(reg, "ursula", "ursula-password").get_project("newteam")
    assert mine.current_user_role_ids == [PROJECT_ADMIN] and mine.owner_name == "ursula"


def test_only_administrators_create_projects_when_restricted(make_registry):
    reg = make_registry(extra_config=LOCAL_AUTH + "berth:\n  projects:\n    creation: adminonly\n")
    add_user(reg, "vic", "vic-password")
    r = requests.post(f"{reg.url}/api/v2.0/projects", auth=("vic", "vic-password"), timeout=30,
                      json={"project_name": "vics"})
    assert r.status_code == 403 and "adminonly" in r.text
    r = requests.post(f"{reg.url}/api/v2.0/projects", auth=("admin", admin_password(reg)),
                      timeout=30, json={"project_name": "vics"})
    assert r.status_code == 201 and r.headers["Location"].endswith("/api/v2.0/projects/1")
    info = requests.get(f"{reg.url}/api/v2.0/systeminfo", auth=("vic", "vic-password"),
                        timeout=30).json()
    assert info["project_creation_restriction"] == "adminonly"

    # Harbor's /configurations says the same, and where it comes from.
    admin = harbor(reg, "admin", admin_password(reg))
    config = admin.get_config()
    assert config.project_creation_restriction.value == "adminonly"
    assert config.project_creation_restriction.editable is False
    assert config.auth_mode.value == "db_auth" and config.token_expiration.value == 5
    assert config.robot_name_prefix.value == "robot$"
    api = f"{reg.url}/api/v2.0/configurations"
    auth = ("admin", admin_password(reg))
    # Restating the values (what declarative tools do) is fine; changing one is refused.
    r = requests.put(api, auth=auth, json={"project_creation_restriction": "adminonly",
                                           "token_expiration": "5", "self_registration": False},
                     timeout=30)
    assert r.status_code == 200, r.text
    r = requests.put(api, auth=auth, json={"project_creation_restriction": "everyone"}, timeout=30)
    assert r.status_code == 400 and "berth.projects.creation" in r.text, r.text
    r = requests.put(api, auth=auth, json={"uaa_endpoint": "x"}, timeout=30)
    assert r.status_code == 400 and "no setting" in r.text, r.text
    assert requests.get(api, auth=("vic", "vic-password"), timeout=30).status_code == 403
    assert requests.put(api, auth=("vic", "vic-password"), json={},
                        timeout=30).status_code == 403


def test_bad_requests_change_nothing(teams):
    reg = teams
    auth = ("admin", admin_password(reg))
    api = f"{reg.url}/api/v2.0"
    cases = [
        ({"project_name": "Upper"}, 400),
        ({"project_name": "a--b"}, 400),
        ({"project_name": "ok", "metadata": {"public": "maybe"}}, 400),
        ({"project_name": "ok", "storage_limit": -5}, 400),
        ({"project_name": "ok", "registry_id": 1}, 400),
    ]
    for body, status in cases:
        r = requests.post(f"{api}/projects", auth=auth, json=body, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["message"]
    r = requests.post(f"{api}/projects", auth=auth, data="{not json", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert requests.get(f"{api}/projects?page_size=500", auth=auth, timeout=30).status_code == 422
    assert requests.get(f"{api}/projects?q=name", auth=auth, timeout=30).status_code == 400
    assert requests.get(f"{api}/projects", auth=auth, timeout=30).json() == []
    requests.post(f"{api}/projects", auth=auth, json={"project_name": "team"},
                  timeout=30).raise_for_status()
    for body in [{"role_id": 9, "member_user": {"username": "admin"}},
                 {"role_id": 2, "member_user": {"username": "nobody"}},
                 {"role_id": 2}]:
        r = requests.post(f"{api}/projects/team/members", auth=auth, json=body, timeout=30)
        assert r.status_code in (400, 404), (body, r.text)
    assert len(requests.get(f"{api}/projects/team/members", auth=auth, timeout=30).json()) == 1
    assert requests.get(f"{api}/nowhere", auth=auth, timeout=30).status_code == 404


def test_project_settings_one_key_at_a_time(teams):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    add_user(reg, "boss", "boss-password")
    add_user(reg, "dev", "dev-password")
    admin.create_project(ProjectReq(project_name="team"))
    admin.add_project_member_user("team", "boss", PROJECT_ADMIN)
    admin.add_project_member_user("team", "dev", DEVELOPER)

    # harborapi's calls, as Harbor's clients make them.
    assert admin.get_project_metadata("team").public == "false"
    admin.set_project_metadata("team", ProjectMetadata(auto_scan="TRUE"))
    assert admin.get_project_metadata_entry("team", "auto_scan") == {"auto_scan": "true"}
    admin.update_project_metadata_entry("team", "public", {"public": "true"})
    assert admin.get_project("team").metadata.public == "true", "public is the visibility"
    assert requests.get(f"{reg.url}/v2/team/app/tags/list", timeout=30).status_code != 401
    admin.delete_project_metadata_entry("team", "auto_scan")
    with pytest.raises(NotFound):
        admin.get_project_metadata_entry("team", "auto_scan")

    api = f"{reg.url}/api/v2.0/projects/team/metadatas"
    boss, auth = ("boss", "boss-password"), ("admin", password)
    r = requests.post(f"{api}/", auth=boss, json={"severity": "High"}, timeout=30)
    assert r.status_code == 200, r.text
    assert requests.get(f"{api}/severity", auth=boss, timeout=30).json() == {"severity": "high"}
    refusals = [
        (requests.post, "/", {"severity": "low"}, 409),
        (requests.post, "/", {"auto_scan": "true", "prevent_vul": "true"}, 400),
        (requests.post, "/", {"prevent_vul": "sometimes"}, 400),
        (requests.post, "/", {"retention_id": "7"}, 400),
        (requests.post, "/", {"colour": "blue"}, 400),
        (requests.put, "/severity", {"prevent_vul": "true"}, 400),
        (requests.put, "/severity", {"severity": "dire"}, 400),
        (requests.delete, "/public", None, 400),
        (requests.delete, "/auto_scan", None, 404),
    ]
    for call, path, body, status in refusals:
        r = call(f"{api}{path}", auth=boss, json=body, timeout=30)
        assert r.status_code == status, (path, body, r.text)
        assert r.json()["errors"][0]["message"]
    assert requests.get(api, auth=auth, timeout=30).json() == {"public": "true",
                                                               "severity": "high"}
    # Harbor's role table: a developer reads a setting but changes none; listing them
    # all is for administrators (no project role holds metadata:list).
    dev = ("dev", "dev-password")
    assert requests.get(f"{api}/severity", auth=dev, timeout=30).status_code == 403
    assert requests.put(f"{api}/severity", auth=dev, json={"severity": "low"},
                        timeout=30).status_code == 403
    assert requests.get(api, auth=boss, timeout=30).status_code == 403
    assert requests.get(f"{api}/severity", auth=boss, timeout=30).json() == {"severity": "high"}


def test_ping_and_the_permissions_robots_may_hold(teams):
    reg = teams
    password = admin_password(reg)
    admin = harbor(reg, "admin", password)
    assert admin.ping() == "Pong"
    r = requests.get(f"{reg.url}/api/v2.0/ping", timeout=30)
    assert (r.status_code, r.text) == (200, "Pong")
    everything = admin.get_permissions()
    system = {(p.resource, p.action) for p in everything.system}
    project = {(p.resource, p.action) for p in everything.project}
    assert ("garbage-collection", "create") in system and ("project", "create") in system
    assert ("repository", "pull") in project and ("repository", "push") in project
    assert len(project) == 70, "Harbor's robot permission provider for projects"
    add_user(reg, "boss", "boss-password")
    add_user(reg, "dev", "dev-password")
    admin.create_project(ProjectReq(project_name="team"))
    admin.add_project_member_user("team", "boss", PROJECT_ADMIN)
    admin.add_project_member_user("team", "dev", DEVELOPER)
    r = requests.get(f"{reg.url}/api/v2.0/permissions", auth=("boss", "boss-password"), timeout=30)
    assert r.status_code == 200, r.text
    assert "system" not in r.json() and len(r.json()["project"]) == 70
    r = requests.get(f"{reg.url}/api/v2.0/permissions", auth=("dev", "dev-password"), timeout=30)
    assert r.status_code == 403 and "project admins" in r.text, r.text
    assert requests.get(f"{reg.url}/api/v2.0/permissions", timeout=30).status_code == 401


def test_the_blob_volume_is_reported(teams):
    reg = teams
    r = requests.get(f"{reg.url}/api/v2.0/systeminfo/volumes",
                     auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 200, r.text
    if os.environ.get("BERTH_STORAGE") == "s3":
        assert r.json() == {"storage": []}, "an object store has no volume"
        return
    [volume] = r.json()["storage"]
    disk = os.statvfs(reg.root)
    assert volume["total"] == disk.f_blocks * disk.f_frsize
    assert 0 < volume["free"] <= volume["total"]
    assert requests.get(f"{reg.url}/api/v2.0/systeminfo/volumes", timeout=30).status_code == 401


def test_the_openapi_document_describes_what_is_served(teams):
    doc = requests.get(f"{teams.url}/api/v2.0/openapi.json", timeout=30).json()
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()
           if isinstance(op, dict) and "operationId" in op}
    assert {"listProjects", "createProject", "headProject", "getProject", "updateProject",
            "deleteProject", "listProjectMembers", "createProjectMember", "getCurrentUserInfo",
            "getSystemInfo", "getHealth"} <= ops
    assert "/projects/{project_name_or_id}/members/{mid}" in doc["paths"]


def test_project_and_member_commands(teams):
    reg = teams
    config = ["--config", str(reg.config_path)]
    run_berth("project", "create", "ops", "--public", *config)
    add_user(reg, "olga", "olga-password")
    run_berth("member", "add", "ops", "olga", "--role", "developer", *config)
    listed = json.loads(run_berth("member", "list", "ops", "--json", *config).stdout)
    assert [(m["entity_name"], m["role_name"]) for m in listed] == [("olga", "developer")]
    run_berth("member", "role", "ops", "olga", "--role", "guest", *config)
    # The running registry sees what the command wrote.
    r = requests.get(f"{reg.url}/api/v2.0/projects/ops/members", auth=("olga", "olga-password"),
                     timeout=30)
    assert [m["role_name"] for m in r.json()] == ["guest"]
    shown = json.loads(run_berth("project", "show", "ops", "--json", *config).stdout)
    assert shown["public"] is True and shown["members"][0]["entity_name"] == "olga"
    bad = run_berth("member", "add", "ops", "olga", "--role", "boss", *config, check=False)
    assert bad.returncode != 0 and "projectAdmin" in bad.stderr
    again = run_berth("member", "add", "ops", "olga", "--role", "guest", *config, check=False)
    assert again.returncode != 0 and "already" in again.stderr
    run_berth("project", "visibility", "ops", "--private", *config)
    assert requests.get(f"{reg.url}/api/v2.0/projects/ops", timeout=30).status_code == 401
    run_berth("member", "remove", "ops", "olga", *config)
    names = [p["name"] for p in json.loads(run_berth("project", "list", "--json", *config).stdout)]
    assert names == ["ops"]
    run_berth("project", "delete", "ops", *config)
    gone = run_berth("project", "show", "ops", *config, check=False)
    assert gone.returncode != 0 and "no project ops" in gone.stderr
