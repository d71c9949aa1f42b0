"""Garbage collection through Harbor's `/system/gc` against the real binary, driven with
`harborapi` as a Harbor client would: a manual run is started, shows in the history, ends
in `Success` with a log of what went, and the space of a deleted image is really gone;
only administrators may; a cron schedule set through the API runs collections by itself and
can be removed again; a running collection stops when asked; bad requests change nothing."""

from __future__ import annotations

import time

import pytest
import requests
from harborapi.models import ProjectReq, Schedule, ScheduleObj

import metadata
from oci import Client, blob

import images as im
from conftest import LOCAL_AUTH
from gc_helpers import gc_extra
from teams import Harbor, add_user
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


@pytest.fixture
def reg(make_registry):
    return make_registry(extra_config=LOCAL_AUTH + gc_extra(
        interval="24h", grace="0s", deleteuntagged="true"))


def wait_for_run(admin, gc_id, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = admin.get_gc_job(gc_id)
        if job.job_status != "Running":
            return job
        time.sleep(0.1)
    raise AssertionError(f"garbage collection {gc_id} did not finish in time")


def test_a_manual_collection_runs_and_reports(reg, workdir):
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    image = im.build_image(workdir / "img", seed="system-gc")
    im.copy(image.ref, f"docker://{reg.host}/team/app:v1", f"--dest-creds=admin:{password}")
    [layer] = [d for d in im.layout_blobs(workdir / "img")
               if d not in (image.digest,) and len(im.layout_blobs(workdir / "img")[d]) > 1000]
    admin.delete_artifact("team", "app", "v1")

    schedule = admin.get_gc_schedule()
    assert schedule.schedule.type.value == "Custom" and schedule.schedule.cron == "@every 86400s"

    location = admin.create_gc_schedule(Schedule(
        schedule=ScheduleObj(type="Manual"), parameters={"delete_untagged": True, "dry_run": False}))
    gc_id = int(location.rsplit("/", 1)[1])
    job = wait_for_run(admin, gc_id)
    assert job.job_status == "Success" and job.job_kind == "MANUAL"
    assert job.job_name == "GARBAGE_COLLECTION"
    log = "\n".join(admin.get_gc_log(gc_id))  # harborapi hands the log over as lines
    assert f"blob {layer}" in log and "finished" in log
    r = requests.head(f"{reg.url}/v2/team/app/blobs/{layer}", auth=("admin", password), timeout=30)
    assert r.status_code == 404
    jobs = admin.get_gc_jobs()
    assert [j.id for j in jobs][0] == gc_id

    r = requests.get(f"{reg.url}/api/v2.0/system/gc/{gc_id + 100}", auth=("admin", password),
                     timeout=30)
    assert r.status_code == 404


def test_only_administrators_collect_and_bad_requests_change_nothing(reg):
    password = admin_password(reg)
    add_user(reg, "dev", "dev-password")
    api = f"{reg.url}/api/v2.0/system/gc"
    manual = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}
    assert requests.post(f"{api}/schedule", auth=("dev", "dev-password"), json=manual,
                         timeout=30).status_code == 403
    assert requests.put(f"{api}/schedule", auth=("dev", "dev-password"), timeout=30,
                        json={"schedule": {"type": "Daily"}}).status_code == 403
    assert requests.get(api, auth=("dev", "dev-password"), timeout=30).status_code == 403
    assert requests.get(api, timeout=30).status_code == 401
    cases = [
        ({"schedule": {"type": "Manual"}, "parameters": {"dry_run": "yes"}}, "dry_run"),
        ({"schedule": {"type": "Manual"}, "parameters": {"workers": 11}}, "workers"),
        ({"schedule": {"type": "Custom"}}, "needs a cron"),
        ({"schedule": {"type": "Custom", "cron": "every night"}}, "cron"),
        ({"schedule": {"type": "Custom", "cron": "*/5 0 3 * * *"}}, "seconds"),
        ({"schedule": {"type": "Sometimes"}}, "not valid"),
    ]
    for body, words in cases:
        for method in ("POST", "PUT"):
            r = requests.request(method, f"{api}/schedule", auth=("admin", password), json=body,
                                 timeout=30)
            assert r.status_code == 400 and words in r.text, (method, body, r.text)
    r = requests.get(api, auth=("admin", password), timeout=30)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "0", "nothing was started"
    r = requests.get(f"{api}/schedule", auth=("admin", password), timeout=30)
    assert r.json()["schedule"]["type"] == "Custom", "the configuration's schedule still"


def test_a_schedule_set_through_the_api_runs_and_can_be_removed(reg):
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.update_gc_schedule(Schedule(schedule=ScheduleObj(type="Daily"),
                                      parameters={"delete_untagged": True}))
    schedule = admin.get_gc_schedule()
    assert schedule.schedule.type.value == "Daily" and schedule.schedule.cron == "0 0 0 * * *"
    assert schedule.schedule.next_scheduled_time is not None
    assert '"delete_untagged":true' in schedule.job_parameters.replace(" ", "")

    # Every minute (Harbor's six fields): a run starts by itself and stays in the history.
    admin.update_gc_schedule(Schedule(schedule=ScheduleObj(type="Custom", cron="0 * * * * *"),
                                      parameters={"dry_run": True}))
    deadline = time.time() + 150
    scheduled = []
    while not scheduled and time.time() < deadline:
        scheduled = [j for j in admin.get_gc_jobs() if j.job_kind == "SCHEDULE"]
        time.sleep(1)
    assert scheduled, "the schedule started no collection"
    assert wait_for_run(admin, scheduled[0].id).job_status == "Success"

    admin.update_gc_schedule(Schedule(schedule=ScheduleObj(type="None")))
    schedule = admin.get_gc_schedule()
    assert schedule.schedule.type.value == "Custom" and schedule.schedule.cron == "@every 86400s"


def test_a_running_collection_stops_when_asked(reg):
    password = admin_password(reg)
    admin = Harbor(reg, "admin", password)
    admin.create_project(ProjectReq(project_name="team"))
    c = Client(reg)
    c.s.auth = ("admin", password)
    for i in range(3):
        c.push_blobs("team/junk", blob(f"stop-junk-{i}", 100))
    with metadata.placement_held(reg):  # the run waits in its blob pass
        location = admin.create_gc_schedule(Schedule(
            schedule=ScheduleObj(type="Manual"), parameters={"dry_run": False}))
        gc_id = int(location.rsplit("/", 1)[1])
        assert admin.get_gc_job(gc_id).job_status == "Running"
        r = requests.put(f"{reg.url}/api/v2.0/system/gc/{gc_id}", auth=("admin", password),
                         timeout=30)
        assert r.status_code == 200, r.text
    job = wait_for_run(admin, gc_id)
    assert job.job_status == "Stopped", job
    assert "stopped on request" in "\n".join(admin.get_gc_log(gc_id))
    r = requests.put(f"{reg.url}/api/v2.0/system/gc/{gc_id + 100}", auth=("admin", password),
                     timeout=30)
    assert r.status_code == 404
    # The next run does the rest.
    location = admin.create_gc_schedule(Schedule(schedule=ScheduleObj(type="Manual")))
    assert wait_for_run(admin, int(location.rsplit("/", 1)[1])).job_status == "Success"
