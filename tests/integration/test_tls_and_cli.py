"""The binary's own surface: TLS (HTTP/1.1 and HTTP/2), the CLI, config checks, REGISTRY_*
overrides, http.prefix, and the loud warnings a registry:2 user must see."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import berth_bin, free_port

pytestmark = pytest.mark.berth_only


def run_berth(*args, env=None, cwd=None, timeout=30):
    return subprocess.run([berth_bin(), *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), cwd=cwd, timeout=timeout)


def make_cert(dir: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it."""
    ca_key, ca_crt = dir / "ca.key", dir / "ca.crt"
    key, csr, crt, ext = dir / "server.key", dir / "server.csr", dir / "server.crt", dir / "ext.cnf"
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=berth test CA")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
       "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def test_tls_serves_http1_and_http2(make_registry, workdir):
    ca, crt, key = make_cert(workdir)
    reg = make_registry(extra_config=f"  tls:\n    certificate: {crt}\n    key: {key}\n",
                        scheme="https", ca=ca)
    for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
        out = subprocess.run(["curl", "-sS", flag, "--cacert", str(ca), "-o", "/dev/null",
                              "-w", "%{http_code} %{http_version}", f"{reg.url}/v2/"],
                             capture_output=True, text=True, check=True).stdout
        assert out == f"200 {version}", out
    # A client that does not trust the CA is refused by its own TLS check.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{reg.url}/v2/", timeout=5)


def challenge_over(flag: str, url: str, ca=None) -> tuple[str, str]:
    """curl's HTTP version and the token realm the registry's 401 names."""
    args = ["curl", "-sS", flag, "-o", "/dev/null", "-D", "-", "-w", "%{http_version}"]
    if ca:
        args += ["--cacert", str(ca)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    realm = next(line.split('realm="', 1)[1].split('"', 1)[0] for line in out.splitlines()
                 if line.lower().startswith("www-authenticate:"))
    return out.splitlines()[-1], realm


def test_http2_clients_get_the_realm_they_addressed(make_registry, workdir):
    """HTTP/2 sends the host as :authority and no Host header: the challenge's token realm
    must still be the address the client used, over TLS and over h2c."""
    from conftest import LOCAL_AUTH
    ca, crt, key = make_cert(workdir)
    tls = make_registry(extra_config=f"  tls:\n    certificate: {crt}\n    key: {key}\n"
                        + LOCAL_AUTH, scheme="https", ca=ca)
    version, realm = challenge_over("--http2", f"{tls.url}/v2/", ca)
    assert (version, realm) == ("2", f"https://{tls.host}/auth/token")
    version, realm = challenge_over("--http2", f"https://localhost:{tls.port}/v2/", ca)
    assert (version, realm) == ("2", f"https://localhost:{tls.port}/auth/token")
    plain = make_registry(extra_config=LOCAL_AUTH)
    version, realm = challenge_over("--http2-prior-knowledge", f"{plain.url}/v2/")
    assert (version, realm) == ("2", f"http://{plain.host}/auth/token")
    version, realm = challenge_over("--http1.1", f"{plain.url}/v2/")
    assert (version, realm) == ("1.1", f"http://{plain.host}/auth/token")


def test_tls_minimum_version_is_enforced(make_registry, workdir):
    ca, crt, key = make_cert(workdir)
    reg = make_registry(extra_config=f"  tls:\n    certificate: {crt}\n    key: {key}\n"
                                     "    minimumtls: tls1.3\n", scheme="https", ca=ca)
    tls12 = subprocess.run(["curl", "-sS", "--cacert", str(ca), "--tls-max", "1.2",
                            f"{reg.url}/v2/"], capture_output=True, text=True)
    assert tls12.returncode != 0
    tls13 = subprocess.run(["curl", "-sS", "--cacert", str(ca), "--tlsv1.3", "-o", "/dev/null",
                            "-w", "%{http_code}", f"{reg.url}/v2/"], capture_output=True, text=True)
    assert tls13.stdout == "200"


def served_certificate(reg) -> bytes:
    """The DER certificate the registry presents on a fresh connection."""
    import socket
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", reg.port), timeout=5) as sock:
        with ctx.wrap_socket(sock) as tls:
            return tls.getpeercert(binary_form=True)


def test_rotated_certificate_is_served_without_restart(make_registry, workdir):
    first_dir, second_dir = workdir / "first", workdir / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    ca, crt, key = make_cert(first_dir)
    reg = make_registry(extra_config=f"  tls:\n    certificate: {crt}\n    key: {key}\n",
                        scheme="https", ca=ca)
    before = served_certificate(reg)
    new_ca, new_crt, new_key = make_cert(second_dir)
    # A half-done rotation (new certificate, old key) keeps the old pair in service.
    crt.write_bytes(new_crt.read_bytes())
    time.sleep(1.5)
    assert served_certificate(reg) == before
    key.write_bytes(new_key.read_bytes())
    time.sleep(1.5)
    after = served_certificate(reg)
    assert after != before
    r = requests.get(f"{reg.url}/v2/", verify=str(new_ca), timeout=5)
    assert r.status_code == 200
    assert reg.proc.poll() is None, "the registry kept running"


def test_health_command_says_whether_a_registry_is_ready(registry):
    ok = run_berth("health", registry.url)
    assert ok.returncode == 0 and "ready" in ok.stdout, ok.stderr
    gone = run_berth("health", f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 1 and "does not answer" in gone.stderr


def test_help_explains_commands():
    out = run_berth("--help")
    assert out.returncode == 0
    for word in ("serve", "import", "config", "registry:2"):
        assert word in out.stdout
    serve = run_berth("serve", "--help")
    assert serve.returncode == 0 and "CONFIG" in serve.stdout


def test_config_check_accepts_distribution_example(workdir):
    cfg = workdir / "config.yml"
    # Distribution's own example config (cmd/registry/config-example.yml), unchanged.
    cfg.write_text("""version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
""")
    out = run_berth("config", "check", str(cfg))
    assert out.returncode == 0, out.stderr
    # Every key of Distribution's own example is honoured; the one warning is that it has
    # no auth section, so it runs an open registry.
    assert out.stdout.strip() == f"{cfg}: OK (1 warning)", out.stdout + out.stderr
    assert "OPEN registry" in out.stderr
    # A section berth does not honour yet is named, not silently dropped.
    with open(cfg, "a") as f:
        f.write("redis:\n  addr: localhost:6379\n")
    out = run_berth("config", "check", str(cfg))
    assert out.returncode == 0 and "redis" in out.stderr, out.stderr


def test_config_check_rejects_bad_values(workdir):
    cfg = workdir / "bad.yml"
    cfg.write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n"
                   "http:\n  tls:\n    certificate: /c\n    key: /k\n    minimumtls: tls9\n")
    out = run_berth("config", "check", str(cfg))
    assert out.returncode != 0
    assert "minimumtls" in out.stderr
    cfg.write_text("version: 0.1\nstorage: [not, a, mapping\n")
    out = run_berth("config", "check", str(cfg))
    assert out.returncode != 0 and str(cfg) in out.stderr


CHECKED_BY_SERVE = {
    # Debian's stock /etc/docker/registry/config.yml names a directory as its htpasswd file.
    "htpasswd path is a directory": ("auth:\n  htpasswd:\n    realm: basic-realm\n"
                                     "    path: {dir}\n", "auth.htpasswd.path"),
    "htpasswd file missing": ("auth:\n  htpasswd:\n    realm: r\n    path: {dir}/nope\n",
                              "auth.htpasswd.path"),
    "TLS files missing": ("http:\n  tls:\n    certificate: {dir}/no.crt\n"
                          "    key: {dir}/no.key\n", "http.tls"),
    "another storage driver": ("gcs:\n  bucket: b\n", "storage.gcs"),
    "S3 without a state directory": ("s3:\n  bucket: b\n", "berth.statedirectory"),
    "S3 without a bucket": ("s3:\n  region: r\n", "storage.s3.bucket"),
    "an access controller berth lacks": ("auth:\n  silly:\n    realm: r\n    service: s\n",
                                         "auth.silly"),
    "token keys missing": ("auth:\n  token:\n    realm: https://a/t\n    service: s\n"
                           "    issuer: i\n    rootcertbundle: {dir}/none.pem\n",
                           "auth.token"),
}


@pytest.mark.parametrize("case", list(CHECKED_BY_SERVE))
def test_config_check_refuses_what_serve_refuses(workdir, case):
    fragment, key = CHECKED_BY_SERVE[case]
    fragment = fragment.format(dir=workdir)
    if fragment.startswith(("s3:", "gcs:")):
        text = "version: 0.1\nstorage:\n  " + fragment.replace("\n  ", "\n    ")
    else:
        text = f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir}/data\n"
        text += fragment
    cfg = workdir / "config.yml"
    cfg.write_text(text)
    check = run_berth("config", "check", str(cfg))
    assert check.returncode != 0, (case, check.stdout, check.stderr)
    assert key in check.stderr, check.stderr
    serve = run_berth("serve", str(cfg), timeout=30)
    assert serve.returncode != 0 and key in serve.stderr, serve.stderr


