"""A controller's webhook endpoint, written from docs/controller-webhook.md (not from Lethe's
sender): it checks the HMAC signature and the timestamp's freshness, and records each notice."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    secret: bytes
    url: str = ""
    answer: int = 202  # the status it replies with to a well-signed notice
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)


@contextmanager
def controller_receiver(secret: bytes) -> Iterator[Receiver]:
    rx = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ts = self.headers.get("X-Lethe-Timestamp", "")
            given = self.headers.get("X-Lethe-Signature", "")
            expected = "v1=" + hmac.new(secret, ts.encode() + b"." + body, "sha256").hexdigest()
            if not hmac.compare_digest(given, expected):
                rx.rejected.append("bad signature")
                self.send_response(401)
            elif not ts.isdigit() or abs(time.time() - int(ts)) > 300:
                rx.rejected.append("stale")
                self.send_response(401)
            else:
                rx.deliveries.append(self.headers["X-Lethe-Delivery"])
                rx.accepted.append(json.loads(body))
                self.send_response(rx.answer)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rx.url = f"http://127.0.0.1:{server.server_address[1]}/dsr"
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
