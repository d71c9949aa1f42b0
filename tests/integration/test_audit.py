"""The audit log through the real binary: pushes, pulls and deletes made with skopeo,
sign-ins at the token service, and changes made through the management API (refused ones
too) are recorded with who, what, when, from where and the result; listed with Harbor's
filters by `harborapi` and plain requests; per project for its admins; and copied as JSON
lines to a file."""

from __future__ import annotations

import json
import time

import pytest
import requests
from harborapi.models import ProjectReq

import images as im
from conftest import LOCAL_AUTH
from servers import Rsyslog
from teams import DEVELOPER, PROJECT_ADMIN, Harbor, add_user
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


def entries(reg, auth, path="/auditlog-exts", **params):
    r = requests.get(f"{reg.url}/api/v2.0{path}", auth=auth, params={"page_size": 100, **params},
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(reg, auth, found, what: str, deadline_s: float = 20, **params):
    """Polls the audit log until `found(entries)` holds (entries are written in batches)."""
    deadline = time.monotonic() + deadline_s
    while True:
        listed = entries(reg, auth, **params)
        if found(listed):
            return listed
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} in the audit log: {json.dumps(listed, indent=1)}")
        time.sleep(0.1)


def has(listed, **fields) -> bool:
    return any(all(e.get(k) == v for k, v in fields.items()) for e in listed)


def test_who_did_what_is_recorded_and_listed(make_registry, workdir):
    log_file = workdir / "audit.jsonl"
    reg = make_registry(extra_config=LOCAL_AUTH + f"berth:\n  audit:\n    file: {log_file}\n")
    password = admin_password(reg)
    root = ("admin", password)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    admin.create_project(ProjectReq(project_name="other"))
    add_user(reg, "dev", "dev-password")
    add_user(reg, "lead", "lead-password")
    admin.add_project_member_user("team", "dev", DEVELOPER)
    admin.add_project_member_user("team", "lead", PROJECT_ADMIN)

    layout = im.build_image(workdir / "img", seed="audit")
    im.copy(layout.ref, f"docker://{reg.host}/team/app:v1", "--dest-creds=dev:dev-password")
    im.skopeo("inspect", "--tls-verify=false", "--creds=dev:dev-password",
              f"docker://{reg.host}/team/app:v1")
    im.copy(layout.ref, f"docker://{reg.host}/other/app:v1", f"--dest-creds=admin:{password}")
    refused = requests.get(f"{reg.url}/auth/token", auth=("dev", "wrong-password"), timeout=30,
                           params={"service": "test-registry"})
    assert refused.status_code == 401
    # A change the developer may not make: refused, and recorded as refused.
    members = requests.get(f"{reg.url}/api/v2.0/projects/team/members", auth=root, timeout=30).json()
    lead_member = next(m for m in members if m["entity_name"] == "lead")
    r = requests.delete(f"{reg.url}/api/v2.0/projects/team/members/{lead_member['id']}",
                        auth=("dev", "dev-password"), timeout=30)
    assert r.status_code == 403

    # Entries are written in the background, not necessarily in the requests' order: wait
    # for the last request's and the refused one's.
    listed = wait_for(reg, root, lambda l: has(l, operation="pull", resource="team/app:v1")
                      and has(l, operation="delete", resource_type="project_member",
                              operation_result=False),
                      "pull of team/app:v1 and the refused removal")
    assert has(listed, username="dev", operation="create", resource_type="artifact",
               resource="team/app:v1", operation_result=True)
    assert has(listed, username="dev", operation="pull", resource="team/app:v1")
    assert has(listed, username="admin", operation="create", resource_type="project",
               resource="team", operation_result=True)
    assert has(listed, username="admin", operation="create", resource_type="project_member")
    assert has(listed, username="dev", operation="login", resource_type="user", operation_result=True)
    assert has(listed, username="dev", operation="login", operation_result=False)
    assert has(listed, username="dev", operation="delete", resource_type="project_member",
               resource=f"team/{lead_member['id']}", operation_result=False)
    assert not any("password" in json.dumps(e).lower() and "dev-password" in json.dumps(e)
                   for e in listed), "no secret is ever logged"
    newest = [e["id"] for e in listed]
    assert newest == sorted(newest, reverse=True)

    # Harbor's filters, and Harbor's own client.
    pulls = entries(reg, root, q="operation=pull,username=dev")
    assert pulls and all(e["operation"] == "pull" and e["username"] == "dev" for e in pulls)
    other = entries(reg, root, q="resource=~other/app")
    assert other and all("other/app" in e["resource"] for e in other)
    assert entries(reg, root, q="op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]") == []
    r = requests.get(f"{reg.url}/api/v2.0/audit-logs", auth=root, params={"q": "op_time=yesterday"},
                     timeout=30)
    assert r.status_code == 400
    legacy = admin.get_audit_logs(query="resource_type=artifact", page_size=50)
    assert {(e.operation, e.resource) for e in legacy} >= {("create", "team/app:v1"),
                                                         ("pull", "team/app:v1")}
    assert "pull_artifact" in {e["event_type"] for e in entries(reg, root, "/auditlog-exts/events")}

    # Per project: its admin reads it; a developer does not; nobody else's projects show.
    team_log = entries(reg, ("lead", "lead-password"), "/projects/team/auditlog-exts")
    assert team_log and all(not e["resource"].startswith("other") for e in team_log)
    r = requests.get(f"{reg.url}/api/v2.0/projects/team/logs", auth=("dev", "dev-password"),
                     timeout=30)
    assert r.status_code == 403
    mine = entries(reg, ("lead", "lead-password"), "/auditlog-exts")
    assert mine and not has(mine, resource="other/app:v1"), "the registry log shows lead's projects only"
    assert entries(reg, ("dev", "dev-password"), "/auditlog-exts") == []

    # The same entries as JSON lines in the file.
    deadline = time.monotonic() + 20
    while True:
        lines = [json.loads(l) for l in log_file.read_text().splitlines()] if log_file.exists() else []
        if any(l["operation"] == "pull" and l["resource"] == "team/app:v1" for l in lines):
            break
        assert time.monotonic() < deadline, "the audit file did not get the pull"
        time.sleep(0.1)
    assert all({"op_time", "username", "operation", "resource", "operation_result", "client_ip"}
               <= set(l) for l in lines)
    assert any(l["client_ip"] == "127.0.0.1" for l in lines)


