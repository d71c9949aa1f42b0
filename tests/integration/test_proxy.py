"""berth behind nginx terminating TLS, as docs/deployment.md shows it: nginx (Debian's, on
a private port and prefix) speaks HTTPS to clients and plain HTTP to berth, and says so in
X-Forwarded-Proto. The token realm berth hands out must be the HTTPS address the client
used, or token clients (skopeo, Docker) would fetch their tokens over plain HTTP."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

import images as im
from conftest import LOCAL_AUTH, free_port
from test_tls_and_cli import make_cert

pytestmark = pytest.mark.berth_only

NGINX_CONF = """worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        # Layers are large, and streamed: no size limit, no buffering of uploads.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 900;
        }}
    }}
}}
"""


@pytest.fixture
def nginx_in_front(make_registry, workdir):
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed (scripts/install-deps.sh installs nginx-light)")
    reg = make_registry(extra_config=LOCAL_AUTH)
    ca, crt, key = make_cert(workdir)
    ngx = workdir / "nginx"
    ngx.mkdir()
    port = free_port()
    (ngx / "nginx.conf").write_text(NGINX_CONF.format(dir=ngx, port=port, cert=crt, key=key,
                                                      upstream=reg.port))
    subprocess.run(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf"), "-t"], check=True,
                   capture_output=True)
    subprocess.run(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf")], check=True,
                   capture_output=True)
    url = f"https://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            requests.get(f"{url}/v2/", verify=str(ca), timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield reg, url, ca, port
    subprocess.run(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf"), "-s", "stop"],
                   capture_output=True)


def test_the_realm_is_the_https_address_behind_nginx(nginx_in_front, workdir):
    reg, url, ca, port = nginx_in_front
    r = requests.get(f"{url}/v2/", verify=str(ca), timeout=10)
    assert r.status_code == 401
    assert f'realm="{url}/auth/token"' in r.headers["WWW-Authenticate"], r.headers
    # Directly, berth still names its own plain address.
    direct = requests.get(f"{reg.url}/v2/", timeout=10)
    assert f'realm="{reg.url}/auth/token"' in direct.headers["WWW-Authenticate"]

    # skopeo follows the token flow through nginx, over HTTPS only, for a push and a pull.
    certs = workdir / "client-certs"
    certs.mkdir()
    shutil.copy(ca, certs / "ca.crt")
    password = (reg.root / "initial-admin-password").read_text().strip()
    layout = im.build_image(workdir / "src", "v1", layers=2)
    ref = f"docker://127.0.0.1:{port}/proxied/app:v1"
    im.skopeo("copy", "--dest-cert-dir", str(certs), f"--dest-creds=admin:{password}",
              layout.ref, ref)
    raw = im.skopeo("inspect", "--raw", "--cert-dir", str(certs),
                    f"--creds=admin:{password}", ref).stdout.encode()
    assert im.sha256(raw) == layout.digest
    out = workdir / "pulled"
    im.skopeo("copy", "--src-cert-dir", str(certs), f"--src-creds=admin:{password}", ref,
              f"dir:{out}")
    assert im.dir_blobs(out) == layout.all_blobs()