def test_a_second_server_on_the_same_data_is_refused(registry):
    other_port = free_port()
    r = run_berth("serve", str(registry.config_path),
                  env={"REGISTRY_HTTP_ADDR": f"127.0.0.1:{other_port}"}, timeout=30)
    assert r.returncode != 0
    assert f"another berth serve (pid {registry.proc.pid}) is already using" in r.stderr, r.stderr
    assert str(registry.root) in r.stderr
    # The first one serves on, and once it stops the data can be served again.
    assert requests.get(f"{registry.url}/v2/", timeout=10).status_code == 200
    registry.restart()


def test_unknown_keys_are_reported_by_name(make_registry):
    reg = make_registry(extra_config="  tlss:\n    typo: true\n")
    assert "tlss" in reg.log()


def test_environment_overrides_follow_distribution_rules(make_registry, workdir):
    """REGISTRY_HTTP_ADDR moves the listener; REGISTRY_STORAGE_DELETE_ENABLED (a YAML
    bool) turns deletes off although the file turns them on."""
    port = free_port()
    reg = make_registry(env={"REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
                             "REGISTRY_STORAGE_DELETE_ENABLED": "false"},
                        port=port)
    assert requests.get(f"http://127.0.0.1:{port}/v2/").status_code == 200
    r = requests.delete(f"{reg.url}/v2/a/manifests/sha256:" + "0" * 64)
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_http_prefix(make_registry):
    reg = make_registry(extra_config="  prefix: /registry/\n")
    assert requests.get(f"{reg.url}/registry/v2/").status_code == 200
    r = requests.post(f"{reg.url}/registry/v2/p/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["Location"].startswith("/registry/v2/p/blobs/uploads/")
    assert requests.get(f"{reg.url}/v2/").status_code == 404


def test_the_systemd_unit_is_valid(workdir):
    """deploy/systemd/berth.service as systemd reads it (with this berth as ExecStart)."""
    unit = (Path(__file__).resolve().parents[2] / "deploy/systemd/berth.service").read_text()
    assert "ExecStart=/usr/local/bin/berth serve /etc/berth/config.yml" in unit
    local = workdir / "berth.service"
    local.write_text(unit.replace("/usr/local/bin/berth", berth_bin()))
    r = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "Unknown" not in r.stderr, r.stderr
