"""Several berth processes serving one registry: the same config on one PostgreSQL
database and one Garage bucket prefix, each with a state directory and port of its own,
behind a real nginx balancing between them (round robin, as the replicated compose file's
nginx does)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests

import objectstore
import postgres
from conftest import Registry
from servers import free_port

NGINX_CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$upstream_addr $request_method $uri $status';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream berth {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        # Blobs of any size, streamed both ways.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {{
            proxy_pass http://berth;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            # A replica that is down or stopping refuses connections: the request goes to
            # another (it was not sent, so even a PATCH is safe to pass on).
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


class Balancer:
    """nginx in front of `ports`, on a free loopback port of its own."""

    def __init__(self, directory: Path, ports: list[int]):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(dir=self.dir, port=self.port, servers=servers))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Balancer":
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()}")
            try:
                requests.get(self.url + "/v2/", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def upstreams(self, method: str, uri_part: str = "") -> set[str]:
        """The replicas (`127.0.0.1:port`) that answered `method` requests whose path
        holds `uri_part`, by nginx's access log."""
        found = set()
        log = self.dir / "access.log"
        for line in (log.read_text().splitlines() if log.exists() else []):
            parts = line.split()
            if len(parts) >= 3 and parts[1] == method and uri_part in parts[2]:
                found.add(parts[0])
        return found


class Replicas:
    """`count` berth processes over one PostgreSQL database and one Garage prefix, and
    nginx in front; `url`/`host` are the balancer's, so a Client or skopeo uses them like
    one registry. `nodes[i]` is each replica (a conftest.Registry). With `garage` (the
    nodes of a cluster) replica i talks to node i; else all to the shared one-node Garage."""

    def __init__(self, workdir: Path, count: int = 2, extra_config: str = "",
                 garage: list | None = None):
        pg = postgres.shared_server()
        self.database = (pg, pg.create_database())
        garage = garage or [objectstore.shared_server()]
        prefix = garage[0].new_prefix()
        self.s3 = (garage[0], prefix)
        self.nodes = [Registry(workdir / f"replica-{i}", extra_config=extra_config,
                               database=self.database, s3=(garage[i % len(garage)], prefix),
                               kind="berth")
                      for i in range(count)]
        for node in self.nodes:
            node.start()
        self.balancer = Balancer(workdir / "nginx", [n.port for n in self.nodes]).start()
        self.url, self.host = self.balancer.url, self.balancer.host
        # Helpers that inspect state (metadata.query, blobstore) read these.
        self.root = self.nodes[0].root

    def stop(self):
        self.balancer.stop()
        for node in self.nodes:
            node.stop()
