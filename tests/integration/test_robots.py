"""Robot accounts (Harbor's v2 robots) through the real binary: created, listed, changed and
refreshed with `harborapi`; used by skopeo as `robot$...` credentials; refused exactly what
their permission lists leave out."""

from __future__ import annotations

import json
import time

import pytest
import requests
from harborapi.exceptions import BadRequest, Conflict, Forbidden, NotFound
from harborapi.models import Access, ProjectReq, Robot, RobotCreate, RobotPermission

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, PROJECT_ADMIN, Harbor, add_user
from test_auth import admin_password, bearer, push_blob, run_berth, token

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def access(*pairs: str) -> list[Access]:
    return [Access(resource=p.split(":")[0], action=p.split(":")[1]) for p in pairs]


def project_robot(name: str, project: str, *pairs: str, duration: int = -1) -> RobotCreate:
    return RobotCreate(name=name, level="project", duration=duration, description="test",
                       permissions=[RobotPermission(kind="project", namespace=project,
                                                    access=access(*pairs))])


def pulls(reg, ref: str, creds: str) -> bool:
    return im.skopeo("inspect", "--tls-verify=false", f"--creds={creds}",
                     f"docker://{reg.host}/{ref}", check=False).returncode == 0


def pushes(reg, layout, ref: str, creds: str) -> bool:
    return im.copy(layout.ref, f"docker://{reg.host}/{ref}", f"--dest-creds={creds}",
                   check=False).returncode == 0


