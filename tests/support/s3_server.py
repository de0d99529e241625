"""A local S3 server for tests: moto's (``moto[server]``), over real HTTP on a random port.

moto implements the S3 API as AWS documents it, S3 Object Lock included: a version under a
retention (``GOVERNANCE`` without the bypass header, ``COMPLIANCE``) or a legal hold is refused
by ``DeleteObject`` and reported as an ``AccessDenied`` error of ``DeleteObjects``, as real S3
does. Two things differ from S3 and are dealt with here:

* moto's router does not accept a key holding a line feed (S3 does): its key pattern is
  compiled without ``DOTALL``. :func:`start` compiles moto's URL patterns with it (the fake
  then stores what S3 would store; nothing in how it answers changes).
* moto's ``ListObjectVersions`` ignores ``encoding-type=url``, so a carriage return in a key
  comes back as a line feed (XML normalises line ends). A key with ``\\r`` is then listed
  under a key that differs from the stored one; such people are look-alikes only (no
  identifier a request carries has one), and the snapshot reads keys as listed.
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any

__all__ = ["MotoS3", "SlowDown", "start"]


class MotoS3:
    """A running moto server: ``url``, ``client()`` (boto3), ``reset()``, ``stop()``."""

    def __init__(self, server: Any, url: str) -> None:
        self._server = server
        self.url = url

    def client(self, **config: Any) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            **config,
        )

    def reset(self) -> None:
        """Forget every bucket and object (moto's own reset endpoint): locked ones too."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()

    def stop(self) -> None:
        self._server.stop()


def _keys_may_hold_line_feeds() -> None:
    from moto.moto_server import utilities
    from werkzeug.routing import BaseConverter

    if getattr(utilities.RegexConverter, "_lethe_dotall", False):
        return

    def __init__(self: Any, url_map: Any, *items: Any) -> None:
        BaseConverter.__init__(self, url_map)
        self.regex = f"(?s:{items[0]})"

    utilities.RegexConverter.__init__ = __init__  # type: ignore[method-assign]
    utilities.RegexConverter._lethe_dotall = True  # type: ignore[attr-defined]


def start() -> MotoS3:
    """A moto S3 server on 127.0.0.1 and a free port, in a thread of this process."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _keys_may_hold_line_feeds()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoS3(server, f"http://{host}:{port}")


class SlowDown:
    """An S3 endpoint that is rate limiting: every request is answered ``503 SlowDown`` with
    S3's error body (and a ``Retry-After``, as S3-compatible stores may send). ``requests``
    counts what reached it."""

    BODY = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message>"
        b"<RequestId>LETHE-TEST</RequestId></Error>"
    )

    def __init__(self, retry_after: int | None = 7) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Length", str(len(SlowDown.BODY)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(SlowDown.BODY)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
