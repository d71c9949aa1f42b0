"""Webhook policies per project through the real binary, managed with `harborapi` as any
Harbor client would: a project's pushes reach its policy's targets in Harbor's payload
(or CloudEvents) and no other project's do; a receiver that fails is retried and the
policy's executions say what happened; bad policies are refused and change nothing; only
project administrators manage them."""

from __future__ import annotations

import pytest
import requests
from harborapi.models import ProjectReq, WebhookPolicy, WebhookTargetObject

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, MAINTAINER, Harbor, add_user
from test_auth import admin_password
from webhooks import Receiver

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def policy(name, events, *targets, enabled=True):
    return WebhookPolicy(name=name, event_types=events, enabled=enabled, targets=list(targets))


def http_target(receiver, **more):
    return WebhookTargetObject(type="http", address=receiver.url, **more)


def pushes_of(receiver, repository):
    return [b for _, b in receiver.bodies()
            if b.get("type") == "PUSH_ARTIFACT"
            and b["event_data"]["repository"]["repo_full_name"] == repository]


def test_a_projects_pushes_reach_its_policy_in_harbors_payloads(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    for name in ("team", "other"):
        admin.create_project(ProjectReq(project_name=name))
    plain, cloud = Receiver().start(), Receiver().start()
    try:
        location = admin.create_webhook_policy("team", policy(
            "ci", ["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
            http_target(plain),
            http_target(cloud, payload_format="CloudEvents", auth_header="Bearer s3cret")))
        assert location.startswith("/api/v2.0/projects/team/webhook/policies/")
        [stored] = admin.get_webhook_policies("team")
        assert stored.name == "ci" and stored.enabled and stored.creator == "admin"
        assert stored.targets[0].payload_format.root == "Default", "Harbor's default is filled in"
        assert stored.project_id == admin.get_project("team").project_id

        image = im.build_image(workdir / "img", seed="webhook-policy")
        creds = f"--dest-creds=admin:{password}"
        im.copy(image.ref, f"docker://{reg.host}/other/app:v1", creds)
        im.copy(image.ref, f"docker://{reg.host}/team/app:v1", creds)
        im.skopeo("inspect", "--tls-verify=false", f"--creds=admin:{password}",
                  f"docker://{reg.host}/team/app:v1")

        [(headers, body)] = plain.wait_for(lambda b: len(b) >= 1, read=plain.bodies)
        assert headers["content-type"] == "application/json"
        assert body["type"] == "PUSH_ARTIFACT" and body["operator"] == "admin"
        [resource] = body["event_data"]["resources"]
        assert resource["tag"] == "v1" and resource["digest"].startswith("sha256:")
        assert resource["resource_url"] == f"{reg.host}/team/app:v1"
        assert body["event_data"]["repository"] == {
            "name": "app", "namespace": "team", "repo_full_name": "team/app",
            "repo_type": "private"}

        [(headers, event)] = cloud.wait_for(lambda b: len(b) >= 1, read=cloud.bodies)
        assert headers["content-type"] == "application/cloudevents+json"
        assert headers["authorization"] == "Bearer s3cret"
        assert event["specversion"] == "1.0" and event["type"] == "harbor.artifact.pushed"
        assert event["source"] == f"/projects/{stored.project_id}/webhook/policies/{stored.id}"
        assert event["data"]["resources"] == body["event_data"]["resources"]

        # Disabled, it sends nothing: a second policy created after it hears the next
        # push, so the change had been seen when the event was matched.
        stored.enabled = False
        admin.update_webhook_policy("team", stored.id, stored)
        late = Receiver().start()
        try:
            admin.create_webhook_policy("team", policy("late", ["PUSH_ARTIFACT"], http_target(late)))
            im.copy(image.ref, f"docker://{reg.host}/team/app:v2", creds)
            late.wait_for(lambda b: any(r["event_data"]["resources"][0]["tag"] == "v2"
                                        for _, r in b), read=late.bodies)
        finally:
            late.stop()
        assert len(plain.bodies()) == 1 and len(cloud.bodies()) == 1, \
            "the disabled policy and the other project sent nothing"
        assert pushes_of(late, "other/app") == []

        # What the policy sent, as Harbor's executions with one task each.
        api = f"{reg.url}/api/v2.0/projects/team/webhook/policies/{stored.id}"
        r = requests.get(f"{api}/executions", auth=("admin", password), timeout=30)
        assert r.status_code == 200 and r.headers["X-Total-Count"] == "2", r.text
        for execution in r.json():
            assert execution["vendor_type"] == "WEBHOOK" and execution["vendor_id"] == stored.id
            assert execution["status"] == "Success" and execution["trigger"] == "EVENT"
            assert execution["extra_attrs"]["event_type"] == "PUSH_ARTIFACT"
            assert execution["metrics"]["success_task_count"] == 1
        execution = r.json()[0]["id"]
        r = requests.get(f"{api}/executions/{execution}/tasks", auth=("admin", password), timeout=30)
        [task] = r.json()
        assert task["status"] == "Success" and task["run_count"] == 1
        r = requests.get(f"{api}/executions/{execution}/tasks/{task['id']}/log",
                         auth=("admin", password), timeout=30)
        assert r.status_code == 200 and "delivered" in r.text
        assert requests.get(f"{api}/executions/{execution + 1000}/tasks",
                            auth=("admin", password), timeout=30).status_code == 404

        supported = admin.get_webhook_supported_events("team")
        assert "PUSH_ARTIFACT" in [t.root for t in supported.event_type]
        assert [t.root for t in supported.notify_type] == ["http"]
        assert [f.root for f in supported.payload_formats[0].formats] == ["Default", "CloudEvents"]

        admin.delete_webhook_policy("team", stored.id)
        assert requests.get(api, auth=("admin", password), timeout=30).status_code == 404
    finally:
        plain.stop()
        cloud.stop()


def test_a_failing_receiver_is_retried_and_the_execution_says_so(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    flaky = Receiver(failures=1).start()
    try:
        admin.create_webhook_policy("team", policy("flaky", ["PUSH_ARTIFACT"], http_target(flaky)))
        [stored] = admin.get_webhook_policies("team")
        image = im.build_image(workdir / "img", seed="webhook-retry")
        im.copy(image.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
        flaky.wait_for(lambda b: len(b) == 1, read=flaky.bodies, timeout=30)
        assert flaky.refused == 1
        api = f"{reg.url}/api/v2.0/projects/team/webhook/policies/{stored.id}"
        [execution] = requests.get(f"{api}/executions", auth=("admin", password), timeout=30).json()
        assert execution["status"] == "Success"
        assert "503" in execution["status_message"], "the failure before is kept"
        [task] = requests.get(f"{api}/executions/{execution['id']}/tasks",
                              auth=("admin", password), timeout=30).json()
        assert task["run_count"] == 2
    finally:
        flaky.stop()


def test_bad_policies_are_refused_and_change_nothing(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    api = f"{reg.url}/api/v2.0/projects/team/webhook/policies"
    good = {"name": "ci", "enabled": True, "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}]}
    r = requests.post(api, auth=("admin", password), json=good, timeout=30)
    assert r.status_code == 201, r.text
    cases = [
        ({**good, "name": "a", "event_types": ["PUSH_IMAGE"]}, 400, "PUSH_IMAGE"),
        ({**good, "name": "b", "event_types": []}, 400, "event type"),
        ({**good, "name": "c", "targets": []}, 400, "target"),
        ({**good, "name": "d", "targets": [{"type": "slack", "address": "http://h/x"}]}, 400, "slack"),
        ({**good, "name": "e", "targets": [{"type": "http", "address": "ftp://h/x"}]}, 400, "ftp://h/x"),
        ({**good, "name": "f", "targets": [{"type": "http", "address": "http://h/x",
                                            "payload_format": "XML"}]}, 400, "XML"),
        ({**good, "name": ""}, 400, "name"),
        (good, 409, "ci"),
    ]
    for body, status, words in cases:
        r = requests.post(api, auth=("admin", password), json=body, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["errors"][0]["message"], r.text
    r = requests.get(api, auth=("admin", password), timeout=30)
    assert r.headers["X-Total-Count"] == "1", "nothing but the first policy was created"
    [stored] = r.json()
    r = requests.put(f"{api}/{stored['id']}", auth=("admin", password), timeout=30,
                     json={**good, "event_types": ["NOPE"]})
    assert r.status_code == 400
    assert requests.get(f"{api}/{stored['id']}", auth=("admin", password),
                        timeout=30).json()["event_types"] == ["PUSH_ARTIFACT"]
    assert requests.get(f"{api}/{stored['id'] + 99}", auth=("admin", password),
                        timeout=30).status_code == 404


def test_only_project_administrators_manage_policies(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    add_user(reg, "dev", "dev-password")
    add_user(reg, "lead", "lead-password")
    add_user(reg, "owner", "owner-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "lead", MAINTAINER)
    admin.add_project_member_user("team", "owner", 1)
    api = f"{reg.url}/api/v2.0/projects/team/webhook/policies"
    body = {"name": "ci", "enabled": True, "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}]}
    for user in ("dev", "lead"):
        r = requests.post(api, auth=(user, f"{user}-password"), json=body, timeout=30)
        assert r.status_code == 403, r.text
    assert requests.get(api, auth=("dev", "dev-password"), timeout=30).status_code == 403
    assert requests.get(api, auth=("lead", "lead-password"), timeout=30).json() == []
    assert requests.get(api, timeout=30).status_code == 401
    r = requests.post(api, auth=("owner", "owner-password"), json=body, timeout=30)
    assert r.status_code == 201, r.text
    [stored] = requests.get(api, auth=("lead", "lead-password"), timeout=30).json()
    assert stored["creator"] == "owner"
    r = requests.delete(f"{api}/{stored['id']}", auth=("lead", "lead-password"), timeout=30)
    assert r.status_code == 403
