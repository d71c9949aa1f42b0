"""Metrics, health and request ids through the real binary: the debug listener's
Prometheus endpoint is scraped after a known workload and parsed with the Prometheus
client library's OpenMetrics parser; readiness turns unready when storage or the metadata
database goes away and ready again when they come back.

berth only: Distribution's debug server has other metrics and health semantics."""

import hashlib
import re
import time

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import free_port

pytestmark = pytest.mark.berth_only


def with_debug_listener(make_registry, extra: str = ""):
    """A registry whose debug listener serves metrics; `reg.debug_url` points at it."""
    debug_port = free_port()
    reg = make_registry(extra_config=(
        f"  debug:\n    addr: 127.0.0.1:{debug_port}\n"
        "    prometheus:\n      enabled: true\n      path: /metrics\n" + extra))
    reg.debug_url = f"http://127.0.0.1:{debug_port}"
    return reg


@pytest.fixture
def observed(make_registry):
    return with_debug_listener(make_registry)


def scrape(reg) -> dict[tuple[str, tuple], float]:
    r = requests.get(f"{reg.debug_url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def push_blob(reg, repo: str, data: bytes):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{reg.url}/v2/{repo}/blobs/uploads/", timeout=10)
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else reg.url + loc
    r = requests.put(f"{loc}?digest={digest}", data=data, timeout=10)
    assert r.status_code == 201
    return digest


def test_metrics_count_a_known_workload(observed):
    reg = observed
    before = scrape(reg)
    for _ in range(5):
        assert requests.get(f"{reg.url}/v2/").status_code == 200
    for _ in range(3):
        assert requests.get(f"{reg.url}/v2/x/manifests/missing").status_code == 404
    data = b"x" * 12345
    digest = push_blob(reg, "metrics/app", data)
    for _ in range(2):
        assert requests.get(f"{reg.url}/v2/metrics/app/blobs/{digest}").content == data
    after = scrape(reg)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    total = "registry_http_requests_total"
    assert delta(total, method="GET", handler="base", code="200") == 5
    assert delta(total, method="GET", handler="manifest", code="404") == 3
    assert delta(total, method="POST", handler="blob_upload", code="202") == 1
    assert delta(total, method="PUT", handler="blob_upload", code="201") == 1
    assert delta(total, method="GET", handler="blob", code="200") == 2
    assert delta("berth_blob_bytes_total", direction="pushed") == len(data)
    assert delta("berth_blob_bytes_total", direction="pulled") == 2 * len(data)
    assert delta("registry_http_request_duration_seconds_count",
                 method="GET", handler="base") == 5
    assert value(after, "registry_http_in_flight_requests", handler="base") == 0
    # Content totals (deduplicated) and storage driver timings.
    assert value(after, "berth_storage_blobs") == 1
    assert value(after, "berth_storage_bytes") == len(data)
    assert value(after, "berth_repositories") == 1
    assert value(after, "berth_uploads_in_progress") == 0
    assert delta("registry_storage_action_seconds_count", driver="filesystem", action="Move") == 1
    # A small blob is read whole once, then served from memory.
    assert delta("registry_storage_action_seconds_count", driver="filesystem",
                 action="GetContent") == 1
    assert delta("registry_storage_action_seconds_count", driver="filesystem",
                 action="Reader") == 0
    # Labels stay bounded: no repository names or digests anywhere.
    text = requests.get(f"{reg.debug_url}/metrics").text
    assert "metrics/app" not in text and digest not in text


def test_auth_failures_are_counted(make_registry):
    reg = with_debug_listener(make_registry, "auth:\n  local:\n    service: s\n")
    before = value(scrape(reg), "berth_auth_failures_total", reason="unauthorized")
    for _ in range(3):
        assert requests.get(f"{reg.url}/v2/", auth=("admin", "wrong")).status_code == 401
    after = value(scrape(reg), "berth_auth_failures_total", reason="unauthorized")
    assert after - before == 3


def test_metrics_are_off_unless_enabled(make_registry):
    debug_port = free_port()
    reg = make_registry(extra_config=f"  debug:\n    addr: 127.0.0.1:{debug_port}\n")
    assert requests.get(f"http://127.0.0.1:{debug_port}/metrics").status_code == 404
    assert requests.get(f"http://127.0.0.1:{debug_port}/debug/health").status_code == 200
    assert requests.get(f"{reg.url}/metrics").status_code == 404, "never on the main port"


def test_metrics_on_the_main_port_when_asked(make_registry):
    reg = make_registry(extra_config="berth:\n  metrics:\n    mainport: true\n"
                                     "auth:\n  local:\n    service: s\n")
    r = requests.get(f"{reg.url}/metrics", timeout=10)
    assert r.status_code == 200, "no credentials needed"
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert "registry_http_requests" in names


