"""A webhook receiver for the tests that check what berth delivers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers import free_port


class Receiver:
    """A webhook receiver on loopback that records every delivery; it can be stopped and
    started again on the same port."""

    def __init__(self, failures: int = 0):
        """`failures`: how many deliveries to answer 503 before taking them."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.deliveries: list[dict] = []
        self.refused = 0
        self.failures = failures
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    refuse = outer.refused < outer.failures
                    if refuse:
                        outer.refused += 1
                    else:
                        outer.deliveries.append({
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body})
                self.send_response(503 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.allow_reuse_address = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self) -> list[dict]:
        with self.lock:
            return [e for d in self.deliveries for e in json.loads(d["body"])["events"]]

    def bodies(self) -> list[tuple[dict, dict]]:
        """Each delivery as (headers, JSON body): webhook policies send one event each."""
        with self.lock:
            return [(d["headers"], json.loads(d["body"])) for d in self.deliveries]

    def wait_for(self, predicate, timeout=15.0, read=None) -> list:
        read = read or self.events
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = read()
            if predicate(got):
                return got
            time.sleep(0.1)
        raise AssertionError(f"deliveries did not arrive in time; got {json.dumps(read())[:3000]}")
