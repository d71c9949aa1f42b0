"""Python `oras` (oras-py) in its default token mode: it reuses the token it got for a pull
and asks for more scope only when a request is refused with 403 and a challenge naming the
scope (RFC 6750), so this is where berth's answer to an insufficient scope is tested."""

import os

import oras.client
import pytest

from conftest import LOCAL_AUTH

pytestmark = pytest.mark.berth_only


def test_oras_pushes_and_pulls_with_its_default_token_auth(make_registry, workdir):
    reg = make_registry(extra_config=LOCAL_AUTH)
    password = (reg.root / "initial-admin-password").read_text().strip()
    client = oras.client.OrasClient(hostname=reg.host, insecure=True)
    client.login("admin", password, hostname=reg.host,
                 config_path=str(workdir / "oras-auth.json"))
    src = workdir / "src"
    src.mkdir()
    (src / "notes.txt").write_text("pushed by oras-py\n")
    (src / "data.bin").write_bytes(os.urandom(5000))
    target = f"{reg.host}/oras/artifact:v1"
    cwd = os.getcwd()
    os.chdir(src)  # oras-py names layers after the paths it was given
    try:
        r = client.push(target=target, files=["notes.txt", "data.bin"], quiet=True)
    finally:
        os.chdir(cwd)
    assert r.status_code == 201, r.text
    assert client.get_tags(target) == ["v1"]
    out = workdir / "out"
    pulled = client.pull(target=target, outdir=str(out))
    assert sorted(os.path.basename(p) for p in pulled) == ["data.bin", "notes.txt"]
    assert (out / "notes.txt").read_text() == "pushed by oras-py\n"
    assert (out / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    reg.stop()
    # It really went the token way: a pull token first, then one with push.
    assert "status=403" in reg.log() and "/auth/token" in reg.log()
