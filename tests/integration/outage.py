"""Shared by the tests that stop or kill a server berth depends on (PostgreSQL, Garage):
polling with a deadline, and pushers that keep pushing through an outage and remember
what was acknowledged."""

import threading
import time

import requests

from oci import Client, blob, config_blob, image_manifest, sha256


def wait_for(check, what: str, timeout: float = 60.0):
    """Polls `check` until it returns something true; fails saying `what` did not happen."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class Pushers:
    """`count` threads pushing one small image after another into `prefix<n>` repositories
    of `reg` until stopped. A push counts as acknowledged only when its manifest PUT got
    201; anything else (an error answer, a dropped connection) counts as refused, and an
    error answer must be a server-side one in `allowed`."""

    def __init__(self, reg, prefix: str, count: int = 3, layer_size: int = 700,
                 allowed: tuple[int, ...] = (500, 503)):
        self.reg, self.prefix, self.layer_size, self.allowed = reg, prefix, layer_size, allowed
        self.acknowledged: list[tuple[str, str, str]] = []
        self.refused: list[str] = []
        self.unexpected: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._push, args=(n,)) for n in range(count)]
        for t in self._threads:
            t.start()

    def _push(self, n: int):
        c = Client(self.reg)
        i = 0
        while not self._stop.is_set():
            i += 1
            repo, tag = f"{self.prefix}{n}", f"t{i}"
            try:
                cfg, layer = config_blob(f"{repo}-{i}"), blob(f"{repo}-{i}/l", self.layer_size)
                answers = [c.post_blob(repo, b.data, b.digest) for b in (cfg, layer)]
                bad = [r for r in answers if r.status_code != 201]
                if not bad:
                    m = image_manifest(cfg, [layer])
                    r = c.put_manifest(repo, tag, m)
                    if r.status_code == 201:
                        with self._lock:
                            self.acknowledged.append((repo, tag, m.digest))
                        continue
                    bad = [r]
                with self._lock:
                    self.refused.append(tag)
                    self.unexpected += [f"{r.status_code} {r.text}" for r in bad
                                        if r.status_code not in self.allowed]
            except requests.RequestException:
                with self._lock:
                    self.refused.append(tag)

    def more_acknowledged(self, n: int, what: str):
        count = len(self.acknowledged)
        wait_for(lambda: len(self.acknowledged) >= count + n, what)

    def more_refused(self, what: str):
        count = len(self.refused)
        wait_for(lambda: len(self.refused) > count, what)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        assert not self.unexpected, self.unexpected[:5]

    def check_all_pull(self, reg):
        """Every acknowledged image pulls from `reg`: its manifest and its layer's bytes."""
        c = Client(reg)
        for repo, tag, digest in self.acknowledged:
            r = c.get_manifest(repo, tag)
            assert r.status_code == 200, (repo, tag, r.status_code, r.text)
            assert r.headers["Docker-Content-Digest"] == digest
            layer = r.json()["layers"][0]["digest"]
            got = c.get(c.blob_url(repo, layer))
            assert got.status_code == 200 and sha256(got.content) == layer
