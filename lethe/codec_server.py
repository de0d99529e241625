"""``lethe codec-server``: the payload codec over HTTP, for the Temporal Web UI and
``temporal … --codec-endpoint``, so that people who hold a token read a request's history in
clear while the cluster keeps only ciphertext.

    POST /decode   {"payloads": [...]} (protobuf JSON) -> the same, decrypted
    POST /encode   the same, encrypted (what the UI sends when it signals a workflow)
    OPTIONS        CORS preflight, answered for the configured origins only

Every POST needs ``Authorization: Bearer TOKEN`` (the UI forwards the user's with "Pass access
token", ``temporal`` sends ``--codec-auth``); a token names its holder (``[codec_server]
tokens_env``). Before decrypted payloads leave, the ledger records a ``payload_decoded`` event
on each request whose payloads were asked for: who, which workflow, how many, which namespace;
payloads tied to no request (the retention sweep's, bound to no workflow) are recorded too, in
``payload_decodes`` (who, which workflow if any, how many).
If it cannot be recorded, nothing is decoded (503). A payload that does not decrypt under this
deployment's key is handed back as it came.

The HTTP server is the standard library's (a thread per connection); the codec and the ledger
run on the command's event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from ledger import Ledger

from .codec import REFUSED_ENCODING, EncryptionCodec

__all__ = ["CodecService", "serve_codec"]

log = structlog.get_logger("lethe.codec_server")

_MAX_BODY = 8 * 1024 * 1024
_BINDING = "encryption-workflow-id"


class HttpRefusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CodecService:
    """What the HTTP handler calls: the codec, the tokens, the ledger."""

    codec: EncryptionCodec
    tokens: Mapping[str, str]  # token -> who
    ledger: Ledger
    cors_origins: tuple[str, ...] = ()

    def who(self, authorization: str | None) -> str:
        """The token's holder, or a 401."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpRefusal(401, "a bearer token is required (Authorization: Bearer TOKEN)")
        token = token.strip()
        found = None
        for known, name in self.tokens.items():  # compare with every one, in constant time
            if hmac.compare_digest(known.encode(), token.encode()):
                found = name
        if found is None:
            raise HttpRefusal(401, "the bearer token is not one of this codec server's")
        return found

    async def encode(self, payloads: list[Payload]) -> list[Payload]:
        return await self.codec.encode(payloads)

    async def decode(self, payloads: list[Payload], *, who: str, namespace: str) -> list[Payload]:
        """Record who reads which workflow's payloads, then decrypt them."""
        bound = Counter(
            p.metadata[_BINDING].decode(errors="replace")
            for p in payloads
            if _BINDING in p.metadata
        )
        at = datetime.now(UTC)
        actor = f"codec:{who}"[:120]
        for workflow_id, count in sorted(bound.items()):
            request_id = _request_id_of(workflow_id)
            if request_id is None or await self.ledger.get_request(request_id) is None:
                log.info("codec.decoded_unrecorded", workflow_id=workflow_id, who=who)
                await self.ledger.record_decode(
                    at=at, actor=actor, namespace=namespace, workflow_id=workflow_id, payloads=count
                )
                continue
            await self.ledger.add_event(
                request_id,
                "payload_decoded",
                at=at,
                actor=actor,
                detail={"workflow_id": workflow_id, "payloads": count, "namespace": namespace},
            )
        unbound = len(payloads) - sum(bound.values())
        if unbound:  # the sweep's, a schedule's, what the UI encoded: recorded all the same
            log.info("codec.decoded_unbound", payloads=unbound, who=who, namespace=namespace)
            await self.ledger.record_decode(
                at=at, actor=actor, namespace=namespace, workflow_id=None, payloads=unbound
            )
        opened = await self.codec.decode(payloads)
        return [
            original if out.metadata.get("encoding") == REFUSED_ENCODING else out
            for original, out in zip(payloads, opened, strict=True)
        ]


def _request_id_of(workflow_id: str) -> str | None:
    parts = workflow_id.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "erasure" and parts[1] else None


def _handler(
    service: CodecService, loop: asyncio.AbstractEventLoop
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lethe-codec"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are logged below, without their bodies

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and origin.rstrip("/") in service.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header(
                    "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace"
                )
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin")

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:
            self.send_response(204)
            self._cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._send(405 if self.path in ("/encode", "/decode") else 404, {"error": "POST only"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            try:
                if path not in ("/encode", "/decode"):
                    raise HttpRefusal(404, "not found: POST /encode or /decode")
                who = service.who(self.headers.get("Authorization"))
                payloads = self._payloads()
                namespace = (self.headers.get("X-Namespace") or "")[:200]
                if path == "/decode":
                    work = service.decode(payloads, who=who, namespace=namespace)
                else:
                    work = service.encode(payloads)
                try:
                    out = asyncio.run_coroutine_threadsafe(work, loop).result(timeout=60)
                except Exception as exc:  # the ledger (or the loop) failed: decode nothing
                    log.warning("codec.failed", path=path, error=type(exc).__name__)
                    raise HttpRefusal(
                        503, "the request could not be recorded; nothing decoded"
                    ) from None
                log.info("codec.served", path=path, who=who, payloads=len(out))
                body = json_format.MessageToDict(Payloads(payloads=out))
                self._send(200, {"payloads": body.get("payloads", [])})
            except HttpRefusal as refusal:
                log.info("codec.refused", path=path, status=refusal.status)
                self._send(refusal.status, {"error": str(refusal)})

        def _payloads(self) -> list[Payload]:
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                raise HttpRefusal(400, "Content-Length is not a number") from None
            if length > _MAX_BODY:
                raise HttpRefusal(413, f"the body is larger than {_MAX_BODY} bytes")
            raw = self.rfile.read(length)
            try:
                parsed = Payloads()
                json_format.Parse(raw or b"{}", parsed, ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError):
                raise HttpRefusal(400, 'the body is not {"payloads": [...]}') from None
            return list(parsed.payloads)

    return Handler


async def serve_codec(service: CodecService, bind: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    try:
        server = ThreadingHTTPServer((bind, port), _handler(service, loop))
    except OSError as exc:
        from .errors import ConfigError

        raise ConfigError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
    thread.start()
    log.info("codec_server.started", bind=bind, port=server.server_address[1])
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
