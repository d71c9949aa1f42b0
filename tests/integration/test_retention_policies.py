"""Retention policies per project through Harbor's `/retentions` API against the real
binary, managed with `harborapi`: rules choose repositories and tags and keep artifacts by
template; a dry run says what would go and deletes nothing; a real run deletes the rest of
a chosen repository (untagged artifacts included) but not what an immutable tag holds, and
leaves other repositories alone; executions, tasks and task logs show it; a cron schedule
starts runs by itself; bad policies are refused and roles decide who manages them."""

from __future__ import annotations

import time

import pytest
import requests
from harborapi.models import (ImmutableRule, ImmutableSelector, ProjectReq, RetentionPolicy,
                              RetentionPolicyScope, RetentionRule, RetentionRuleTrigger,
                              RetentionSelector, WebhookPolicy, WebhookTargetObject)

import images as im
from conftest import LOCAL_AUTH
from teams import DEVELOPER, GUEST, Harbor, add_user
from test_auth import admin_password
from webhooks import Receiver

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


def rule(template, param=None, tags="**", repos="**", untagged=False,
         tag_decoration="matches", repo_decoration="repoMatches"):
    return RetentionRule(
        action="retain", template=template,
        params={} if param is None else {template: param},
        tag_selectors=[RetentionSelector(kind="doublestar", decoration=tag_decoration,
                                         pattern=tags,
                                         extras=f'{{"untagged":{str(untagged).lower()}}}')],
        scope_selectors={"repository": [RetentionSelector(
            kind="doublestar", decoration=repo_decoration, pattern=repos)]})


def policy(project_id, rules, cron=""):
    return RetentionPolicy(
        algorithm="or", rules=rules,
        trigger=RetentionRuleTrigger(kind="Schedule", settings={"cron": cron}, references={}),
        scope=RetentionPolicyScope(level="project", ref=project_id))