def test_access_log_has_bytes(registry):
    data = requests.get(f"{registry.url}/v2/").content
    registry.stop()
    assert re.search(rf'path="?/v2/"? status=200 bytes={len(data)} ', registry.log()), \
        registry.log()[-1500:]


def test_readiness_follows_storage_and_database(observed):
    reg = observed
    assert requests.get(f"{reg.url}/healthz").json() == {"status": "alive"}
    r = requests.get(f"{reg.url}/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"storage": {"status": "ok"},
                                                      "metadata": {"status": "ok"}}}

    # Storage goes away (an unmounted volume): not ready, and the report says why.
    docker_dir = reg.root / "docker"
    docker_dir.rename(reg.root / "docker.away")
    r = requests.get(f"{reg.url}/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready"
    assert body["checks"]["storage"]["status"] == "failing"
    assert "_berth/uploads" in body["checks"]["storage"]["error"]
    assert body["checks"]["metadata"]["status"] == "ok"
    assert requests.get(f"{reg.debug_url}/debug/health").status_code == 503
    assert requests.get(f"{reg.url}/healthz").status_code == 200, "alive all the same"
    (reg.root / "docker.away").rename(docker_dir)
    assert requests.get(f"{reg.url}/readyz").status_code == 200

    # The metadata database file disappears.
    db = reg.root / "berth" / "metadata.db"
    db.rename(reg.root / "berth" / "metadata.away")
    r = requests.get(f"{reg.url}/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["metadata"]["status"] == "failing"
    (reg.root / "berth" / "metadata.away").rename(db)
    assert requests.get(f"{reg.url}/readyz").status_code == 200
    assert requests.get(f"{reg.debug_url}/debug/health").status_code == 200


def test_health_needs_no_credentials(make_registry):
    reg = make_registry(extra_config="auth:\n  local:\n    service: s\n")
    assert requests.get(f"{reg.url}/v2/").status_code == 401
    assert requests.get(f"{reg.url}/healthz").status_code == 200
    assert requests.get(f"{reg.url}/readyz").status_code == 200


def test_request_ids_in_responses_and_logs(registry):
    r = requests.get(f"{registry.url}/v2/nothing/tags/list")
    generated = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    r = requests.get(f"{registry.url}/v2/", headers={"X-Request-Id": "ci-job-42"})
    assert r.headers["X-Request-Id"] == "ci-job-42"
    hostile = requests.get(f"{registry.url}/v2/", headers={"X-Request-Id": "a b\" c"})
    assert hostile.headers["X-Request-Id"] != "a b\" c", "odd ids are replaced, not echoed"
    registry.stop()
    log = registry.log()
    assert re.search(rf"id={generated}.*path=\"?/v2/nothing/tags/list", log), log[-2000:]
    assert "id=ci-job-42" in log


def wait_ready(reg, want: int, timeout: float = 5.0) -> dict:
    deadline = time.time() + timeout
    while True:
        r = requests.get(f"{reg.url}/readyz", timeout=5)
        if r.status_code == want or time.time() > deadline:
            assert r.status_code == want, r.text
            return r.json()
        time.sleep(0.05)


def test_distribution_health_section_checks(make_registry, workdir):
    """Distribution's periodic checks: a maintenance file, a TCP dependency, an HTTP
    dependency and the storage driver, all part of readiness."""
    import socket
    maintenance = workdir / "maintenance"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    tcp_port = listener.getsockname()[1]
    closed_port = free_port()
    reg = make_registry(extra_config=(
        "health:\n"
        "  storagedriver:\n    enabled: true\n    interval: 100ms\n    threshold: 2\n"
        f"  file:\n    - file: {maintenance}\n      interval: 100ms\n"
        f"  tcp:\n    - addr: 127.0.0.1:{tcp_port}\n      interval: 100ms\n      timeout: 1s\n"
        f"  http:\n    - uri: http://127.0.0.1:{closed_port}/ping\n      interval: 100ms\n"
        "      timeout: 1s\n      threshold: 2\n"))
    body = wait_ready(reg, 503)
    failing = {k for k, v in body["checks"].items() if v["status"] == "failing"}
    assert failing == {f"http:http://127.0.0.1:{closed_port}/ping"}, body
    assert body["checks"][f"tcp:127.0.0.1:{tcp_port}"]["status"] == "ok"
    assert body["checks"]["storagedriver"]["status"] == "ok"

    # The HTTP dependency comes up: ready.
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import threading

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", closed_port), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wait_ready(reg, 200)
        # Maintenance mode: the file's existence makes the registry unready.
        maintenance.write_text("down for maintenance")
        body = wait_ready(reg, 503)
        assert "exists" in body["checks"][f"file:{maintenance}"]["error"]
        maintenance.unlink()
        wait_ready(reg, 200)
        # The TCP dependency goes away.
        listener.close()
        body = wait_ready(reg, 503)
        assert body["checks"][f"tcp:127.0.0.1:{tcp_port}"]["status"] == "failing"
    finally:
        server.shutdown()
        server.server_close()
