"""Crash safety: berth is killed with SIGKILL in the middle of work and restarted on the
same root. Whatever it acknowledged must still be there and correct; whatever it did not
acknowledge must be either fully there or absent, never half-written; uploads resume
from the last acknowledged byte; the metadata database reopens consistent.
"""

import hashlib
import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

import metadata

pytestmark = pytest.mark.berth_only

MiB = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_file(reg, upload_id: str) -> Path:
    """Where berth keeps an upload's bytes (docs/migration.md)."""
    return reg.root / "docker/registry/v2/_berth/uploads" / upload_id / "data"


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def stalled_request(reg, method: str, path: str, headers: dict, body: bytes,
                    length: int) -> http.client.HTTPConnection:
    """Starts a request announcing `length` body bytes but sends only `body`, and leaves
    it hanging: the server is then mid-request when it is killed."""
    host, port = reg.host.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path)
    for k, v in {**headers, "Content-Length": str(length)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body)
    return conn


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def patch(s: requests.Session, reg, location: str, data: bytes, start: int) -> requests.Response:
    return s.patch(urljoin(reg.url, location), data=data, timeout=30, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(data) - 1}",
    })


def test_chunked_upload_resumes_after_kill(registry):
    reg = registry
    blob = random.Random("chunked").randbytes(8 * MiB)
    digest = sha256(blob)
    s = requests.Session()

    r = s.post(f"{reg.url}/v2/crash/big/blobs/uploads/", timeout=30)
    assert r.status_code == 202
    upload_id = r.headers["Docker-Upload-UUID"]
    location = r.headers["Location"]
    offset = 0
    for _ in range(3):
        r = patch(s, reg, location, blob[offset:offset + MiB], offset)
        assert r.status_code == 202, r.text
        offset += MiB
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]

    # A 4 MiB chunk of which 3 MiB arrive: berth writes some of it to disk, past the
    # acknowledged offset, then dies.
    conn = stalled_request(reg, "PATCH", path_of(location),
                           {"Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + 4 * MiB - 1}"},
                           blob[offset:offset + 3 * MiB], 4 * MiB)
    data_file = upload_file(reg, upload_id)
    wait_for(lambda: file_size(data_file) > offset, what="the chunk to reach the disk")
    reg.kill()
    conn.close()
    reg.start()

    # The status shows the acknowledged bytes only.
    r = s.get(urljoin(reg.url, location), timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["Range"] == f"0-{offset - 1}"
    assert r.headers["Docker-Upload-UUID"] == upload_id
    location = r.headers["Location"]
    # A chunk that does not start at the acknowledged offset is refused with 416 and
    # where the upload stands. (On a connection of its own: berth answers without
    # reading the body and then closes the connection.)
    r = patch(requests.Session(), reg, location, blob[offset + 1:offset + MiB], offset + 1)
    assert r.status_code == 416
    assert r.headers["Range"] == f"0-{offset - 1}"
    # Nothing is visible under the final digest yet.
    assert s.head(f"{reg.url}/v2/crash/big/blobs/{digest}", timeout=30).status_code == 404

    # Resume up to 6 MiB, then die again while the final PUT streams its last chunk.
    while offset < 6 * MiB:
        r = patch(s, reg, location, blob[offset:offset + MiB], offset)
        assert r.status_code == 202, r.text
        offset += MiB
        location = r.headers["Location"]
    final = urljoin(reg.url, location)
    sep = "&" if "?" in final else "?"
    conn = stalled_request(reg, "PUT", path_of(final) + f"{sep}digest={digest}",
                           {"Content-Type": "application/octet-stream"},
                           blob[offset:offset + int(1.5 * MiB)], len(blob) - offset)
    wait_for(lambda: file_size(data_file) > offset, what="the last chunk to reach the disk")
    reg.kill()
    conn.close()
    reg.start()

    assert s.head(f"{reg.url}/v2/crash/big/blobs/{digest}", timeout=30).status_code == 404
    r = s.get(urljoin(reg.url, location), timeout=30)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{offset - 1}"
    r = s.put(f"{final}{sep}digest={digest}", data=blob[offset:], timeout=30,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest

    r = s.get(f"{reg.url}/v2/crash/big/blobs/{digest}", timeout=60)
    assert r.status_code == 200
    assert len(r.content) == len(blob) and r.content == blob
    # The session is gone, and so are its files.
    assert s.get(final, timeout=30).status_code == 404
    assert not data_file.parent.exists()


# ------------------------------------------------------------------ concurrent pushes

@dataclass
class PushLog:
    """What the workers sent, and which requests berth acknowledged."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_blobs: dict = field(default_factory=dict)       # (repo, digest) -> bytes
    tried_blobs: dict = field(default_factory=dict)
    acked_manifests: dict = field(default_factory=dict)   # (repo, tag) -> bytes
    tried_manifests: dict = field(default_factory=dict)
    unexpected: list = field(default_factory=list)        # answers other than success

    def add(self, table: str, key, value):
        with self.lock:
            getattr(self, table)[key] = value

    def complain(self, r: requests.Response):
        with self.lock:
            self.unexpected.append((r.request.method, r.url, r.status_code, r.text))


def push_blob(s: requests.Session, url: str, repo: str, data: bytes, chunked: bool):
    digest = sha256(data)
    if not chunked:
        return s.post(f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", data=data, timeout=60,
                      headers={"Content-Type": "application/octet-stream"})
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=60)
    if r.status_code != 202:
        return r
    location = r.headers["Location"]
    half = len(data) // 2
    for start, piece in ((0, data[:half]), (half, data[half:])):
        r = s.patch(urljoin(url, location), data=piece, timeout=60, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(piece) - 1}"})
        if r.status_code != 202:
            return r
        location = r.headers["Location"]
    final = urljoin(url, location)
    return s.put(final + ("&" if "?" in final else "?") + f"digest={digest}", timeout=60)


def image_manifest(config: bytes, layers: list[bytes], note: str) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(l), "size": len(l)} for l in layers],
        "annotations": {"note": note},
    }).encode()


def put_manifest(s: requests.Session, url: str, repo: str, ref: str, body: bytes):
    return s.put(f"{url}/v2/{repo}/manifests/{ref}", data=body, timeout=60,
                 headers={"Content-Type": OCI_MANIFEST})


def push_worker(url: str, index: int, log: PushLog, stop: threading.Event):
    """Pushes images (a config, one layer of varying size, a manifest) until stopped or
    until the registry goes away. Every blob and manifest is unique to this worker."""
    s = requests.Session()
    rng = random.Random(f"worker-{index}")
    repo = f"crash/w{index % 4}"
    n = 0
    while not stop.is_set():
        n += 1
        config = json.dumps({"architecture": "amd64", "os": "linux", "worker": index, "n": n,
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = rng.randbytes(rng.choice([4096, 100_000, 700_000, 3 * MiB]))
        try:
            for data, chunked in ((config, False), (layer, n % 3 == 0)):
                log.add("tried_blobs", (repo, sha256(data)), data)
                r = push_blob(s, url, repo, data, chunked)
                if r.status_code != 201:
                    log.complain(r)
                    return
                log.add("acked_blobs", (repo, sha256(data)), data)
            tag = f"w{index}-{n}"
            body = image_manifest(config, [layer], tag)
            log.add("tried_manifests", (repo, tag), body)
            r = put_manifest(s, url, repo, tag, body)
            if r.status_code != 201:
                log.complain(r)
                return
            log.add("acked_manifests", (repo, tag), body)
        except requests.RequestException:
            return  # the registry was killed under this request


def test_kill_during_concurrent_pushes(registry):
    reg = registry
    log = PushLog()
    stop = threading.Event()
    workers = [threading.Thread(target=push_worker, args=(reg.url, i, log, stop), daemon=True)
               for i in range(8)]
    for w in workers:
        w.start()
    # One push is sure to be mid-body at the kill: the server has part of it.
    stalled_blob = random.Random("stalled").randbytes(3 * MiB)
    wait_for(lambda: len(log.acked_manifests) >= 24, timeout=60, what="pushes to succeed")
    conn = stalled_request(reg, "POST", f"/v2/crash/stalled/blobs/uploads/?digest="
                           f"{sha256(stalled_blob)}",
                           {"Content-Type": "application/octet-stream"},
                           stalled_blob[:2 * MiB], len(stalled_blob))
    time.sleep(0.2)  # let the in-flight pushes and the stalled body get going
    reg.kill()
    stop.set()
    for w in workers:
        w.join(timeout=60)
    conn.close()
    assert not log.unexpected, log.unexpected[:3]
    assert len(log.tried_blobs) > len(log.acked_blobs) or \
        len(log.tried_manifests) > len(log.acked_manifests), "nothing was in flight at the kill"

    reg.start()
    s = requests.Session()
    # Everything acknowledged is there, whole.
    for (repo, digest), data in log.acked_blobs.items():
        r = s.get(f"{reg.url}/v2/{repo}/blobs/{digest}", timeout=60)
        assert r.status_code == 200, (repo, digest, r.status_code)
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.content == data, (repo, digest, len(r.content), len(data))
    for (repo, tag), body in log.acked_manifests.items():
        for ref in (tag, sha256(body)):
            r = s.get(f"{reg.url}/v2/{repo}/manifests/{ref}", timeout=30,
                      headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200, (repo, ref, r.status_code)
            assert r.content == body
    # What was cut off is absent or complete, never partial.
    for (repo, digest), data in log.tried_blobs.items():
        if (repo, digest) in log.acked_blobs:
            continue
        r = s.get(f"{reg.url}/v2/{repo}/blobs/{digest}", timeout=60)
        assert r.status_code in (200, 404), r.status_code
        if r.status_code == 200:
            assert r.content == data
    for (repo, tag), body in log.tried_manifests.items():
        for ref in (tag, sha256(body)):
            r = s.get(f"{reg.url}/v2/{repo}/manifests/{ref}", timeout=30,
                      headers={"Accept": OCI_MANIFEST})
            assert r.status_code in (200, 404)
            if r.status_code == 200:
                assert r.content == body
    r = s.head(f"{reg.url}/v2/crash/stalled/blobs/{sha256(stalled_blob)}", timeout=30)
    assert r.status_code == 404
    # Tag lists agree with the pushes: every acknowledged tag, nothing never pushed.
    for repo in {repo for repo, _ in log.tried_manifests}:
        listed = set(s.get(f"{reg.url}/v2/{repo}/tags/list", timeout=30).json()["tags"])
        acked = {tag for r_, tag in log.acked_manifests if r_ == repo}
        tried = {tag for r_, tag in log.tried_manifests if r_ == repo}
        assert acked <= listed <= tried, (repo, acked - listed, listed - tried)

    # And the registry takes new pushes.
    fresh = b"after the crash"
    assert push_blob(s, reg.url, "crash/stalled", fresh, True).status_code == 201
    assert s.get(f"{reg.url}/v2/crash/stalled/blobs/{sha256(fresh)}").content == fresh


# ------------------------------------------------------------------ metadata database

@dataclass
class TagWorker:
    """One writer's view of its tags, kept across crash rounds."""
    index: int
    repo: str
    n: int = 0
    present: dict = field(default_factory=dict)     # tag -> manifest bytes (acknowledged)
    deleted: dict = field(default_factory=dict)     # tag -> bytes whose delete was acked
    uncertain: dict = field(default_factory=dict)   # tag -> bytes of a push or delete cut off
    moving: set = field(default_factory=set)        # digests `moving-<i>` may point at
    acks: int = 0
    errors: list = field(default_factory=list)      # answers that were not success

    def run(self, url: str, config: bytes, layer: bytes, stop: threading.Event):
        s = requests.Session()
        moving_tag = f"moving-{self.index}"

        def expect(r: requests.Response, status: int):
            if r.status_code != status:
                self.errors.append((r.request.method, r.url, r.status_code, r.text))
                raise requests.RequestException("unexpected answer")

        while not stop.is_set():
            self.n += 1
            tag = f"w{self.index}-{self.n}"
            body = image_manifest(config, [layer], tag)
            try:
                self.uncertain[tag] = body
                expect(put_manifest(s, url, self.repo, tag, body), 201)
                self.present[tag] = self.uncertain.pop(tag)
                self.moving.add(sha256(body))
                expect(put_manifest(s, url, self.repo, moving_tag, body), 201)
                self.moving = {sha256(body)}
                self.acks += 2
                # Now and then delete an older manifest (by digest: its tag goes too).
                old = f"w{self.index}-{self.n - 2}"
                if self.n % 3 == 0 and old in self.present and \
                        sha256(self.present[old]) not in self.moving:
                    self.uncertain[old] = self.present.pop(old)
                    expect(s.delete(f"{url}/v2/{self.repo}/manifests/"
                                    f"{sha256(self.uncertain[old])}", timeout=30), 202)
                    self.deleted[old] = self.uncertain.pop(old)
                    self.acks += 1
            except requests.RequestException:
                return

    def check(self, url: str, s: requests.Session):
        def get(ref):
            return s.get(f"{url}/v2/{self.repo}/manifests/{ref}", timeout=30,
                         headers={"Accept": OCI_MANIFEST})
        for tag, body in self.present.items():
            r = get(tag)
            assert r.status_code == 200 and r.content == body, (self.repo, tag, r.status_code)
        for tag, body in self.deleted.items():
            assert get(tag).status_code == 404, (self.repo, tag)
            assert get(sha256(body)).status_code == 404, (self.repo, tag)
        for tag, body in self.uncertain.items():
            r = get(tag)
            assert r.status_code in (200, 404) and (r.status_code == 404 or r.content == body)
        if self.moving:
            r = get(f"moving-{self.index}")
            assert r.status_code == 200 and r.headers["Docker-Content-Digest"] in self.moving

    def may_list(self) -> set[str]:
        return {*self.present, *self.uncertain, *([f"moving-{self.index}"] if self.moving else [])}

    def must_list(self) -> set[str]:
        return set(self.present)


def check_tag_lists(reg, workers: list[TagWorker]):
    s = requests.Session()
    for w in workers:
        w.check(reg.url, s)
    for repo in {w.repo for w in workers}:
        listed = set(s.get(f"{reg.url}/v2/{repo}/tags/list", timeout=30).json()["tags"])
        mine = [w for w in workers if w.repo == repo]
        must = set().union(*(w.must_list() for w in mine))
        may = set().union(*(w.may_list() for w in mine))
        assert must <= listed <= may, (repo, must - listed, listed - may)
        # Every listed tag resolves to a manifest whose bytes match its digest.
        for tag in listed:
            r = s.get(f"{reg.url}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST},
                      timeout=30)
            assert r.status_code == 200, (repo, tag)
            assert sha256(r.content) == r.headers["Docker-Content-Digest"]


def test_metadata_survives_kill_during_manifest_pushes(registry):
    reg = registry
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = random.Random("meta-layer").randbytes(2048)
    repos = ["meta/a", "meta/b"]
    s = requests.Session()
    for repo in repos:
        for data in (config, layer):
            assert push_blob(s, reg.url, repo, data, False).status_code == 201
    workers = [TagWorker(i, repos[i % 2]) for i in range(6)]

    for round_ in range(3):
        stop = threading.Event()
        start_acks = sum(w.acks for w in workers)
        threads = [threading.Thread(target=w.run, args=(reg.url, config, layer, stop),
                                    daemon=True) for w in workers]
        for t in threads:
            t.start()
        wait_for(lambda: sum(w.acks for w in workers) - start_acks >= 60, timeout=60,
                 what=f"manifest pushes in round {round_}")
        reg.kill()
        stop.set()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
        assert not [e for w in workers for e in w.errors]

        log_before = len(reg.log())
        reg.start()
        restart_log = reg.log()[log_before:]
        assert " ERROR " not in restart_log, restart_log
        check_tag_lists(reg, workers)
        assert metadata.integrity_ok(reg)

    assert sum(len(w.deleted) for w in workers) > 0
    # A clean restart shows the same state.
    listed = {repo: s.get(f"{reg.url}/v2/{repo}/tags/list").json()["tags"] for repo in repos}
    reg.restart()
    assert {repo: s.get(f"{reg.url}/v2/{repo}/tags/list").json()["tags"] for repo in repos} \
        == listed
    check_tag_lists(reg, workers)


# ------------------------------------------------------------------ same manifest, many repos

def test_identical_manifest_pushed_to_many_repositories_at_once(registry):
    """CI systems push one image to several repositories in parallel: the same manifest
    bytes arrive at the same moment. Each push must succeed (Distribution's do)."""
    reg = registry
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    repos = [f"fanout/r{i}" for i in range(12)]
    s = requests.Session()
    for repo in repos:
        assert push_blob(s, reg.url, repo, config, True).status_code == 201
    failures = []
    rounds = 40  # each round is a fresh collision chance; stop at the first failure
    for round_ in range(rounds):
        if failures:
            break
        body = image_manifest(config, [], f"round {round_}")
        barrier = threading.Barrier(len(repos))

        def push(repo):
            barrier.wait()
            r = requests.put(f"{reg.url}/v2/{repo}/manifests/v{round_}", data=body, timeout=30,
                             headers={"Content-Type": OCI_MANIFEST})
            if r.status_code != 201:
                failures.append((repo, round_, r.status_code, r.text))

        threads = [threading.Thread(target=push, args=(repo,)) for repo in repos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    for repo in repos:
        r = s.get(f"{reg.url}/v2/{repo}/manifests/v{rounds - 1}",
                  headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
