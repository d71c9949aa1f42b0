"""Stateless replicas: two berth processes over one PostgreSQL database and one Garage
bucket on a three-node Garage cluster (each replica talks to a node of its own), behind
nginx. Any replica answers any request (a chunked upload alternating
between them, a token from one good at the other); a replica killed with -9 in the middle
of pushes loses nothing acknowledged; a rolling restart under a running push and pull loop
fails no client operation; scheduled garbage collection runs once per due time across
both; a webhook receiver gets each event once."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests

import images as im
import metadata
from conftest import LOCAL_AUTH
from gc_helpers import finished_run, gc_runs as recorded_collections, start_gc
from objectstore import GarageCluster
from oci import Client, blob, config_blob, image_manifest, sha256
from outage import Pushers, wait_for
from replicas import Replicas
from webhooks import Receiver

pytestmark = pytest.mark.berth_only

# Short leases, so a killed replica's jobs move within the tests' deadlines.
JOBS = "berth:\n  jobs:\n    lease: 2s\n"


@pytest.fixture(scope="module")
def cluster():
    c = GarageCluster()
    yield c
    c.remove()


@pytest.fixture
def replicas(workdir, cluster):
    started = []

    def make(extra_config: str = "", count: int = 2) -> Replicas:
        r = Replicas(workdir, count=count, extra_config=extra_config, garage=cluster.nodes)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


def test_a_chunked_upload_alternates_between_replicas(replicas):
    """Start an upload on one replica, send its chunks to the other and back, finish it on
    the other: the upload state is in PostgreSQL and the bytes in the bucket."""
    r = replicas(JOBS)
    a, b = (Client(n) for n in r.nodes)
    data = b"".join(bytes([i]) * 100_000 for i in range(5))
    digest = sha256(data)
    start = a.post("/v2/alt/chunks/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    offset = 0
    for i, client in enumerate([b, a, b, a, b]):
        chunk = data[offset:offset + 100_000]
        resp = client.request("PATCH", client.abs(location), data=chunk, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert resp.status_code == 202, (i, resp.status_code, resp.text)
        offset += len(chunk)
        assert resp.headers["Range"] == f"0-{offset - 1}"
        location = resp.headers["Location"]
        # The other replica sees the same offset.
        other = a if client is b else b
        status = other.get(other.abs(location))
        assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
    sep = "&" if "?" in location else "?"
    done = a.put(a.abs(location) + f"{sep}digest={digest}")
    assert done.status_code == 201, done.text
    for client in (a, b):
        got = client.get(f"/v2/alt/chunks/blobs/{digest}")
        assert got.status_code == 200 and got.content == data


def test_push_and_pull_through_the_balancer_with_tokens_from_either_replica(replicas, workdir):
    """skopeo pushes and pulls through nginx with berth's own token service: requests and
    token fetches land on both replicas, and every one accepts tokens the other signed
    (the signing key is in the database)."""
    r = replicas(LOCAL_AUTH + JOBS)
    password = None
    for node in r.nodes:
        path = node.root / "initial-admin-password"
        if path.exists():
            password = path.read_text().strip()
    assert password, "one replica created the first administrator"
    creds = f"admin:{password}"
    layout = im.build_image(workdir / "img", "v1", layers=3, seed="replicas")
    for i in range(3):
        im.copy(layout.ref, f"docker://{r.host}/team/app{i}:v1", f"--dest-creds={creds}")
    for i in range(3):
        out = workdir / f"pulled-{i}"
        im.copy(f"docker://{r.host}/team/app{i}:v1", f"oci:{out}:v1", f"--src-creds={creds}")
        raw, _ = im.layout_manifest(out, "v1")
        assert sha256(raw) == layout.digest
        for digest, data in layout.all_blobs().items():
            assert im.read_layout_blob(out, digest) == data
    nodes = {n.host for n in r.nodes}
    assert r.balancer.upstreams("PATCH") | r.balancer.upstreams("PUT") == nodes
    assert r.balancer.upstreams("GET", "/auth/token") == nodes
    # A token from one replica, used at the other.
    a, b = r.nodes
    token = requests.get(f"{a.url}/auth/token", params={
        "service": "test-registry", "scope": "repository:team/app0:pull"},
        auth=("admin", password), timeout=10).json()["token"]
    got = requests.get(f"{b.url}/v2/team/app0/manifests/v1", timeout=10, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert got.status_code == 200, got.text


def test_a_replica_killed_mid_push_loses_nothing_acknowledged(replicas):
    """kill -9 one replica while pushes run through the balancer, then bring it back:
    every image whose manifest PUT was acknowledged pulls back intact from both."""
    r = replicas(JOBS)
    pushers = Pushers(r, "killed/app", count=3, allowed=(500, 502, 503))
    try:
        pushers.more_acknowledged(10, "pushes before the kill")
        r.nodes[0].kill()
        pushers.more_acknowledged(10, "pushes through the replica left")
        r.nodes[0].start()
        pushers.more_acknowledged(10, "pushes after it is back")
    finally:
        pushers.stop()
    for node in r.nodes:
        pushers.check_all_pull(node)


def test_a_garage_node_killed_mid_push_loses_nothing_acknowledged(replicas, cluster):
    """kill -9 the Garage node no replica talks to while pushes run: the other two still
    make a quorum, pushes go on, and once the node is back every acknowledged image pulls
    back intact through each replica."""
    r = replicas(JOBS)
    pushers = Pushers(r, "garage-node/app", count=3, allowed=(500, 502, 503))
    try:
        pushers.more_acknowledged(10, "pushes before the kill")
        cluster.nodes[2].kill()
        pushers.more_acknowledged(10, "pushes with a Garage node down")
        cluster.nodes[2].start()
        pushers.more_acknowledged(5, "pushes once it is back")
    finally:
        pushers.stop()
    for node in r.nodes:
        pushers.check_all_pull(node)


def test_a_rolling_restart_fails_no_client_operation(replicas):
    """Restart the replicas one after the other (SIGTERM, wait, start) while pushes and
    pulls go on through nginx: not one of them fails."""
    r = replicas(JOBS)
    c = Client(r)
    cfg, layer = config_blob("rolling-base"), blob("rolling-base/l", 2000)
    for b in (cfg, layer):
        assert c.post_blob("rolling/base", b.data, b.digest).status_code == 201
    base = image_manifest(cfg, [layer])
    assert c.put_manifest("rolling/base", "v1", base).status_code == 201
    pull_failures, pulls = [], [0]
    stop = threading.Event()

    def pull_loop():
        puller = Client(r)
        while not stop.is_set():
            try:
                got = puller.get_manifest("rolling/base", "v1")
                blob_got = puller.get(puller.blob_url("rolling/base", layer.digest))
                if got.status_code != 200 or blob_got.content != layer.data:
                    pull_failures.append((got.status_code, blob_got.status_code))
                pulls[0] += 1
            except requests.RequestException as e:
                pull_failures.append(repr(e))

    puller = threading.Thread(target=pull_loop)
    puller.start()
    pushers = Pushers(r, "rolling/app", count=2, allowed=())
    try:
        pushers.more_acknowledged(5, "pushes before the restart")
        for node in r.nodes:
            node.stop()
            pushers.more_acknowledged(5, f"pushes while {node.host} is down")
            node.start()
            pushers.more_acknowledged(5, f"pushes once {node.host} is back")
    finally:
        stop.set()
        puller.join(timeout=60)
        pushers.stop()
    assert pushers.refused == [], pushers.refused[:5]
    assert pull_failures == [], pull_failures[:5]
    assert pulls[0] > 0
    pushers.check_all_pull(r)


def gc_runs(node) -> float:
    """Collections this replica itself ran, by its metrics (idle ones included)."""
    text = requests.get(f"{node.url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(
        r'^berth_lifecycle_runs_total\{[^}]*kind="gc"[^}]*\} (\S+)$', text, re.M))


def test_scheduled_collection_runs_once_per_due_time_across_replicas(replicas):
    """Both replicas schedule a collection every second: across both, the runs come once
    a second, not twice (each replica counts its own runs in its metrics)."""
    r = replicas("berth:\n  jobs:\n    lease: 2s\n  gc:\n    interval: 1s\n    grace: 0s\n"
                 "  metrics:\n    mainport: true\n")
    wait_for(lambda: sum(gc_runs(n) for n in r.nodes) >= 1, "a first collection")
    first = sum(gc_runs(n) for n in r.nodes)
    started = time.time()
    # Not a synchronisation: the window in which runs are counted.
    time.sleep(8)
    runs = sum(gc_runs(n) for n in r.nodes) - first
    elapsed = time.time() - started
    # Once per due time: at most one a second (plus one at either edge of the window);
    # both replicas running their own schedule would give about two a second.
    assert 2 <= runs <= elapsed + 2, (runs, elapsed)
    # And the work moves: junk pushed through either replica goes.
    c = Client(r)
    junk = blob("replica-gc-junk", 500)
    assert c.post_blob("gc/junk", junk.data, junk.digest).status_code == 201
    wait_for(lambda: c.head(c.blob_url("gc/junk", junk.digest)).status_code == 404,
             "the collection of an unreferenced blob")


def test_a_webhook_receiver_gets_each_event_once(replicas):
    """Both replicas queue events for one endpoint; one delivers at a time, so the
    receiver gets every push once — also after the delivering replica is killed."""
    receiver = Receiver().start()
    try:
        r = replicas(JOBS + "notifications:\n  endpoints:\n"
                     f"    - name: hook\n      url: {receiver.url}\n"
                     "      timeout: 2s\n      threshold: 1\n      backoff: 200ms\n"
                     "      ignoredactions: [pull]\n")
        c = Client(r)

        def push(n: int) -> str:
            cfg, layer = config_blob(f"hook-{n}"), blob(f"hook-{n}/l", 300)
            for b in (cfg, layer):
                assert c.post_blob("hooks/app", b.data, b.digest).status_code == 201
            m = image_manifest(cfg, [layer])
            assert c.put_manifest("hooks/app", f"t{n}", m).status_code == 201
            return f"t{n}"

        def manifest_pushes(events):
            return [e["target"]["tag"] for e in events
                    if e["action"] == "push" and e["target"].get("tag")]

        tags = [push(n) for n in range(10)]
        receiver.wait_for(lambda ev: set(manifest_pushes(ev)) >= set(tags), timeout=30)
        # Killed once all is delivered: a kill between a delivery and its being marked
        # delivered repeats that batch (delivery is at least once across crashes).
        wait_for(lambda: metadata.query(r, "SELECT COUNT(*) FROM outbox")[0][0] in (0, "0"),
                 "an empty outbox")
        r.nodes[0].kill()
        tags += [push(n) for n in range(10, 20)]
        receiver.wait_for(lambda ev: set(manifest_pushes(ev)) >= set(tags), timeout=30)
        r.nodes[0].start()
        tags += [push(n) for n in range(20, 25)]
        events = receiver.wait_for(lambda ev: set(manifest_pushes(ev)) >= set(tags), timeout=30)
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids)), "an event came twice"
        assert sorted(manifest_pushes(events)) == sorted(tags)
    finally:
        receiver.stop()


def test_a_collection_whose_replica_is_killed_is_taken_over(replicas):
    """A collection started on one replica waits in its blob pass (a placement holds the
    lock); that replica is killed with -9. A collection asked of the other replica takes
    the job over at once (its holder is gone), finishes the work, and the history marks
    the killed run abandoned."""
    # A long lease: only knowing the holder is gone lets the job move before it runs out.
    r = replicas("berth:\n  jobs:\n    lease: 120s\n  gc:\n    enabled: false\n")
    c = Client(r.nodes[1])
    for i in range(3):
        junk = blob(f"takeover-junk-{i}", 400)
        assert c.post_blob("gc/takeover", junk.data, junk.digest).status_code == 201
    a, b = r.nodes
    with metadata.placement_held(r):
        started = start_gc(a, {"grace": "0s"})
        assert started.status_code == 201, started.text
        wait_for(lambda: (recorded_collections(b) or [{}])[0].get("job_status") == "Running",
                 "the run on the first replica")
        a.kill()
    asked = time.time()
    done = start_gc(b, {"grace": "0s"})
    assert done.status_code == 201, done.text
    finished_run(b, b.url + done.headers["Location"], timeout=100)
    assert time.time() - asked < 60, "the job waited for the dead holder's lease"
    runs = recorded_collections(b)
    assert runs[0]["job_status"] == "Success" and runs[0]["report"]["blobs_deleted"] == 3, runs[0]
    assert "abandoned" in runs[1]["error"], runs[1]
