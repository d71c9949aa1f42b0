"""Webhooks through the real binary: a real HTTP receiver gets Distribution-format events
for push, pull, mount and delete; a receiver that is down gets everything once it is back,
even across a registry restart; filters and HMAC signatures work.

berth only: Distribution sends events from memory (lost on restart) and does not sign."""

import hashlib
import hmac
import time

import pytest
import requests

import images as im
from servers import free_port
from webhooks import Receiver

pytestmark = pytest.mark.berth_only

ENVELOPE = "application/vnd.docker.distribution.events.v2+json"
SECRET = "webhook-secret"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def notifying_registry(make_registry, receiver, extra: str = "", **kw):
    return make_registry(extra_config=(
        "notifications:\n  endpoints:\n"
        f"    - name: hook\n      url: {receiver.url}\n"
        "      timeout: 1s\n      threshold: 1\n      backoff: 200ms\n"
        f"      secret: {SECRET}\n"
        "      headers:\n        Authorization: [Bearer receiver-token]\n" + extra), **kw)


def actions(events, repo):
    return [(e["action"], e["target"].get("mediaType"), e["target"].get("tag"))
            for e in events if e["target"]["repository"] == repo]


def test_push_pull_mount_delete_events(make_registry, receiver, workdir):
    reg = notifying_registry(make_registry, receiver)
    layout = im.build_image(workdir / "src", "v1", layers=1)
    ref = f"docker://{reg.host}/hooks/app:v1"
    im.copy(layout.ref, ref)
    manifest = layout.top

    events = receiver.wait_for(lambda ev: any(e["action"] == "push" and e["target"].get("tag") == "v1"
                                              for e in ev))
    push = next(e for e in events if e["action"] == "push" and e["target"].get("tag") == "v1")
    assert push["target"]["mediaType"] == im.OCI_MANIFEST
    assert push["target"]["digest"] == layout.digest
    assert push["target"]["size"] == len(manifest.data) == push["target"]["length"]
    assert push["target"]["repository"] == "hooks/app"
    assert push["target"]["url"] == f"{reg.url}/v2/hooks/app/manifests/{layout.digest}"
    assert push["request"]["method"] == "PUT" and push["request"]["useragent"]
    assert push["request"]["host"] == reg.host
    assert push["source"]["instanceID"] and push["id"] and push["timestamp"].endswith("Z")
    blob_pushes = [e for e in events if e["action"] == "push"
                   and e["target"]["mediaType"] == "application/octet-stream"]
    assert {e["target"]["digest"] for e in blob_pushes} == \
        {layout.images[0].config.digest, layout.images[0].layers[0].digest}

    # A pull by tag, a mount into another repository, a delete.
    r = requests.get(f"{reg.url}/v2/hooks/app/manifests/v1", headers={"Accept": im.OCI_MANIFEST})
    assert r.status_code == 200
    assert requests.head(f"{reg.url}/v2/hooks/app/manifests/v1",
                         headers={"Accept": im.OCI_MANIFEST}).status_code == 200
    layer = layout.images[0].layers[0].digest
    m = requests.post(f"{reg.url}/v2/hooks/copy/blobs/uploads/?mount={layer}&from=hooks/app")
    assert m.status_code == 201
    d = requests.delete(f"{reg.url}/v2/hooks/app/manifests/{layout.digest}")
    assert d.status_code == 202

    events = receiver.wait_for(lambda ev: any(e["action"] == "delete" for e in ev))
    pulls = [e for e in events if e["action"] == "pull"]
    assert len(pulls) == 1, "HEAD is not a pull"
    assert pulls[0]["target"]["tag"] == "v1" and pulls[0]["target"]["digest"] == layout.digest
    mount = next(e for e in events if e["action"] == "mount")
    assert mount["target"]["repository"] == "hooks/copy"
    assert mount["target"]["fromRepository"] == "hooks/app"
    assert mount["target"]["digest"] == layer
    delete = next(e for e in events if e["action"] == "delete")
    assert delete["target"]["digest"] == layout.digest
    # Order is kept: the pull came before the delete.
    order = [e["action"] for e in events]
    assert order.index("pull") < order.index("delete")

    # Every delivery: the envelope type, the configured header, a valid signature.
    for d in receiver.deliveries:
        assert d["headers"]["content-type"] == ENVELOPE
        assert d["headers"]["authorization"] == "Bearer receiver-token"
        expected = "sha256=" + hmac.new(SECRET.encode(), d["body"], hashlib.sha256).hexdigest()
        assert d["headers"]["x-berth-signature"] == expected


