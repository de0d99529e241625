"""The Data Rights Protocol (DRP 0.9, Consumer Reports' Innovation Lab) onto Lethe's intake:
an Authorized Agent sends a signed deletion request and asks for its status.

    POST /drp/exercise          (DRP's POST /v1/data-rights-request)
    GET  /drp/status/{id}       (DRP's GET  /v1/data-rights-request/{id})

The body of an exercise is base64 of an Ed25519 signature followed by the JSON it signs, as
DRP prescribes. The agent is an API client with the ``intake`` scope whose name is its DRP
``agent-id`` (its bearer token stands for DRP's pair-wise token); the signature must verify
with the agent's key in ``[drp] agents`` (the service directory's ``verify_key``). Then the
request goes through ``validate_request`` and ``receive_request`` as any other: one open
request per person, the identifiers sealed in the vault, the deadline of its jurisdiction
(``regime`` ``ccpa``, or the default). An email the agent verified (``email_verified``) makes
the request pre-verified, with the signed message as its evidence (issuer ``drp:AGENT``);
otherwise Lethe sends its own code. The message's ``agent-request-id`` (or its digest) is
spent like a portal assertion's nonce: the same request cannot be sent twice.

Only ``deletion`` is exercised. Not done: pair-wise key setup (``POST /v1/agent/{id}``), the
revoke endpoint and status callbacks.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vocabulary import RequestStatus, VerificationMethod

from ..assertions import PortalAssertion, key_id, read_public_keys
from ..errors import LetheError, NotFoundError, UnreachableError
from ..intake import validate_request
from ..runtime import Runtime
from ..settings import Settings
from .app import Intake, plain_status

__all__ = ["add_drp", "drp_status"]

VERSION = "0.9"
_MAX_BODY = 64 * 1024


class DrpError(Exception):
    """DRP's error state: ``{"code": "400", "message": one line, "fatal": …}``."""

    def __init__(self, status: int, message: str, *, fatal: bool = True) -> None:
        super().__init__(message)
        self.status, self.message, self.fatal = status, message, fatal


