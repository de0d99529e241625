"""A local HTTP server that publishes JSON documents (a JWKS, an OpenID Connect discovery
document) on 127.0.0.1 and a random port, as a privacy portal or an identity provider does;
the documents can be changed while it runs (a key rotated in) and it can be stopped (down)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["JsonServer", "b64url", "ed25519_jwk", "json_server", "rsa_jwk"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ed25519_jwk(private: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "alg": "EdDSA"}


def rsa_jwk(private: RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = private.public_key().public_numbers()

    def whole(n: int) -> str:
        return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "n": whole(numbers.n), "e": whole(numbers.e), "kid": kid, "use": "sig"}


class JsonServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.documents: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        host, port = server.server_address[:2]
        self.base = f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def json_server() -> Iterator[JsonServer]:
    holder: list[JsonServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served = holder[0]
            served.hits[self.path] = served.hits.get(self.path, 0) + 1
            document = served.documents.get(self.path)
            body = json.dumps(document).encode() if document is not None else b"{}"
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = JsonServer(server)
    holder.append(served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        if thread.is_alive():
            served.stop()
        thread.join(5)