def notification_metrics(debug_port: int) -> dict[str, float]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    text = requests.get(f"http://127.0.0.1:{debug_port}/metrics", timeout=10).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith("berth_notifications")}


def test_receiver_down_then_back_even_across_a_restart(make_registry, receiver):
    debug_port = free_port()
    reg = make_registry(extra_config=(
        f"  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n"
        "notifications:\n  endpoints:\n"
        f"    - name: hook\n      url: {receiver.url}\n"
        "      timeout: 1s\n      threshold: 1\n      backoff: 200ms\n"))
    receiver.stop()
    data = b"pushed while the receiver is down"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{reg.url}/v2/down/app/blobs/uploads/")
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else reg.url + loc
    t0 = time.time()
    assert requests.put(f"{loc}?digest={digest}", data=data).status_code == 201
    assert time.time() - t0 < 1, "a down receiver does not slow pushes"
    time.sleep(1.5)  # a few failed deliveries
    before_restart = notification_metrics(debug_port)
    assert before_restart["berth_notifications_failed_total"] >= 1
    assert before_restart["berth_notifications_queued"] == 1
    reg.restart()
    assert receiver.events() == []
    receiver.start()
    events = receiver.wait_for(lambda ev: any(e["target"]["digest"] == digest for e in ev))
    pushed = [e for e in events if e["target"]["digest"] == digest]
    assert len(pushed) == 1 and pushed[0]["action"] == "push"
    assert pushed[0]["target"]["size"] == len(data)
    deadline = time.time() + 5
    while notification_metrics(debug_port).get("berth_notifications_delivered_total", 0) < 1:
        assert time.time() < deadline, notification_metrics(debug_port)
        time.sleep(0.1)
    reg.stop()
    assert "webhook delivery failed" in reg.log()


def test_ignored_actions_and_media_types(make_registry, receiver, workdir):
    reg = notifying_registry(make_registry, receiver, extra=(
        "      ignore:\n        actions: [pull]\n"
        "        mediatypes: [application/octet-stream]\n"))
    layout = im.build_image(workdir / "src", "v1")
    im.copy(layout.ref, f"docker://{reg.host}/quiet/app:v1")
    requests.get(f"{reg.url}/v2/quiet/app/manifests/v1", headers={"Accept": im.OCI_MANIFEST})
    events = receiver.wait_for(lambda ev: len(ev) >= 1)
    time.sleep(1)
    assert actions(receiver.events(), "quiet/app") == [("push", im.OCI_MANIFEST, "v1")]


def test_actor_is_the_signed_in_user(make_registry, receiver):
    reg = notifying_registry(make_registry, receiver, extra="auth:\n  local:\n    service: s\n")
    password = (reg.root / "initial-admin-password").read_text().strip()
    data = b"by admin"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{reg.url}/v2/who/app/blobs/uploads/?digest={digest}", data=data,
                      auth=("admin", password))
    assert r.status_code == 201
    events = receiver.wait_for(lambda ev: len(ev) >= 1)
    assert events[0]["actor"] == {"name": "admin"}


def test_push_events_carry_references_when_asked(make_registry, receiver, workdir):
    reg = make_registry(extra_config=(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n"
        f"    - name: hook\n      url: {receiver.url}\n      timeout: 1s\n"))
    layout = im.build_image(workdir / "src", "v1", layers=2)
    im.copy(layout.ref, f"docker://{reg.host}/refs/app:v1")
    events = receiver.wait_for(lambda ev: any(e["target"].get("tag") == "v1" for e in ev))
    push = next(e for e in events if e["target"].get("tag") == "v1")
    image = layout.images[0]
    expected = [image.config] + image.layers
    assert push["target"]["references"] == [
        {"mediaType": b.media_type, "size": len(b.data), "digest": b.digest} for b in expected]
    blob_events = [e for e in events if e["target"]["mediaType"] == "application/octet-stream"]
    assert all("references" not in e["target"] for e in blob_events)


def test_references_are_left_out_by_default(make_registry, receiver, workdir):
    reg = notifying_registry(make_registry, receiver)
    layout = im.build_image(workdir / "src", "v1")
    im.copy(layout.ref, f"docker://{reg.host}/norefs/app:v1")
    events = receiver.wait_for(lambda ev: any(e["target"].get("tag") == "v1" for e in ev))
    assert all("references" not in e["target"] for e in events)
