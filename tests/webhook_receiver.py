"""A real webhook receiver on 127.0.0.1 for the tests: it checks every signature it gets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recruiter.services.webhooks import signing


@dataclass
class Receiver:
    """What the receiver got, and how it answers (a status per request, then ``default``)."""

    url: str = ""
    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0  # seconds before answering (a slow receiver)
    location: str | None = None  # sent with a 3xx
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """The bodies of the well-signed requests, of one type or all."""
        return [r["body"] for r in self.received if type_ in (None, r["body"]["type"])]

    def ids(self) -> list[str]:
        """The webhook-id of every well-signed request, in arrival order."""
        return [r["headers"]["webhook-id"] for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                signing.verify(receiver.secret, headers, body)
            except signing.SignatureError:
                receiver.bad_signatures += 1
            else:
                receiver.received.append({"headers": headers, "body": json.loads(body),
                                          "raw": body, "path": self.path})
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
            self.send_response(status)
            if receiver.location and 300 <= status < 400:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port for the length of the block."""
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks?source=recruiter"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