def _when(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise DrpError(400, f"{name!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def drp_status(rec: Any, agent_request_id: str | None, due_at: datetime) -> dict[str, Any]:
    """A Lethe request as DRP's Exercise Status object."""
    status, reason = "in_progress", None
    if rec.status in (RequestStatus.COMPLETED, RequestStatus.COMPLETED_WITH_EXCEPTIONS):
        status = "fulfilled"
    elif rec.status == RequestStatus.REJECTED:
        status, reason = "denied", "insuf_verification"
    elif rec.status == RequestStatus.CANCELLED:
        status = "revoked"
    elif (
        rec.status in (RequestStatus.RECEIVED, RequestStatus.AWAITING_VERIFICATION)
        and rec.verification_method == VerificationMethod.EMAIL
    ):
        reason = "need_user_verification"
    body: dict[str, Any] = {
        "request_id": rec.request_id,
        "status": status,
        "received_at": rec.received_at.astimezone(UTC).isoformat(),
        "expected_by": due_at.astimezone(UTC).isoformat(),
        "processing_details": plain_status(rec.status),
    }
    if reason is not None:
        body["reason"] = reason
    if reason == "need_user_verification":
        body["user_verification_url"] = "/request"  # the code's mail carries the status code
    if agent_request_id is not None:
        body["agent_request_id"] = agent_request_id
    return body


def add_drp(app: FastAPI, settings: Settings) -> None:
    drp = settings.drp
    agents = {agent: read_public_keys([key]) for agent, key in drp.agents.items()}

    @app.exception_handler(DrpError)
    async def _drp_error(request: Request, exc: DrpError) -> JSONResponse:
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else "error"
        return JSONResponse(
            {"code": str(exc.status), "message": first, "fatal": exc.fatal},
            status_code=exc.status,
        )

    def verified(raw: bytes, agent_name: str) -> tuple[dict[str, Any], bytes, str]:
        """The signed claims, the signed bytes and the agent's key id; DrpError if not."""
        if len(raw) > _MAX_BODY:
            raise DrpError(413, f"the request is larger than {_MAX_BODY} bytes")
        try:
            blob = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise DrpError(400, "the body is not base64 of a signature and its JSON") from None
        signature, message = blob[:64], blob[64:]
        try:
            claims = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            raise DrpError(400, "the signed message is not JSON") from None
        if not isinstance(claims, dict):
            raise DrpError(400, "the signed message is not a JSON object")
        agent = claims.get("agent-id")
        if agent != agent_name:
            raise DrpError(403, f"agent-id {agent!r} is not this token's agent {agent_name!r}")
        keys = agents.get(agent_name)
        if not keys:
            raise DrpError(403, f"agent {agent_name!r} has no verify key in [drp] agents")
        [public] = keys.values()
        try:
            public.verify(signature, message)
        except InvalidSignature:
            raise DrpError(
                403, "the request's signature does not verify with the agent's key"
            ) from None
        return claims, message, key_id(public)

    def draft_of(claims: dict[str, Any], message: bytes, agent: str, kid: str) -> Any:
        if claims.get("business-id") != drp.business_id:
            raise DrpError(400, f"business-id {claims.get('business-id')!r} is not this business")
        if not str(claims.get("drp.version", "")).startswith(VERSION):
            raise DrpError(400, f"drp.version {claims.get('drp.version')!r}: this is DRP {VERSION}")
        if claims.get("exercise") != "deletion":
            raise DrpError(
                400, f"Unsupported rights action {claims.get('exercise')!r}: only deletion"
            )
        issued, expires = _when(claims, "issued-at"), _when(claims, "expires-at")
        now, skew = datetime.now(UTC), timedelta(seconds=60)
        if expires <= issued or expires - issued > timedelta(seconds=drp.max_lifetime_seconds):
            raise DrpError(400, f"the request may live {drp.max_lifetime_seconds} s at most")
        if issued > now + skew:
            raise DrpError(400, "the request is issued in the future: check the agent's clock")
        if now > expires + skew:
            raise DrpError(400, "the request has expired (expires-at)")
        regime = claims.get("regime")
        if regime not in (None, "ccpa", "gdpr"):
            raise DrpError(400, f"regime {regime!r} is not one of ccpa, gdpr", fatal=True)
        email = claims.get("email")
        if not isinstance(email, str) or not email.strip():
            raise DrpError(400, "the request names no email: Lethe finds people by it")
        agent_request_id = claims.get("agent-request-id")
        if agent_request_id is not None and (
            not isinstance(agent_request_id, str) or not 1 <= len(agent_request_id) <= 100
        ):
            raise DrpError(400, "agent-request-id is a string of at most 100 characters")
        try:
            draft = validate_request(
                settings, email=email, jurisdiction=regime, verification="email"
            )
        except LetheError as exc:
            raise DrpError(400, str(exc)) from None
        preverified = claims.get("email_verified") is True
        nonce = (
            f"drp:{agent}:{agent_request_id}"
            if agent_request_id
            else "drp:" + hashlib.sha256(message).hexdigest()
        )
        evidence = PortalAssertion(
            issuer=f"drp:{agent}",
            key_id=kid,
            nonce=nonce[:128],
            issued_at=issued,
            expires_at=expires,
            methods=("drp", "email_verified" if preverified else "unverified"),
        )
        return dataclasses.replace(
            draft,
            verification=VerificationMethod.PREVERIFIED if preverified else draft.verification,
            assertion=evidence,
        )

    async def exercise(request: Request, who: Intake) -> Any:
        from ..operations.requests import receive_request

        claims, message, kid = verified(await request.body(), who.name)
        draft = await run_in_threadpool(draft_of, claims, message, who.name, kid)
        rt: Runtime = request.app.state.rt
        try:
            received = await receive_request(
                rt, draft, allow_duplicate=False, channel="portal", actor=who.actor
            )
        except UnreachableError as exc:
            raise DrpError(503, str(exc), fatal=False) from None
        except LetheError as exc:
            raise DrpError(400, str(exc)) from None
        rid = received.submitted.request_id
        rec = await rt.ledger.require_request(rid)
        return drp_status(rec, claims.get("agent-request-id"), rec.due_at)

    async def status(request_id: str, request: Request, who: Intake) -> Any:
        from ledger.verification import IdentityRecords

        from ..operations.lookups import find_request

        rt: Runtime = request.app.state.rt
        try:
            rec = await find_request(rt.ledger, request_id.strip())
        except NotFoundError:
            raise DrpError(404, f"no request {request_id}", fatal=False) from None
        received = [e for e in await rt.ledger.events(rec.request_id) if e.kind == "received"]
        if not received or received[0].actor != who.actor:
            raise DrpError(403, f"request {request_id} is not managed by this agent")
        evidence = await IdentityRecords(rt.ledger).assertion_for(rec.request_id)
        prefix = f"drp:{who.name}:"
        agent_request_id = (
            evidence.nonce[len(prefix) :]
            if evidence is not None and evidence.nonce.startswith(prefix)
            else None
        )
        return drp_status(rec, agent_request_id, rec.due_at)

    for path in ("/drp/exercise", "/v1/data-rights-request"):
        app.add_api_route(
            path,
            exercise,
            methods=["POST"],
            tags=["drp"],
            summary="Exercise deletion under the Data Rights Protocol (signed by the agent)",
            include_in_schema=path.startswith("/drp"),
        )
    for path in ("/drp/status/{request_id}", "/v1/data-rights-request/{request_id}"):
        app.add_api_route(
            path,
            status,
            methods=["GET"],
            tags=["drp"],
            summary="A DRP request's status (Exercise Status object)",
            include_in_schema=path.startswith("/drp"),
        )
