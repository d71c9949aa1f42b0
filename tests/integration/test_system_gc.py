"""Garbage collection through Harbor's `/system/gc` against the real binary, driven with
`harborapi` as a Harbor client would: a manual run is started, shows in the history, ends
in `Success` with a log of what went, and the space of a deleted image is really gone;
only administrators may; schedules other than Manual are refused and change nothing."""

from __future__ import annotations

import time

import pytest
import requests
from harborapi.models import ProjectReq, Schedule, ScheduleObj

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


def test_only_administrators_collect_and_schedules_are_refused(reg):
    password = admin_password(reg)
    add_user(reg, "dev", "dev-password")
    api = f"{reg.url}/api/v2.0/system/gc"
    manual = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}
    assert requests.post(f"{api}/schedule", auth=("dev", "dev-password"), json=manual,
                         timeout=30).status_code == 403
    assert requests.get(api, auth=("dev", "dev-password"), timeout=30).status_code == 403
    assert requests.get(api, timeout=30).status_code == 401
    r = requests.post(f"{api}/schedule", auth=("admin", password), timeout=30,
                      json={"schedule": {"type": "Daily"}})
    assert r.status_code == 400 and "berth.gc.interval" in r.text
    r = requests.post(f"{api}/schedule", auth=("admin", password), timeout=30,
                      json={"schedule": {"type": "Manual"}, "parameters": {"dry_run": "yes"}})
    assert r.status_code == 400 and "dry_run" in r.text
    r = requests.get(api, auth=("admin", password), timeout=30)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "0", "nothing was started"