def test_a_read_only_robot_pulls_for_production_and_does_nothing_else(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for project in ("team", "other"):
        admin.create_project(ProjectReq(project_name=project))
    layout = im.build_image(workdir / "img", seed="robots")
    for ref in ("team/app:v1", "other/app:v1"):
        assert pushes(reg, layout, ref, f"admin:{password}")

    created = admin.create_robot(project_robot("prod", "team", "repository:pull"))
    assert created.name == "robot$team+prod" and len(created.secret) == 32
    assert created.expires_at == -1
    creds = f"{created.name}:{created.secret}"

    assert pulls(reg, "team/app:v1", creds)
    assert not pulls(reg, "other/app:v1", creds), "no permission in another project"
    assert not pushes(reg, layout, "team/app:v2", creds)
    failed = im.skopeo("delete", "--tls-verify=false", f"--creds={creds}",
                       f"docker://{reg.host}/team/app:v1", check=False)
    assert failed.returncode != 0
    # Basic credentials on /v2 get the decision's words; the catalog shows its project only.
    r = requests.post(f"{reg.url}/v2/team/app/blobs/uploads/", auth=(created.name, created.secret),
                      timeout=30)
    assert r.status_code == 403
    assert "robot robot$team+prod's permissions do not include push repository" in r.text
    r = requests.get(f"{reg.url}/v2/_catalog", auth=(created.name, created.secret), timeout=30)
    assert r.json()["repositories"] == ["team/app"]
    # The management API: it lists its project, and may not see members (not in its list).
    r = requests.get(f"{reg.url}/api/v2.0/projects", auth=(created.name, created.secret),
                     timeout=30)
    assert [p["name"] for p in r.json()] == ["team"], r.text
    r = requests.get(f"{reg.url}/api/v2.0/projects/team/members",
                     auth=(created.name, created.secret), timeout=30)
    assert r.status_code == 403, r.text

    # Listed by project, shown with its permissions and without its secret.
    team = admin.get_project("team")
    listed = admin.get_robots(query=f"Level=project,ProjectID={team.project_id}")
    assert [r.name for r in listed] == ["robot$team+prod"]
    shown = admin.get_robot(created.id)
    assert shown.level == "project" and shown.editable and not shown.disable
    assert shown.permissions[0].namespace == "team"
    assert [(a.resource, a.action) for a in shown.permissions[0].access] == [("repository", "pull")]
    assert not shown.secret
    assert shown.creator_type == "local" and shown.creator_ref == 1
    assert admin.get_robots() == [], "no system-level robots yet"


def test_robots_are_disabled_refreshed_and_deleted(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for project in ("team", "other"):
        admin.create_project(ProjectReq(project_name=project))
    layout = im.build_image(workdir / "img", seed="robot-life")
    # A system-level robot pushing to every project, as CI would.
    created = admin.create_robot(RobotCreate(
        name="ci", level="system", duration=30,
        permissions=[RobotPermission(kind="project", namespace="*",
                                     access=access("repository:push", "repository:pull"))]))
    assert created.name == "robot$ci"
    shown = admin.get_robot(created.id)
    assert shown.expires_at - int(shown.creation_time.timestamp()) == 30 * 86400
    creds = f"robot$ci:{created.secret}"
    assert pushes(reg, layout, "team/app:v1", creds) and pushes(reg, layout, "other/app:v1", creds)

    # Disabled: the right secret is told so; enabled again, it works.
    shown.disable = True
    admin.update_robot(created.id, shown)
    r = requests.get(f"{reg.url}/v2/", auth=("robot$ci", created.secret), timeout=30)
    assert r.status_code == 401 and "robot account robot$ci is disabled" in r.text
    r = requests.get(f"{reg.url}/v2/", auth=("robot$ci", "Wrong-secret-1"), timeout=30)
    assert r.status_code == 401 and "disabled" not in r.text, "only the secret's holder learns it"
    shown.disable = False
    shown.duration = 7
    admin.update_robot(created.id, shown)
    assert admin.get_robot(created.id).expires_at - int(shown.creation_time.timestamp()) == 7 * 86400
    assert pulls(reg, "team/app:v1", creds)

    # A new secret: generated (shown once) or chosen; the old one stops working.
    fresh = admin.refresh_robot_secret(created.id, "").secret
    assert len(fresh) == 32 and fresh != created.secret
    assert not pulls(reg, "team/app:v1", creds)
    assert pulls(reg, "team/app:v1", f"robot$ci:{fresh}")
    assert admin.refresh_robot_secret(created.id, "Chosen-secret-42").secret == ""
    assert pulls(reg, "team/app:v1", "robot$ci:Chosen-secret-42")
    with pytest.raises(BadRequest):
        admin.refresh_robot_secret(created.id, "weak")

    # A token issued before the robot is deleted stops at its next write.
    t = token(reg, "robot$ci", "Chosen-secret-42", scope="repository:team/app:pull,push")
    assert t.status_code == 200
    held = t.json()["token"]
    admin.delete_robot(created.id)
    with pytest.raises(NotFound):
        admin.get_robot(created.id)
    r = push_blob(reg, "team/app", b"after the robot went", bearer(held))
    assert r.status_code == 401 and "robot account was removed" in r.text
    r = requests.get(f"{reg.url}/v2/", auth=("robot$ci", "Chosen-secret-42"), timeout=30)
    assert r.status_code == 401


def test_who_may_manage_which_robots(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for project in ("team", "other"):
        admin.create_project(ProjectReq(project_name=project))
    add_user(reg, "lead", "lead-password")
    add_user(reg, "dev", "dev-password")
    admin.add_project_member_user("team", "lead", PROJECT_ADMIN)
    admin.add_project_member_user("team", "dev", DEVELOPER)
    lead, dev = Harbor(reg, "lead", "lead-password"), Harbor(reg, "dev", "dev-password")

    # A project admin manages the robots of their project, not others', not system ones.
    mine = lead.create_robot(project_robot("build", "team", "repository:push"))
    with pytest.raises(Forbidden):
        lead.create_robot(project_robot("build", "other", "repository:pull"))
    with pytest.raises(Forbidden):
        lead.create_robot(RobotCreate(name="all", level="system", duration=-1, permissions=[
            RobotPermission(kind="project", namespace="*", access=access("repository:pull"))]))
    with pytest.raises(Forbidden):
        lead.get_robots()
    # A developer sees them but creates none.
    team = admin.get_project("team")
    assert [r.name for r in dev.get_robots(query=f"Level=project,ProjectID={team.project_id}")] \
        == ["robot$team+build"]
    with pytest.raises(Forbidden):
        dev.create_robot(project_robot("mine", "team", "repository:pull"))
    with pytest.raises(Forbidden):
        dev.delete_robot(mine.id)
    lead.delete_robot(mine.id)

    # A robot may create robots with no more than it holds.
    maker = admin.create_robot(RobotCreate(name="maker", level="system", duration=-1, permissions=[
        RobotPermission(kind="project", namespace="*",
                        access=access("robot:create", "repository:pull"))]))
    robot = Harbor(reg, "robot$maker", maker.secret)
    made = robot.create_robot(project_robot("reader", "team", "repository:pull"))
    assert admin.get_robot(made.id).creator_type == "robot"
    with pytest.raises(Forbidden):
        robot.create_robot(project_robot("writer", "team", "repository:push"))
    # System-level permissions: users only for a robot given them.
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("robot$maker", maker.secret), timeout=30)
    assert r.status_code == 403, r.text
    admin_robot = admin.create_robot(RobotCreate(name="people", level="system", duration=-1,
        permissions=[RobotPermission(kind="system", namespace="/", access=access("user:list"))]))
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("robot$people", admin_robot.secret),
                     timeout=30)
    assert r.status_code == 200 and {u["username"] for u in r.json()} >= {"lead", "dev"}


BAD_ROBOTS = [
    ({"name": "Bad Name"}, 400, "not a valid robot name"),
    ({"duration": 0}, 400, "duration 0 is not valid"),
    ({"level": "galaxy"}, 400, "level \"galaxy\" is not valid"),
    ({"permissions": []}, 400, "at least one permission"),
    ({"permissions": [{"kind": "project", "namespace": "team",
                       "access": [{"resource": "repository", "action": "create"}]}]},
     400, "repository:create"),
    ({"permissions": [{"kind": "project", "namespace": "team",
                       "access": [{"resource": "repository", "action": "pull", "effect": "maybe"}]}]},
     400, "effect"),
    ({"permissions": [{"kind": "project", "namespace": "team", "access": [{"resource": "repository", "action": "pull"}]},
                      {"kind": "project", "namespace": "other", "access": [{"resource": "repository", "action": "pull"}]}]},
     400, "its own project only"),
    ({"permissions": [{"kind": "project", "namespace": "nowhere",
                       "access": [{"resource": "repository", "action": "pull"}]}]}, 404, "nowhere"),
    ({"level": "system", "permissions": [{"kind": "system", "namespace": "team",
                                          "access": [{"resource": "user", "action": "list"}]}]},
     400, "namespace of a system permission"),
    ({"level": "system", "permissions": [{"kind": "system", "namespace": "/",
                                          "access": [{"resource": "repository", "action": "pull"}]}]},
     400, "repository:pull at the system level"),
]


@pytest.mark.parametrize("change,status,words", BAD_ROBOTS)
def test_bad_robots_are_refused_and_change_nothing(teams, change, status, words):
    reg = teams
    auth = ("admin", admin_password(reg))
    api = f"{reg.url}/api/v2.0"
    for project in ("team", "other"):
        requests.post(f"{api}/projects", auth=auth, json={"project_name": project},
                      timeout=30).raise_for_status()
    body = {"name": "ok", "level": "project", "duration": -1, "permissions": [
        {"kind": "project", "namespace": "team",
         "access": [{"resource": "repository", "action": "pull"}]}]}
    r = requests.post(f"{api}/robots", auth=auth, json={**body, **change}, timeout=30)
    assert r.status_code == status, r.text
    assert words in r.json()["errors"][0]["message"]
    for level in ("Level=system", "Level=project,ProjectID=1", "Level=project,ProjectID=2"):
        listed = requests.get(f"{api}/robots", params={"q": level}, auth=auth, timeout=30)
        assert listed.headers["X-Total-Count"] == "0", level


def test_robot_names_are_taken_once_and_stay(teams):
    reg = teams
    admin = Harbor(reg, "admin", admin_password(reg))
    admin.create_project(ProjectReq(project_name="team"))
    made = admin.create_robot(project_robot("ci", "team", "repository:pull"))
    with pytest.raises(Conflict):
        admin.create_robot(project_robot("ci", "team", "repository:push"))
    shown = admin.get_robot(made.id)
    renamed = Robot(**{**shown.model_dump(), "name": "robot$team+other"})
    with pytest.raises(BadRequest):
        admin.update_robot(made.id, renamed)
    r = requests.get(f"{reg.url}/api/v2.0/robots", params={"q": "Level=project"},
                     auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 400 and "ProjectID" in r.text
    r = requests.get(f"{reg.url}/api/v2.0/robots", params={"q": "Level=project,ProjectID=x"},
                     auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 400
    assert requests.get(f"{reg.url}/api/v2.0/robots", timeout=30).status_code == 401


from test_auth import docker_with_config  # noqa: E402
from test_docker import build_busybox_image, docker, docker_engine, local_images  # noqa: E402,F401


def test_the_docker_engine_signs_in_as_roles_and_robots(docker_engine, local_images, teams,
                                                        workdir):
    """The role matrix's Docker column: `docker login` as a developer, a guest and a
    read-only robot, then push and pull as each."""
    reg = teams
    admin = Harbor(reg, "admin", admin_password(reg))
    admin.create_project(ProjectReq(project_name="team"))
    add_user(reg, "dev", "dev-password")
    add_user(reg, "tess", "tess-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "tess", 3)  # guest
    robot = admin.create_robot(project_robot("prod", "team", "repository:pull"))
    host = f"localhost:{reg.port}"
    image = f"{host}/team/busybox:1"
    local_images.append(image)
    image_id = build_busybox_image(workdir / "ctx", image, "docker roles")
    local_images.append(image_id)

    def signed_in(user: str, password: str):
        cfg = workdir / f"docker-{user.replace('$', '_').replace('+', '_')}"
        cfg.mkdir()
        login = docker_with_config(cfg, "login", host, "-u", user, "--password-stdin",
                                   stdin=password + "\n")
        assert "Login Succeeded" in login.stdout
        return cfg

    dev = signed_in("dev", "dev-password")
    docker_with_config(dev, "push", image)
    for user, password in (("tess", "tess-password"), (robot.name, robot.secret)):
        cfg = signed_in(user, password)
        denied = docker_with_config(cfg, "push", f"{host}/team/busybox:1", check=False)
        assert denied.returncode != 0, f"{user} may not push"
        assert "denied" in (denied.stdout + denied.stderr).lower()
        docker("rmi", "-f", image, check=False)
        docker_with_config(cfg, "pull", image)
        assert docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip() == image_id


def test_robot_and_audit_commands(teams, workdir):
    """`berth robot` and `berth audit` at the machine, against the database the running
    registry serves: the robot works with skopeo at once, and the log shows what it did."""
    reg = teams
    password = admin_password(reg)
    config = ["--config", str(reg.config_path)]
    run_berth("project", "create", "team", *config)
    layout = im.build_image(workdir / "img", seed="robot-cli")
    assert pushes(reg, layout, "team/app:v1", f"admin:{password}")

    made = json.loads(run_berth("robot", "create", "prod", "--project", "team",
                                "--access", "repository:pull", "--json", *config).stdout)
    assert made["name"] == "robot$team+prod" and len(made["secret"]) == 32
    creds = f"robot$team+prod:{made['secret']}"
    assert pulls(reg, "team/app:v1", creds)
    assert not pushes(reg, layout, "team/app:v2", creds)
    listed = json.loads(run_berth("robot", "list", "--project", "team", "--json", *config).stdout)
    assert [r["name"] for r in listed] == ["robot$team+prod"]
    assert json.loads(run_berth("robot", "list", "--json", *config).stdout) == [], \
        "no system robots"

    run_berth("robot", "disable", "robot$team+prod", *config)
    assert not pulls(reg, "team/app:v1", creds)
    run_berth("robot", "enable", "robot$team+prod", *config)
    assert pulls(reg, "team/app:v1", creds)
    fresh = json.loads(run_berth("robot", "refresh", "robot$team+prod", "--json",
                                 *config).stdout)["secret"]
    assert not pulls(reg, "team/app:v1", creds), "the old secret stopped working"
    assert pulls(reg, "team/app:v1", f"robot$team+prod:{fresh}")

    bad = run_berth("robot", "create", "x", "--access", "pull", *config, check=False)
    assert bad.returncode != 0 and "RESOURCE:ACTION" in bad.stderr
    missing = run_berth("robot", "delete", "robot$nobody", *config, check=False)
    assert missing.returncode != 0 and "berth robot list" in missing.stderr

    # The registry writes its log in batches: poll for the robot's pulls.
    deadline = time.time() + 30
    pulled = []
    while not pulled and time.time() < deadline:
        pulled = json.loads(run_berth("audit", "--user", "robot$team+prod", "--operation",
                                      "pull", "--json", *config).stdout)
        time.sleep(0.2)
    assert pulled and all(e["resource"].startswith("team/app") for e in pulled), pulled
    text = run_berth("audit", "--since", "1h", "--limit", "1", *config).stdout
    assert text.splitlines()[0].startswith("TIME") and "--limit shows more" in text
    wrong = run_berth("audit", "--since", "soon", *config, check=False)
    assert wrong.returncode != 0 and "7d" in wrong.stderr

    run_berth("robot", "delete", "robot$team+prod", *config)
    assert not pulls(reg, "team/app:v1", f"robot$team+prod:{fresh}")