def syslog_entries(server, facility: str) -> list[tuple[str, dict]]:
    """(severity, entry) of each audit message the server received."""
    found = []
    for line in server.received():
        level, app, msgid, message = line.split(" ", 3)
        assert (app, msgid) == ("berth", "audit"), line
        got_facility, severity = level.split(".")
        assert got_facility == facility, line
        found.append((severity, json.loads(message)))
    return found


def wait_for_syslog(server, facility, found, what: str, deadline_s: float = 20):
    deadline = time.monotonic() + deadline_s
    while True:
        entries = syslog_entries(server, facility)
        if found(entries):
            return entries
        assert time.monotonic() < deadline, f"syslog did not get {what}: {entries}"
        time.sleep(0.1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_entries_are_sent_to_a_syslog_server(make_registry, workdir, transport):
    server = Rsyslog.start_new()
    try:
        reg = make_registry(extra_config=LOCAL_AUTH + (
            "berth:\n  audit:\n    syslog:\n"
            f"      address: {transport}://127.0.0.1:{server.port}\n      facility: local3\n"))
        password = admin_password(reg)
        layout = im.build_image(workdir / "img", seed=f"audit-syslog-{transport}")
        im.copy(layout.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
        r = requests.post(f"{reg.url}/api/v2.0/projects", auth=("admin", password),
                          json={"project_name": "Not Valid"}, timeout=30)
        assert r.status_code == 400

        def pushed_and_refused(entries):
            return (any(e["operation"] == "create" and e["resource"] == "team/app:v1"
                        for _, e in entries)
                    and any(not e["operation_result"] for _, e in entries))
        entries = wait_for_syslog(server, "local3", pushed_and_refused, "the push and the refusal")
        [(severity, push)] = [(s, e) for s, e in entries
                              if e["operation"] == "create" and e["resource"] == "team/app:v1"]
        assert severity == "info" and push["username"] == "admin" and push["operation_result"]
        assert {s for s, e in entries if not e["operation_result"]} == {"notice"}

        if transport == "tcp":
            # The server goes away and comes back: berth connects again.
            server.stop()
            im.skopeo("inspect", "--tls-verify=false", f"--creds=admin:{password}",
                      f"docker://{reg.host}/team/app:v1")
            server.start()
            im.skopeo("delete", "--tls-verify=false", f"--creds=admin:{password}",
                      f"docker://{reg.host}/team/app:v1")
            wait_for_syslog(server, "local3",
                            lambda es: any(e["operation"] == "delete" for _, e in es),
                            "the delete after the server came back")
        # The database has everything all the same.
        listed = wait_for(reg, ("admin", password),
                          lambda l: has(l, operation="create", resource="team/app:v1"), "the push")
        assert listed
    finally:
        server.remove()


def test_a_bad_syslog_address_stops_the_start(make_registry):
    with pytest.raises(Exception) as refused:
        make_registry(extra_config=LOCAL_AUTH + (
            "berth:\n  audit:\n    syslog:\n      address: 127.0.0.1:514\n"))
    assert "berth.audit.syslog.address" in str(refused.value)


def test_pulls_are_left_out_when_configured(make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH + "berth:\n  audit:\n    pulls: false\n")
    password = admin_password(reg)
    root = ("admin", password)
    layout = im.build_image(workdir / "img", seed="audit-nopull")
    im.copy(layout.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
    im.skopeo("inspect", "--tls-verify=false", f"--creds=admin:{password}",
              f"docker://{reg.host}/team/app:v1")
    im.skopeo("delete", "--tls-verify=false", f"--creds=admin:{password}",
              f"docker://{reg.host}/team/app:v1")
    listed = wait_for(reg, root, lambda l: has(l, operation="delete", resource_type="artifact"),
                      "delete of team/app")
    assert has(listed, operation="create", resource="team/app:v1")
    assert not has(listed, operation="pull")
