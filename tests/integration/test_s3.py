"""berth with its blobs in S3-compatible object storage (a real Garage): Distribution's
`storage.s3` keys, real clients, uploads sent in chunks, garbage collection removing
objects, the metadata and berth's own files in the state directory, and the object store
restarting or killed under pushes without losing anything acknowledged."""

import subprocess

import pytest
import requests

import objectstore
from blobstore import blob_bytes, blob_stored, stored_blobs
from conftest import Registry, berth_bin
from gc_helpers import gc
from oci import Client, blob, config_blob, image_manifest, random_bytes, sha256
from outage import Pushers, wait_for

pytestmark = pytest.mark.berth_only


@pytest.fixture
def own_garage():
    server = objectstore.Garage.start_new()
    yield server
    server.remove()


def s3_registry(make_registry, server=None, **kw):
    server = server or objectstore.shared_server()
    return make_registry(s3=(server, server.new_prefix()), **kw)


def test_skopeo_push_pull_and_the_bucket_layout(make_registry, workdir):
    reg = s3_registry(make_registry)
    c = Client(reg)
    m = c.push_image("s3/app", "v1", "s3-image", layers=3)
    # Blobs are objects in Distribution's layout under the prefix, not files.
    assert blob_stored(reg, m.digest)
    assert not (reg.root / "docker").exists(), "no blob on the local disk"
    assert (reg.root / "berth" / "metadata.db").is_file(), "metadata in the state directory"
    out = workdir / "pulled"
    subprocess.run(["skopeo", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
                    f"docker://{reg.host}/s3/app:v1", f"oci:{out}:v1"], check=True, timeout=120)
    subprocess.run(["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                    f"oci:{out}:v1", f"docker://{reg.host}/s3/copy:v1"], check=True, timeout=120)
    reg.restart()
    r = Client(reg).get_manifest("s3/copy", "v1")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == m.digest


def test_blob_gets_are_redirected_to_the_store(make_registry, workdir):
    server = objectstore.shared_server()
    reg = s3_registry(make_registry, server, env={"REGISTRY_STORAGE_REDIRECT_DISABLE": "false"})
    c = Client(reg)
    big = random_bytes("redirected", 300_000)
    digest = c.push_blob("s3/redirect", big)
    r = c.get(c.blob_url("s3/redirect", digest))
    assert r.status_code == 307, (r.status_code, r.text)
    assert r.headers["Docker-Content-Digest"] == digest
    location = r.headers["Location"]
    assert location.startswith(server.endpoint) and "X-Amz-Signature=" in location, location
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200 and sha256(fetched.content) == digest
    ranged = requests.get(location, headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == big[10:20]
    # HEAD is answered by berth; small blobs come from its memory; other repositories'
    # blobs are not handed out.
    h = c.head(c.blob_url("s3/redirect", digest))
    assert h.status_code == 200 and h.headers["Content-Length"] == str(len(big))
    small = c.push_blob("s3/redirect", b"a small blob")
    assert c.get(c.blob_url("s3/redirect", small)).content == b"a small blob"
    assert c.get(c.blob_url("s3/elsewhere", digest)).status_code == 404
    # Real clients follow the redirect for the layer.
    cfg, layer = config_blob("redirected-image"), blob("redirected-layer", 400_000)
    c.push_blobs("s3/redirect", cfg, layer)
    c.push_manifest("s3/redirect", "v1", image_manifest(cfg, [layer]))
    layout = workdir / "image"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{reg.host}/s3/redirect:v1", f"dir:{layout}"],
                   check=True, timeout=120)
    hexa = layer.digest.split(":", 1)[1]
    assert sha256((layout / hexa).read_bytes()) == layer.digest


def test_an_upload_in_many_chunks_is_joined_in_the_store(make_registry):
    reg = s3_registry(make_registry)
    c = Client(reg)
    data = random_bytes("chunks", 11 << 20)  # past one multipart part
    digest = c.push_blob_chunked("s3/chunks", data, chunk=3 << 20)
    assert blob_bytes(reg, digest) == data
    r = c.get(c.blob_url("s3/chunks", digest), headers={"Range": "bytes=5000000-5000009"})
    assert r.status_code == 206 and r.content == data[5000000:5000010]
    # The upload's chunk objects are gone once it is a blob.
    server, prefix = reg.s3
    listed = server.client().list_objects_v2(
        Bucket="berth", Prefix=f"{prefix}/docker/registry/v2/_berth/uploads/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")


def test_a_store_that_is_down_answers_503_and_comes_back(make_registry, own_garage):
    reg = s3_registry(make_registry, own_garage)
    c = Client(reg)
    before = c.push_image("s3/down", "before", "before-outage")
    own_garage.stop()
    layer = blob("while-down", 3000)
    r = c.post_blob("s3/down", layer.data, layer.digest)
    assert r.status_code == 503, (r.status_code, r.text)
    error = r.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE" and "blob storage" in error["message"], error
    assert r.headers["Retry-After"]
    own_garage.start()
    wait_for(lambda: c.post_blob("s3/down", layer.data, layer.digest).status_code == 201,
             "pushes work again once the store is back")
    r = c.get_manifest("s3/down", "before")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == before.digest


def test_garbage_collection_removes_objects(make_registry):
    reg = s3_registry(make_registry)
    c = Client(reg)
    kept = c.push_image("s3/gc", "keep", "kept-image")
    gone_layer = blob("gone-layer", 2048)
    c.push_blobs("s3/gc", gone_layer)
    assert blob_stored(reg, gone_layer.digest)
    out = gc(reg, "--grace", "0s").stdout
    assert not blob_stored(reg, gone_layer.digest)
    assert kept.digest in stored_blobs(reg)
    assert c.get_manifest("s3/gc", "keep").status_code == 200, out


def test_the_store_restarting_or_killed_under_pushes_loses_nothing(make_registry, own_garage):
    reg = s3_registry(make_registry, own_garage)
    # Down: 503 and a hint to retry; cut off in the middle of a write: 500 at worst.
    pushers = Pushers(reg, "s3/kill", layer_size=50_000)
    try:
        for outage in (own_garage.stop, own_garage.kill):
            pushers.more_acknowledged(5, "pushes while the store is up")
            outage()
            pushers.more_refused("pushes refused while the store is down")
            own_garage.start()
        pushers.more_acknowledged(5, "pushes once the store is back")
    finally:
        pushers.stop()
    pushers.check_all_pull(reg)


@pytest.mark.parametrize("how", ["first start", "berth import --config"])
def test_a_registry2_bucket_switches_in_place(workdir, how):
    """Distribution 2.8 on a bucket prefix pushes images; berth then serves them from the
    same prefix without copying a byte, indexing the tree on first start or with
    `berth import --config`."""
    server = objectstore.shared_server()
    prefix = server.new_prefix()
    dist = Registry(workdir / "dist", kind="distribution")
    dist.config_path.write_text(dist.config_path.read_text().replace(
        f"  filesystem:\n    rootdirectory: {dist.root}\n",
        server.config(prefix).replace("  redirect:", "    v4auth: true\n  redirect:")))
    # Its AWS SDK refuses a custom CA bundle with its own transport (the store is plain
    # HTTP on loopback anyway).
    dist.env.pop("AWS_CA_BUNDLE", None)
    dist.start()
    try:
        c = Client(dist)
        for name in ("api", "web"):
            for tag in ("v1", "v2"):
                c.push_image(f"r2/{name}", tag, f"r2-{name}-{tag}", layers=2)
    finally:
        dist.stop()
    reg = Registry(workdir / "berth", s3=(server, prefix))
    if how == "berth import --config":
        r = subprocess.run([berth_bin(), "import", "--config", str(reg.config_path)],
                           capture_output=True, text=True, env=reg.env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "imported 2 repositories, 4 manifests, 4 tags" in r.stdout, r.stdout
        reg.start()
    else:
        reg.start()
        assert "imported existing registry:2 data: 2 repositories, 4 manifests" in reg.log()
    try:
        c = Client(reg)
        assert c.get("/v2/_catalog").json()["repositories"] == ["r2/api", "r2/web"]
        for name in ("api", "web"):
            assert c.tags(f"r2/{name}") == ["v1", "v2"]
            for tag in ("v1", "v2"):
                r = c.get_manifest(f"r2/{name}", tag)
                assert r.status_code == 200, (name, tag, r.text)
                for layer in r.json()["layers"]:
                    got = c.get(c.blob_url(f"r2/{name}", layer["digest"]))
                    assert sha256(got.content) == layer["digest"]
    finally:
        reg.stop()