def finished(admin, policy_id, execution_id, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        [run] = [e for e in admin.get_retention_executions(policy_id) if e.id == execution_id]
        if run.status != "Running":
            return run
        time.sleep(0.1)
    raise AssertionError(f"retention execution {execution_id} still runs")


def tags_of(reg, password, repo):
    r = requests.get(f"{reg.url}/v2/{repo}/tags/list", auth=("admin", password), timeout=30)
    assert r.status_code == 200, r.text
    return sorted(r.json()["tags"] or [])


def test_a_policy_keeps_what_its_rules_say(teams, workdir):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    project_id = admin.get_project("team").project_id
    creds = f"--dest-creds=admin:{password}"
    for n, tag in enumerate(["v1", "v2", "v3", "dev-1", "scratch"]):
        image = im.build_image(workdir / tag, seed=f"retention-{tag}")
        im.copy(image.ref, f"docker://{reg.host}/team/app:{tag}", creds)
        if n == 0:
            im.copy(image.ref, f"docker://{reg.host}/team/other:v1", creds)
    # `scratch` loses its tag: an untagged artifact.
    api = f"{reg.url}/api/v2.0/projects/team/repositories/app/artifacts"
    r = requests.delete(f"{api}/scratch/tags/scratch", auth=("admin", password), timeout=30)
    assert r.status_code == 200, r.text
    admin.create_project_immutable_tag_rule("team", ImmutableRule(
        action="immutable", template="immutable_template",
        tag_selectors=[ImmutableSelector(kind="doublestar", decoration="matches", pattern="v1")],
        scope_selectors={"repository": [ImmutableSelector(
            kind="doublestar", decoration="repoMatches", pattern="**")]}))

    metadata = admin.get_retention_metadata()
    assert {t.rule_template for t in metadata.templates} >= {"latestPushedK", "always"}

    rules = [rule("latestPushedK", 1, tags="v*", repos="app"),
             rule("always", tags="dev-*", repos="app")]
    location = admin.create_retention_policy(policy(project_id, rules))
    policy_id = int(location.rsplit("/", 1)[1])
    assert admin.get_project_retention_id("team") == policy_id
    stored = admin.get_retention_policy(policy_id)
    assert [r.template for r in stored.rules] == ["latestPushedK", "always"]
    assert stored.rules[0].params == {"latestPushedK": 1}
    assert stored.scope.ref == project_id

    # Dry: says what would go, deletes nothing.
    location = admin.start_retention_execution(policy_id, dry_run=True)
    dry = finished(admin, policy_id, int(location.rsplit("/", 1)[1]))
    assert dry.status == "Success" and dry.dry_run and dry.trigger == "MANUAL"
    [task] = admin.get_retention_tasks(policy_id, dry.id)
    assert (task.repository, task.total, task.retained) == ("team/app", 5, 3)
    assert tags_of(reg, password, "team/app") == ["dev-1", "v1", "v2", "v3"]

    receiver = Receiver().start()
    try:
        admin.create_webhook_policy("team", WebhookPolicy(
            name="retention", event_types=["TAG_RETENTION"], enabled=True,
            targets=[WebhookTargetObject(type="http", address=receiver.url)]))
        location = admin.start_retention_execution(policy_id, dry_run=False)
        run = finished(admin, policy_id, int(location.rsplit("/", 1)[1]))
        # Harbor's TAG_RETENTION event names what went (a dry run announces nothing).
        [(_, event)] = receiver.wait_for(lambda b: len(b) >= 1, read=receiver.bodies)
    finally:
        receiver.stop()
    assert event["type"] == "TAG_RETENTION" and event["operator"] == "MANUAL"
    retention = event["event_data"]["retention"]
    assert (retention["total"], retention["retained"]) == (5, 3)
    assert retention["project_name"] == "team" and retention["retention_policy_id"] == policy_id
    assert retention["result"] == "SUCCESS"
    names = sorted(a["name_tag"] for a in retention["deleted_artifact"])
    assert names[0] == "app:v2" and names[1].startswith("app@sha256:"), names
    assert run.status == "Success" and not run.dry_run
    # v3 is the newest v*, dev-1 is always kept, v1 is immutable; v2 and the untagged go.
    assert tags_of(reg, password, "team/app") == ["dev-1", "v1", "v3"]
    assert tags_of(reg, password, "team/other") == ["v1"], "no rule chose this repository"
    listed = requests.get(f"{api}?page_size=50", auth=("admin", password), timeout=30).json()
    assert sorted(t["name"] for a in listed for t in a["tags"] or []) == ["dev-1", "v1", "v3"]
    assert len(listed) == 3, "the untagged artifact went too"
    [task] = admin.get_retention_tasks(policy_id, run.id)
    log = admin.get_retention_execution_task_log(policy_id, run.id, task.id)
    assert log.count("| DEL |") == 2 and "| IMMUTABLE |" in log and log.count("| RETAIN |") == 2
    executions = admin.get_retention_executions(policy_id)
    assert [e.id for e in executions] == [run.id, dry.id], "newest first"
    # Stopping a finished run changes nothing.
    admin.stop_retention_execution(policy_id, run.id)
    assert finished(admin, policy_id, run.id).status == "Success"

    # A schedule (Harbor's six fields: every minute) starts runs by itself.
    admin.update_retention_policy(policy_id, policy(project_id, rules, cron="0 * * * * *"))
    assert admin.get_retention_policy(policy_id).trigger.settings["cron"] == "0 * * * * *"
    deadline = time.monotonic() + 150
    scheduled = []
    while not scheduled and time.monotonic() < deadline:
        scheduled = [e for e in admin.get_retention_executions(policy_id)
                     if e.trigger == "SCHEDULE"]
        time.sleep(1)
    assert scheduled, "the schedule started no run"

    admin.delete_retention_policy(policy_id)
    r = requests.get(f"{reg.url}/api/v2.0/retentions/{policy_id}", auth=("admin", password),
                     timeout=30)
    assert r.status_code == 404
    project = admin.get_project("team")
    assert project.metadata.retention_id is None, "the project no longer names it"
    # The project may get a new one.
    admin.create_retention_policy(policy(project_id, [rule("always")]))


def test_bad_policies_are_refused_and_roles_decide(teams):
    reg = teams
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    project_id = admin.get_project("team").project_id
    api = f"{reg.url}/api/v2.0/retentions"

    def body(rules, cron="", project=project_id):
        return policy(project, rules, cron).model_dump(exclude_none=True)

    good = rule("latestPushedK", 3)
    cases = [
        (body([rule("latestActiveK", 3)]), 400, "not known"),
        (body([rule("latestPushedK", -1)]), 400, "from 0 to"),
        (body([rule("latestPushedK", "three")]), 400, "whole number"),
        (body([rule("always", tag_decoration="nope")]), 400, "matches or excludes"),
        (body([good, good]), 409, "same as rule"),
        (body([rule("latestPushedK", n) for n in range(16)]), 400, "at most 15"),
        (body([good], cron="every day"), 400, "schedule"),
        (body([good], project=999_999), 400, "invalid project id"),
        ({**body([good]), "scope": {"level": "system", "ref": 0}}, 400, "project"),
    ]
    for payload, status, words in cases:
        r = requests.post(api, auth=("admin", password), json=payload, timeout=30)
        assert r.status_code == status, (payload, r.text)
        assert words in r.json()["errors"][0]["message"], r.text
    assert admin.get_project("team").metadata.retention_id is None, "nothing was created"

    # Harbor's table: developers manage retention (not only maintainers); guests read.
    add_user(reg, "dev", "dev-password")
    add_user(reg, "visitor", "visitor-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "visitor", GUEST)
    guest = ("visitor", "visitor-password")
    r = requests.post(api, auth=guest, json=body([good]), timeout=30)
    assert r.status_code == 403, r.text
    assert requests.post(api, json=body([good]), timeout=30).status_code == 401
    r = requests.post(api, auth=("dev", "dev-password"), json=body([good]), timeout=30)
    assert r.status_code == 201, r.text
    policy_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = requests.post(api, auth=("admin", password), json=body([rule("always")]), timeout=30)
    assert r.status_code == 400 and "already" in r.text, "one policy per project"

    r = requests.get(f"{api}/{policy_id}", auth=guest, timeout=30)
    assert r.status_code == 403, "guests hold no retention rights in Harbor's table"
    r = requests.put(f"{api}/{policy_id}", auth=guest, timeout=30, json=body([rule("always")]))
    assert r.status_code == 403
    r = requests.post(f"{api}/{policy_id}/executions", auth=guest, json={"dry_run": True},
                      timeout=30)
    assert r.status_code == 403
    dev = ("dev", "dev-password")
    r = requests.patch(f"{api}/{policy_id}/executions/1", auth=dev, json={"action": "pause"},
                       timeout=30)
    assert r.status_code == 400 and "stop" in r.text
    r = requests.patch(f"{api}/{policy_id}/executions/424242", auth=dev,
                       json={"action": "stop"}, timeout=30)
    assert r.status_code == 404
    assert admin.get_retention_policy(policy_id).rules[0].params == {"latestPushedK": 3}
