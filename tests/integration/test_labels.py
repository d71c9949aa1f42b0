"""Labels (Harbor's) through the real binary with `harborapi`: registry-wide labels that
administrators manage, a project's own that its project admins and maintainers manage,
put on artifacts by developers, shown with `with_label`, renamed, taken off, deleted —
and gone with the artifact that carried them."""

from __future__ import annotations

import pytest
import requests
from harborapi.exceptions import BadRequest, Conflict, Forbidden, NotFound
from harborapi.models import Label, ProjectReq

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, MAINTAINER, Harbor, add_user
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


def created_id(location: str) -> int:
    return int(location.rstrip("/").rsplit("/", 1)[1])


def test_labels_are_managed_put_on_artifacts_and_go_with_them(make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH)
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for project in ("team", "other"):
        admin.create_project(ProjectReq(project_name=project))
    team_id = admin.get_project("team").project_id
    other_id = admin.get_project("other").project_id
    add_user(reg, "dev", "dev-password")
    add_user(reg, "boss", "boss-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "boss", MAINTAINER)
    dev, boss = Harbor(reg, "dev", "dev-password"), Harbor(reg, "boss", "boss-password")
    image = im.build_image(workdir / "img", seed="labels")
    for repo in ("team/app", "other/app"):
        im.copy(image.ref, f"docker://{reg.host}/{repo}:v1", f"--dest-creds=admin:{password}")

    release = created_id(admin.create_label(Label(name="release", color="#0095D3", scope="g")))
    qa = created_id(admin.create_label(Label(name="qa", scope="p", project_id=team_id)))
    elsewhere = created_id(admin.create_label(Label(name="x", scope="p", project_id=other_id)))
    # Harbor's table: maintainers manage a project's labels; developers only use them.
    beta = created_id(boss.create_label(Label(name="beta", scope="p", project_id=team_id)))
    with pytest.raises(Forbidden):
        dev.create_label(Label(name="mine", scope="p", project_id=team_id))
    with pytest.raises(Forbidden):
        boss.create_label(Label(name="everywhere", scope="g"))
    with pytest.raises(Conflict):
        admin.create_label(Label(name="qa", scope="p", project_id=team_id))
    admin.create_label(Label(name="qa", scope="g"))  # another scope: no conflict

    assert [l.name for l in dev.get_labels(scope="g")] == ["qa", "release"]
    assert [l.name for l in dev.get_labels(scope="p", project_id=team_id)] == ["beta", "qa"]
    api = f"{reg.url}/api/v2.0/labels"
    for params in ({}, {"scope": "x"}, {"scope": "p"}):
        r = requests.get(api, params=params, auth=("dev", "dev-password"), timeout=30)
        assert r.status_code == 400, (params, r.text)
    r = requests.get(api, params={"scope": "p", "project_id": other_id},
                     auth=("dev", "dev-password"), timeout=30)
    assert r.status_code == 403, "not his project"
    for body in ({"name": "", "scope": "g"}, {"name": "y", "scope": "p"},
                 {"name": "y", "scope": "q"}, {"name": "y" * 200, "scope": "g"}):
        r = requests.post(api, json=body, auth=("admin", password), timeout=30)
        assert r.status_code == 400, (body, r.text)

    # A developer puts labels on an artifact: global ones and his project's.
    dev.add_artifact_label("team", "app", "v1", Label(id=release))
    dev.add_artifact_label("team", "app", "v1", Label(id=qa))
    with pytest.raises(Conflict):
        dev.add_artifact_label("team", "app", "v1", Label(id=qa))
    with pytest.raises(BadRequest):
        admin.add_artifact_label("team", "app", "v1", Label(id=elsewhere))
    with pytest.raises(NotFound):
        dev.add_artifact_label("team", "app", "v1", Label(id=999_999))

    def labels_on(repo="app", project="team"):
        [artifact] = admin.get_artifacts(project, repo, with_label=True)
        return sorted(l.name for l in artifact.labels or [])
    assert labels_on() == ["qa", "release"]
    assert labels_on(project="other") == [], "the same image elsewhere carries none"
    assert admin.get_artifacts("team", "app")[0].labels is None, "only with_label shows them"
    one = admin.get_artifact("team", "app", "v1", with_label=True)
    assert sorted(l.name for l in one.labels) == ["qa", "release"]

    # Renamed, taken off, deleted.
    admin.update_label(release, Label(name="released", color="#00AA00"))
    assert labels_on() == ["qa", "released"]
    with pytest.raises(Conflict):
        boss.update_label(beta, Label(name="qa"))
    dev.delete_artifact_label("team", "app", "v1", qa)
    assert labels_on() == ["released"]
    with pytest.raises(NotFound):
        dev.delete_artifact_label("team", "app", "v1", qa)
    admin.delete_label(release)
    assert labels_on() == []
    with pytest.raises(NotFound):
        admin.get_label(release)

    # A deleted artifact takes its labels along: pushed again, it carries none.
    dev.add_artifact_label("team", "app", "v1", Label(id=beta))
    admin.delete_artifact("team", "app", "v1")
    im.copy(image.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
    assert labels_on() == []
    assert admin.get_label(beta).name == "beta"
