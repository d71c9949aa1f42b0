"""Storage quotas per project through the real binary: what a project holds is counted
once per blob and manifest however many repositories share it, a push past the limit is
refused with a message that says by how much, and only administrators set limits; read
and set with `harborapi` as any Harbor client would."""

from __future__ import annotations

import pytest
import requests
from harborapi.models import (ProjectReq, QuotaUpdateReq, ResourceList, WebhookPolicy,
                              WebhookTargetObject)

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, Harbor, add_user
from test_auth import admin_password, bearer, push_blob, token
from webhooks import Receiver

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def test_a_push_past_the_limit_is_refused_and_shared_blobs_count_once(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    add_user(reg, "dev", "dev-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    team = admin.get_project("team")
    assert admin.get_quota(team.project_id).hard.root == {"storage": -1}

    first = im.build_image(workdir / "a", seed="quota-a")
    im.copy(first.ref, f"docker://{reg.host}/team/a:v1", "--dest-creds=dev:dev-password")
    used = admin.get_quota(team.project_id).used.root["storage"]
    assert used > 0
    admin.update_quota(team.project_id, QuotaUpdateReq(hard=ResourceList({"storage": used + 64})))

    # The same image in another repository of the project: nothing new to hold.
    im.copy(first.ref, f"docker://{reg.host}/team/b:v1", "--dest-creds=dev:dev-password")
    assert admin.get_quota(team.project_id).used.root["storage"] == used

    # A new layer does not fit: skopeo fails, and the registry says why.
    second = im.build_image(workdir / "b", seed="quota-b")
    failed = im.copy(second.ref, f"docker://{reg.host}/team/c:v1", "--dest-creds=dev:dev-password",
                     check=False)
    assert failed.returncode != 0 and "quota exceeded" in failed.stderr
    t = token(reg, "dev", "dev-password", scope="repository:team/c:pull,push").json()["token"]
    r = push_blob(reg, "team/c", b"x" * 4096, bearer(t))
    assert r.status_code == 403, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert "adding 4.0 KiB to project team" in error["message"]
    assert "storage limit of" in error["message"]
    assert admin.get_quota(team.project_id).used.root["storage"] == used, "nothing was added"

    # Raised, it fits; the summary shows the same numbers.
    admin.update_quota(team.project_id, QuotaUpdateReq(hard=ResourceList({"storage": -1})))
    im.copy(second.ref, f"docker://{reg.host}/team/c:v1", "--dest-creds=dev:dev-password")
    after = admin.get_quota(team.project_id).used.root["storage"]
    assert after > used
    summary = admin.get_project_summary("team")
    assert summary.quota.used.root == {"storage": after}
    assert summary.quota.hard.root == {"storage": -1}


def test_only_administrators_set_limits(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    add_user(reg, "dev", "dev-password")
    api = f"{reg.url}/api/v2.0"
    r = requests.post(f"{api}/projects", auth=("dev", "dev-password"), timeout=30,
                      json={"project_name": "mine", "storage_limit": 1000})
    assert r.status_code == 403 and "storage_limit" in r.text
    assert requests.head(f"{api}/projects", params={"project_name": "mine"},
                         auth=("dev", "dev-password"), timeout=30).status_code == 404
    r = requests.post(f"{api}/projects", auth=("dev", "dev-password"), timeout=30,
                      json={"project_name": "mine", "storage_limit": -1})
    assert r.status_code == 201
    admin.create_project(ProjectReq(project_name="limited", storage_limit=1000))
    limited = admin.get_project("limited")
    assert admin.get_quota(limited.project_id).hard.root == {"storage": 1000}
    mine = admin.get_project("mine")
    r = requests.put(f"{api}/quotas/{mine.project_id}", auth=("dev", "dev-password"), timeout=30,
                     json={"hard": {"storage": 10}})
    assert r.status_code == 403
    # The owner reads the quota of their project; not the list of all.
    r = requests.get(f"{api}/quotas/{mine.project_id}", auth=("dev", "dev-password"), timeout=30)
    assert r.status_code == 200 and r.json()["ref"]["name"] == "mine"
    assert requests.get(f"{api}/quotas", auth=("dev", "dev-password"), timeout=30).status_code == 403
    listed = admin.get_quotas(reference="project", reference_id=str(limited.project_id))
    assert [q.ref.root["name"] for q in listed] == ["limited"]
    r = requests.put(f"{api}/quotas/{limited.project_id}", auth=("admin", password), timeout=30,
                     json={"hard": {"storage": -5}})
    assert r.status_code == 400
    r = requests.put(f"{api}/quotas/{limited.project_id}", auth=("admin", password), timeout=30,
                     json={"hard": {}})
    assert r.status_code == 400
    assert admin.get_quota(limited.project_id).hard.root == {"storage": 1000}, "bad input changed nothing"


def test_quota_events_reach_the_projects_webhook_policy(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    team = admin.get_project("team")
    receiver = Receiver().start()
    try:
        admin.create_webhook_policy("team", WebhookPolicy(
            name="quota", enabled=True, event_types=["QUOTA_EXCEED", "QUOTA_WARNING"],
            targets=[WebhookTargetObject(type="http", address=receiver.url)]))
        admin.update_quota(team.project_id, QuotaUpdateReq(hard=ResourceList({"storage": 10_000})))
        t = token(reg, "admin", password, scope="repository:team/app:pull,push").json()["token"]
        assert push_blob(reg, "team/app", b"a" * 9_000, bearer(t)).status_code == 201
        r = push_blob(reg, "team/app", b"b" * 4_000, bearer(t))
        assert r.status_code == 403, r.text

        def kinds(bodies):
            return [b["type"] for _, b in bodies]
        bodies = receiver.wait_for(lambda b: "QUOTA_EXCEED" in kinds(b), read=receiver.bodies)
        assert kinds(bodies) == ["QUOTA_WARNING", "QUOTA_EXCEED"], \
            "9,000 of 10,000 bytes passes 85% once; 4,000 more does not fit"
        exceed = bodies[1][1]["event_data"]
        assert exceed["repository"]["repo_full_name"] == "team/app"
        assert exceed["resources"][0]["digest"].startswith("sha256:")
        assert "quota exceeded" in exceed["custom_attributes"]["Details"]
        assert "10,000" not in exceed["custom_attributes"]["Details"]
        assert "9.8 KiB" in exceed["custom_attributes"]["Details"], "the limit, for people"
    finally:
        receiver.stop()
