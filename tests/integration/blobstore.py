"""Which blobs a registry stores, whichever driver holds them: files under the storage
root, or objects under the registry's prefix of the bucket. Tests look at stored bytes
through this, not by walking one driver's layout."""


def _key(reg, digest: str) -> str:
    algo, hexa = digest.split(":", 1)
    return f"docker/registry/v2/blobs/{algo}/{hexa[:2]}/{hexa}/data"


def blob_stored(reg, digest: str) -> bool:
    if reg.s3:
        server, prefix = reg.s3
        listed = server.client().list_objects_v2(Bucket="berth", Prefix=f"{prefix}/{_key(reg, digest)}")
        return listed.get("KeyCount", 0) > 0
    return (reg.root / _key(reg, digest)).exists()


def blob_bytes(reg, digest: str) -> bytes:
    if reg.s3:
        server, prefix = reg.s3
        return server.client().get_object(Bucket="berth",
                                          Key=f"{prefix}/{_key(reg, digest)}")["Body"].read()
    return (reg.root / _key(reg, digest)).read_bytes()


def stored_blobs(reg) -> set[str]:
    if reg.s3:
        server, prefix = reg.s3
        client = server.client()
        found, token = set(), None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = client.list_objects_v2(Bucket="berth",
                                          Prefix=f"{prefix}/docker/registry/v2/blobs/", **kw)
            for obj in page.get("Contents", []):
                parts = obj["Key"].split("/")
                if parts[-1] == "data":
                    found.add(f"{parts[-4]}:{parts[-2]}")
            if not page.get("IsTruncated"):
                return found
            token = page["NextContinuationToken"]
    base = reg.root / "docker/registry/v2/blobs"
    return {f"{p.parent.parent.parent.name}:{p.parent.name}" for p in base.glob("*/*/*/data")}


def remove_upload_bytes(reg, upload_id: str):
    """What an operator freeing space would do to an upload in progress: its bytes go."""
    if reg.s3:
        server, prefix = reg.s3
        client = server.client()
        listed = client.list_objects_v2(
            Bucket="berth", Prefix=f"{prefix}/docker/registry/v2/_berth/uploads/{upload_id}/")
        for obj in listed.get("Contents", []):
            client.delete_object(Bucket="berth", Key=obj["Key"])
        return
    (reg.root / "docker/registry/v2/_berth/uploads" / upload_id / "data").unlink()
