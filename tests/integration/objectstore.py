"""S3 for the integration tests: one private Garage per test session (the one
scripts/test.sh started, named by BERTH_TEST_S3=http://host:port, or one started here with
scripts/garage.sh), a prefix of the bucket per registry, and servers of a test's own for
tests that stop or kill the store.

BERTH_STORAGE=s3 runs every berth the fixtures start with its blobs in S3.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from servers import SCRIPTS, ScriptedServer, free_port

ON_S3 = os.environ.get("BERTH_STORAGE") == "s3"
# The key and bucket scripts/garage.sh sets up.
KEY_ID = "GK00000000000000000000b17e"
SECRET = "62657274686265727468626572746862657274686265727468626572746862ab"
BUCKET = "berth"


class Garage(ScriptedServer):
    """A one-node Garage whose S3 API is at http://127.0.0.1:PORT."""

    script = "garage"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET, region_name="garage",
                            config=Config(s3={"addressing_style": "path"}))

    def new_prefix(self) -> str:
        return f"registry-{uuid.uuid4().hex[:12]}"

    def config(self, prefix: str) -> str:
        """The `storage.s3` block (indented for `storage:`). Blob GETs are answered by
        berth itself (`redirect.disable`), so the suites see the same answers as on the
        filesystem; REGISTRY_STORAGE_REDIRECT_DISABLE=false turns redirects back on."""
        return (f"  s3:\n    accesskey: {KEY_ID}\n    secretkey: {SECRET}\n"
                f"    region: garage\n    regionendpoint: {self.endpoint}\n"
                f"    forcepathstyle: true\n    bucket: {BUCKET}\n"
                f"    rootdirectory: /{prefix}\n  redirect:\n    disable: true\n")


_shared: Garage | None = None


def shared_server() -> Garage:
    global _shared
    if _shared is None:
        named = os.environ.get("BERTH_TEST_S3")
        if named:
            _shared = Garage(int(named.rsplit(":", 1)[1]))
        else:
            _shared = Garage.start_new()
            atexit.register(_shared.remove)
    return _shared


class GarageCluster:
    """Three Garage nodes that keep every object on all three (`scripts/garage.sh
    cluster`), so one may be down; `nodes[i]` is each node, stopped, killed and started
    again on its own."""

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="berth-garage-cluster-"))
        ports = [free_port() for _ in range(3)]
        subprocess.run([str(SCRIPTS / "garage.sh"), "cluster", str(self.directory),
                        *map(str, ports)], check=True)
        self.nodes = [Garage(port, self.directory / f"node{i + 1}")
                      for i, port in enumerate(ports)]

    def remove(self):
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
