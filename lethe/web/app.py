"""The HTTP API of ``lethe serve`` (``docs/http-api.md``).

Every call goes through the operation the command line uses (``lethe/operations/``,
``lethe/intake.py``): one implementation, two front doors. What differs is who asks: an API
client, authenticated by its bearer token and allowed by its scopes (``intake``, ``operate``,
``audit``; ``ledger.api_clients``), recorded as the actor of what it changes
(``api:NAME``); or a requester, who shows the status token their request was given.

Errors are ``{"error": one line, "code": the command line's exit code}`` with the command
line's own message. Nothing personal goes into a URL (a request id says nothing about the
person) or a log line: the access log is off, and this module logs the route, never the path
or the client's address.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.api_clients import ApiClients
from vocabulary import OPEN_STATUSES, UNVERIFIED_STATUSES, RequestStatus

from ..errors import ConfigError, LetheError, NotFoundError, UnreachableError
from ..intake import CHANNELS, RequestDraft, validate_request
from ..operations.terms import known_legal_basis, not_in_past, short_reason
from ..runtime import Runtime, load_registry
from ..settings import Settings
from .guards import (
    NO_PERMISSION,
    TRY_LATER,
    USAGE,
    BodyLimit,
    RateLimiter,
    error_body,
    status_token,
)

__all__ = ["create_app"]

log = structlog.get_logger("lethe.web")

API_VERSION = "v1"


# -- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: int, **more: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.more = status, message, code, more


def _status_of(exc: LetheError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UnreachableError):
        return 503
    if isinstance(exc, ConfigError):
        return 500  # the server's settings, not the caller's mistake
    return 400


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def _validation_line(exc: RequestValidationError) -> str:
    """One line for a body or parameter that does not fit: where, and what is wrong. Never
    the value given (it may be an address)."""
    errors = exc.errors()
    if not errors:
        return "the request is malformed"
    first = errors[0]
    where = _where(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    if first.get("type") == "missing" and where == "body":
        return "the request needs a JSON body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


# -- who is asking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    #: As the ledger records who acted: ``api:NAME`` for an API client, ``oidc:SUB`` for a
    #: token of the OIDC issuer.
    actor: str = ""

    def __post_init__(self) -> None:
        if not self.actor:
            object.__setattr__(self, "actor", f"api:{self.name}")


_bearer = HTTPBearer(
    auto_error=False,
    description="An API client's token (lethe api-client add), or the [oidc] issuer's JWT",
)


async def _oidc_principal(request: Request, token: str) -> Principal | None:
    """The holder of an OIDC issuer's token, if ``[oidc]`` is set and it is not an API token."""
    verifier = request.app.state.oidc
    if verifier is None or token.startswith("lethe_"):
        return None
    from ..oidc import TokenRefused

    try:
        found = await run_in_threadpool(verifier.verify, token)
    except TokenRefused as exc:
        raise ApiError(401, str(exc), NO_PERMISSION) from None
    return Principal(found.client_id, found.actor, found.scopes, actor=found.actor)


def _needs(*scopes: str) -> Any:
    """A dependency: who the bearer token names, if they have one of ``scopes``."""

    async def principal(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal:
        if creds is None:
            raise ApiError(
                401, "this call needs an API client's token: Authorization: Bearer …", NO_PERMISSION
            )
        who = await _oidc_principal(request, creds.credentials)
        if who is None:
            rt: Runtime = request.app.state.rt
            row = await ApiClients(rt.ledger).authenticate(creds.credentials)
            if row is None:
                raise ApiError(401, "the API token is not known or was revoked", NO_PERMISSION)
            who = Principal(row.client_id, row.name, tuple(row.scopes))
        if not set(scopes) & set(who.scopes):
            label = f"API client {who.name}" if who.actor.startswith("api:") else who.actor
            raise ApiError(
                403,
                f"{label} may not do this: it needs the"
                f" {' or '.join(repr(s) for s in scopes)} scope"
                f" (it has {', '.join(who.scopes) or 'none'})",
                NO_PERMISSION,
            )
        return who

    return Depends(principal)


Intake = Annotated[Principal, _needs("intake")]
Operator = Annotated[Principal, _needs("operate")]
Reader = Annotated[Principal, _needs("operate", "audit")]
Auditor = Annotated[Principal, _needs("audit")]


# -- bodies ------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitBody(_Body):
    email: str = Field(max_length=320, description="The requester's address (sealed in the vault).")
    jurisdiction: str | None = Field(default=None, max_length=16)
    systems: list[str] | None = Field(default=None, max_length=200)
    verification: str | None = Field(
        default=None, max_length=24, description="email, operator or preverified."
    )
    assertion: str | None = Field(
        default=None, max_length=8192, description="The privacy portal's signed assertion."
    )
    identifiers: dict[str, str] = Field(default_factory=dict, max_length=20)
    channel: str = Field(default="portal", description=f"One of {', '.join(CHANNELS)}.")
    received_at: datetime | None = None
    allow_duplicate: bool = False


class BulkBody(_Body):
    requests: list[SubmitBody] = Field(min_length=1, max_length=1000)
    keep_going: bool = False


class CodeBody(_Body):
    code: str = Field(max_length=64)


class ReasonBody(_Body):
    reason: str = Field(
        max_length=2000, description="A reference; the person's details are removed."
    )


class ExtendBody(ReasonBody):
    until: date | None = None


class AcknowledgeBody(ReasonBody):
    channel: str = Field(max_length=24, description="How the requester was told.")


class HoldBody(ReasonBody):
    email: str | None = Field(
        default=None, max_length=320, description="Only its pseudonym is kept."
    )
    pseudonym: str | None = Field(default=None, max_length=80)
    legal_basis: str = Field(default="legal-hold", max_length=64)
    systems: list[str] | None = Field(default=None, max_length=200)
    retained_until: date | None = None
    review_on: date | None = None


class RetryBody(ReasonBody):
    identifiers: dict[str, str] = Field(default_factory=dict, max_length=20)


class InstructionBody(ReasonBody):
    action: Literal["erase", "retain"]
    legal_basis: str | None = Field(default=None, max_length=64)
    retained_until: date | None = None
    review_on: date | None = None


class ErrorOut(BaseModel):
    """Every refusal: one line, and the exit code ``lethe`` gives for the same mistake."""

    error: str
    code: int


def _refusal(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


#: What any call may answer besides its own result (docs/http-api.md#errors).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _refusal("Refused, with the command line's message"),
    401: _refusal("No API token, or an unknown or revoked one"),
    403: _refusal("The token lacks the scope"),
    404: _refusal("No such request"),
    413: _refusal("The body is larger than [web] max_body_bytes"),
    422: _refusal("The body is not JSON, lacks a field or has one too many"),
    503: _refusal("Temporal or the ledger cannot be reached"),
}


class SubmittedOut(BaseModel):
    request_id: str
    status_token: str = Field(description="Give it to the requester: it opens their status.")
    jurisdiction: str
    systems: list[str]
    verification_method: str
    received_at: datetime
    due_at: datetime
    acknowledge_by: datetime | None = None
    replayed: bool = Field(description="True: the same Idempotency-Key was seen before.")


# -- the application ---------------------------------------------------------------------------


def _reason(text: str, what: str) -> str:
    return short_reason(text, what, field="reason")


def _term_dates(body: InstructionBody | HoldBody) -> tuple[tuple[str, date | None], ...]:
    """A body's dates as the API names them, for ``not_in_past``."""
    return (("retained_until", body.retained_until), ("review_on", body.review_on))


_PLAIN = {
    RequestStatus.RECEIVED: "Received; we are about to check that the request is yours.",
    RequestStatus.AWAITING_VERIFICATION: "Waiting for us to confirm that the request is yours.",
    RequestStatus.ERASING: "Your identity is confirmed; your data is being erased.",
    RequestStatus.ESCALATED: "Being erased; a person at the organisation is looking into a delay.",
    RequestStatus.COMPLETED: "Done: your data was erased everywhere.",
    RequestStatus.COMPLETED_WITH_EXCEPTIONS: (
        "Done: your data was erased, except what the law requires us to keep, until it may go."
    ),
    RequestStatus.PARTIALLY_FAILED: (
        "Mostly done; some systems could not be erased yet and are retried."
    ),
    RequestStatus.FAILED: "We could not erase your data yet; the organisation has been told.",
    RequestStatus.REJECTED: "Closed: we could not confirm that the request was yours.",
    RequestStatus.CANCELLED: "Withdrawn: nothing was erased.",
}


def plain_status(status: str) -> str:
    return _PLAIN.get(RequestStatus(status), status) if status in set(RequestStatus) else status


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    """The API over ``settings``' ledger, keys and Temporal (opened at start-up, closed at
    shutdown), or over ``runtime`` when given (then the caller closes it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            yield
            return
        rt = await Runtime.open(settings)
        app.state.rt = rt
        try:
            await rt.client()  # Temporal now: a missing cluster is a start-up error
            yield
        finally:
            await rt.close()

    app = FastAPI(
        title="Lethe",
        version=API_VERSION,
        description="The right to erasure, over HTTP: the same verbs as the `lethe` command.",
        lifespan=lifespan,
        docs_url=None,  # /docs is a page of our own (pages.py): Swagger UI loads from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=ERRORS,
    )
    app.state.rt = runtime
    if settings.oidc.issuer is not None:
        from ..oidc import OidcVerifier

        app.state.oidc = OidcVerifier(settings.oidc)
    else:
        app.state.oidc = None
    limiter = RateLimiter(settings.web.requester_calls_per_minute)
    registry = load_registry()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.code, **exc.more), status_code=exc.status)

    @app.exception_handler(LetheError)
    async def _lethe_error(request: Request, exc: LetheError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), exc.exit_code), status_code=_status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(_validation_line(exc), USAGE), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: "no such path", 405: "this path does not take that method"}.get(
            exc.status_code, str(exc.detail)
        )
        code = 4 if exc.status_code == 404 else USAGE
        return JSONResponse(error_body(message, code), status_code=exc.status_code)

    @app.middleware("http")
    async def _log(request: Request, call_next: Any) -> Any:
        try:
            response = await call_next(request)
        except Exception as exc:
            # A bug: one line to the caller, scrubbed like a log line (it may quote what it
            # failed on), and no traceback in the server's log (LETHE_DEBUG=1 shows it).
            import os
            import traceback

            from connectors import redact

            first = str(exc).splitlines()[0] if str(exc) else ""
            log.error(
                "web.internal_error",
                route=_route(request),
                error=type(exc).__name__,
                traceback=redact(traceback.format_exc()) if os.environ.get("LETHE_DEBUG") else None,
            )
            response = JSONResponse(
                error_body(
                    f"internal error: {type(exc).__name__}: {redact(first)}"
                    " (a bug in Lethe; LETHE_DEBUG=1 logs the traceback)",
                    70,
                ),
                status_code=500,
            )
        log.info(
            "web.call", method=request.method, route=_route(request), status=response.status_code
        )
        return response

    def rt_of(request: Request) -> Runtime:
        rt: Runtime = request.app.state.rt
        return rt

    # -- intake --------------------------------------------------------------------------------

    def draft_of(body: SubmitBody) -> RequestDraft:
        if body.channel not in CHANNELS:
            raise LetheError(f"unknown channel {body.channel!r}: use one of {', '.join(CHANNELS)}")
        return validate_request(
            settings,
            email=body.email,
            jurisdiction=body.jurisdiction,
            systems=body.systems,
            verification=body.verification,
            assertion=body.assertion,
            extra_identifiers={k.strip().lower(): v for k, v in body.identifiers.items()},
            received_at=body.received_at,
        )

    def preflight(draft: RequestDraft) -> None:
        from ..preflight import check_systems

        check_systems(settings, registry, jurisdiction=draft.jurisdiction, systems=draft.systems)

    async def submitted_out(rt: Runtime, request_id: str, *, replayed: bool) -> SubmittedOut:
        from ledger import DeadlineRecords

        rec = await rt.ledger.require_request(request_id)
        clock = await DeadlineRecords(rt.ledger).clock(request_id)
        token = status_token(rt.keys.pseudonym, request_id)
        await ApiClients(rt.ledger).grant_access(request_id, token, at=datetime.now(UTC))
        return SubmittedOut(
            request_id=request_id,
            status_token=token,
            jurisdiction=rec.jurisdiction,
            systems=list(rec.systems),
            verification_method=rec.verification_method,
            received_at=rec.received_at,
            due_at=rec.due_at,
            acknowledge_by=clock.acknowledge_by if clock is not None else None,
            replayed=replayed,
        )

    @app.post(
        "/v1/requests",
        status_code=201,
        response_model=SubmittedOut,
        tags=["intake"],
        summary="Receive an erasure request (as `lethe submit`)",
    )
    async def submit(
        body: SubmitBody,
        request: Request,
        who: Intake,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        from ..operations.requests import receive_request

        rt = rt_of(request)
        digest = hashlib.sha256(
            json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()
        clients = ApiClients(rt.ledger)
        if idempotency_key is not None:
            seen = await clients.idempotent(who.client_id, idempotency_key, digest)
            if seen is not None:
                if not seen.same_body:
                    raise ApiError(409, "this Idempotency-Key was used with another body", USAGE)
                out = await submitted_out(rt, seen.request_id, replayed=True)
                return JSONResponse(out.model_dump(mode="json"), status_code=200)
        draft = await run_in_threadpool(draft_of, body)  # may fetch the portal's keys
        preflight(draft)
        received = await receive_request(
            rt,
            draft,
            allow_duplicate=body.allow_duplicate,
            channel=body.channel,
            entered_by=who.actor if draft.received_at is not None else None,
            actor=who.actor,
        )
        rid = received.submitted.request_id
        if idempotency_key is not None:
            first = await clients.remember(
                who.client_id, idempotency_key, digest, rid, at=datetime.now(UTC)
            )
            rid = first.request_id
        client = who.name if who.actor.startswith("api:") else who.client_id
        log.info("web.request_received", request_id=rid, client=client)
        return await submitted_out(rt, rid, replayed=False)

    @app.post(
        "/v1/requests/bulk", tags=["intake"], summary="Receive many (as `lethe submit --from`)"
    )
    async def submit_bulk(body: BulkBody, request: Request, who: Intake) -> Any:
        from ..operations.batch_intake import BatchLine, LineResult, receive_batch

        rt = rt_of(request)
        lines: list[BatchLine] = []
        for n, item in enumerate(body.requests, 1):
            try:
                draft = await run_in_threadpool(draft_of, item)
                preflight(draft)
            except LetheError as exc:
                lines.append(BatchLine(n, None, refused=str(exc), refused_code=exc.exit_code))
                continue
            lines.append(
                BatchLine(
                    n,
                    draft,
                    channel=item.channel,
                    entered_by=who.actor if draft.received_at is not None else None,
                )
            )
        results: list[LineResult] = []
        outcome = await receive_batch(
            rt,
            lines,
            keep_going=body.keep_going,
            allow_duplicate=any(i.allow_duplicate for i in body.requests),
            report=results.append,
            actor=who.actor,
        )
        rows: list[dict[str, Any]] = []
        for r in results:
            row: dict[str, Any] = {"line": r.number}
            if r.received is not None:
                out = await submitted_out(rt, r.received.submitted.request_id, replayed=False)
                row.update(out.model_dump(mode="json"))
            if r.error is not None:
                row.update(error=r.error, code=r.exit_code)
            if r.not_submitted is not None:
                row["not_submitted"] = r.not_submitted
            rows.append(row)
        answer = {
            "received": outcome.received,
            "failed": outcome.failed,
            "not_submitted": outcome.not_submitted,
            "results": rows,
        }
        if outcome.exit_code:
            first = next(r for r in rows if "error" in r)
            return JSONResponse(
                {
                    **error_body(f"line {first['line']}: {first['error']}", outcome.exit_code),
                    **answer,
                },
                status_code=422 if outcome.received == 0 else 207,
            )
        return answer

    # -- the requester -------------------------------------------------------------------------

    async def requester_may(request: Request, request_id: str, token: str | None) -> Runtime:
        address = request.client.host if request.client is not None else "unknown"
        if not limiter.allow(f"request:{request_id}", f"address:{address}"):
            raise ApiError(429, "too many tries: wait a minute and try again", TRY_LATER)
        rt = rt_of(request)
        if token is None or not await ApiClients(rt.ledger).access_allowed(request_id, token):
            # The same answer for an unknown request and a wrong token: nothing to probe.
            raise ApiError(404, f"no request {request_id} opens with this status token", 4)
        return rt

    @app.post(
        "/v1/requests/{request_id}/code", tags=["requester"], summary="Enter the emailed code"
    )
    async def enter_code(
        request_id: str,
        body: CodeBody,
        request: Request,
        x_status_token: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        from ..operations.identity import check_code

        rt = await requester_may(request, request_id, x_status_token)
        check = await check_code(rt, request_id, body.code, "", actor="requester:web")
        if not check.accepted:
            raise ApiError(
                400,
                f"{request_id}: code refused: {check.message}",
                1,
                outcome=check.outcome,
                attempts_left=check.attempts_left,
            )
        return {"request_id": request_id, "accepted": True, "message": check.message}

    @app.get(
        "/v1/requests/{request_id}/status",
        tags=["requester"],
        summary="Where the request stands, in plain words",
    )
    async def requester_status(
        request_id: str,
        request: Request,
        x_status_token: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        rt = await requester_may(request, request_id, x_status_token)
        return await requester_view(rt, request_id)

    # -- operators -----------------------------------------------------------------------------

    @app.get("/v1/requests", tags=["operate"], summary="List requests (as `lethe list`)")
    async def list_requests(
        request: Request,
        who: Reader,
        status: Annotated[RequestStatus | None, Query()] = None,
        overdue: bool = False,
        due_within: Annotated[str | None, Query(max_length=16)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> Any:
        from ..deadlines import parse_duration
        from ..operations.requests import find_requests
        from ..render import request_to_dict

        try:
            within = parse_duration(due_within) if due_within is not None else None
        except ValueError as exc:
            raise LetheError(f"due_within: {exc}") from None
        found = await find_requests(
            rt_of(request),
            status=status.value if status else None,
            overdue=overdue,
            due_within=within,
            limit=limit,
        )
        details = {"outcomes", "retained_exceptions", "events"}
        return {
            "requests": [
                {
                    k: v
                    for k, v in request_to_dict(r, sealed=r.request_id in found.sealed).items()
                    if k not in details
                }
                for r in found.requests
            ],
            "more": found.more,
        }

    @app.get(
        "/v1/requests/{request_id}", tags=["operate"], summary="One request (as `lethe status`)"
    )
    async def show_request(request_id: str, request: Request, who: Reader) -> Any:
        from ..attention import clock_to_dict
        from ..operations.requests import request_view
        from ..render import request_to_dict

        view = await request_view(rt_of(request), request_id.strip())
        return json.loads(
            json.dumps(
                {
                    **request_to_dict(
                        view.request,
                        view.outcomes,
                        view.exceptions,
                        view.events,
                        sealed=view.sealed,
                    ),
                    "clock": clock_to_dict(view.clock),
                    "progress": view.progress.to_dict() if view.progress is not None else None,
                    "next_steps": view.next_steps,
                },
                default=str,
            )
        )

    @app.post(
        "/v1/requests/{request_id}/approve",
        tags=["operate"],
        summary="Confirm the requester's identity (as `lethe approve`)",
    )
    async def approve(request_id: str, body: ReasonBody, request: Request, who: Operator) -> Any:
        from ..operations.identity import approve_identity

        reason = _reason(body.reason, "how the identity was confirmed")
        done = await approve_identity(rt_of(request), request_id.strip(), reason, who.actor)
        return {
            "request_id": done.request_id,
            "approved_by": done.approved_by,
            "reason": done.reason,
        }

    @app.post(
        "/v1/requests/{request_id}/cancel",
        tags=["operate"],
        summary="Withdraw a request before verification (as `lethe cancel`)",
    )
    async def cancel(request_id: str, body: ReasonBody, request: Request, who: Operator) -> Any:
        from ..operations.requests import cancel_request

        reason = _reason(body.reason, "why the request is withdrawn")
        done = await cancel_request(rt_of(request), request_id.strip(), reason, who.actor)
        return {
            "request_id": request_id,
            "status": done.request.status,
            "cancelled_by": done.cancelled_by,
        }

    @app.post(
        "/v1/requests/{request_id}/extend",
        tags=["operate"],
        summary="Extend the answer deadline once (as `lethe extend`)",
    )
    async def extend(request_id: str, body: ExtendBody, request: Request, who: Operator) -> Any:
        from ..operations.clock import extend_deadline

        reason = _reason(body.reason, "why the deadline is extended")
        done = await extend_deadline(
            rt_of(request), request_id.strip(), reason, who.actor, until=body.until
        )
        return {
            "request_id": done.request_id,
            "due_at": done.due_at.isoformat(),
            "previous_due_at": done.previous_due_at.isoformat(),
            "extended_by": done.extended_by,
            "reason": done.reason,
        }

    @app.post(
        "/v1/requests/{request_id}/acknowledge",
        tags=["operate"],
        summary="Record that receipt was acknowledged by other means (as `lethe acknowledge`)",
    )
    async def acknowledge(
        request_id: str, body: AcknowledgeBody, request: Request, who: Operator
    ) -> Any:
        from workflows.types import ACKNOWLEDGEMENT_CHANNELS

        from ..operations.clock import acknowledge_receipt

        if body.channel not in ACKNOWLEDGEMENT_CHANNELS:
            raise LetheError(
                f"unknown channel {body.channel!r}: use one of"
                f" {', '.join(ACKNOWLEDGEMENT_CHANNELS)}"
            )
        reason = _reason(body.reason, "how the requester was told (a reference)")
        done = await acknowledge_receipt(
            rt_of(request), request_id.strip(), body.channel, reason, who.actor
        )
        answer = done.answer
        return {
            "request_id": request_id,
            "acknowledged_at": answer.at.isoformat(),
            "acknowledge_by": answer.acknowledge_by.isoformat() if answer.acknowledge_by else None,
            "on_time": answer.on_time,
            "channel": body.channel,
            "acknowledged_by": done.acknowledged_by,
            "reason": done.reason,
        }

    @app.post(
        "/v1/requests/{request_id}/systems/{system}/instruction",
        tags=["operate"],
        summary="Carry out a controller's instruction (as `lethe controller-instruction`)",
    )
    async def instruction(
        request_id: str, system: str, body: InstructionBody, request: Request, who: Operator
    ) -> Any:
        from ..operations.referrals import InstructionOrder, instruct_referral

        reason = _reason(body.reason, "what the controller said")
        dated = body.retained_until is not None or body.review_on is not None
        basis = None
        if body.action == "retain":
            if body.legal_basis is None:
                raise LetheError("retain needs legal_basis (the legal basis for keeping it)")
            basis = known_legal_basis(body.legal_basis)
            if (body.retained_until is None) == (body.review_on is None):
                raise LetheError("retain needs retained_until or review_on (one of them)")
            not_in_past(_term_dates(body), today=datetime.now(UTC).date())
        elif body.legal_basis is not None or dated:
            raise LetheError("legal_basis, retained_until and review_on go with retain, not erase")
        order = InstructionOrder(
            body.action,
            reason,
            who.actor,
            legal_basis=basis,
            retained_until=body.retained_until,
            review_on=body.review_on,
        )
        done = await instruct_referral(rt_of(request), request_id.strip(), system.strip(), order)
        return {
            "request_id": request_id,
            "system": system,
            "round": done.referral.round,
            "controller": done.referral.controller,
            "instruction": done.instruction.action,
            "operator": done.instruction.operator,
            "carried_out_in_round": done.carried_out_in_round,
        }

    @app.post(
        "/v1/requests/{request_id}/systems/{system}/retry",
        tags=["operate"],
        summary="Erase a failed system again, as the next round (as `lethe retry`)",
    )
    async def retry(
        request_id: str, system: str, body: RetryBody, request: Request, who: Operator
    ) -> Any:
        from ..intake import check_identifiers
        from ..operations.later_rounds import Retry, retry_system

        reason = _reason(body.reason, "why the system is erased again")
        extra = dict(check_identifiers({k.strip().lower(): v for k, v in body.identifiers.items()}))
        done = await retry_system(
            rt_of(request), Retry(request_id.strip(), system.strip(), reason, who.actor, extra)
        )
        return {
            "request_id": request_id,
            "system": system,
            "round": done.started.round,
            "workflow_id": done.started.workflow_id,
            "identifiers_added": done.identifiers_added,
            "still_missing": done.still_missing,
        }

    @app.post(
        "/v1/callbacks/webhook/{system}",
        tags=["processors"],
        summary="A processor's status callback (OpenDSR status, Standard Webhooks signature)",
        description=(
            "For a `webhook` system: the processor's OpenDSR status object, signed with the"
            " system's whsec_ secret (webhook-id, webhook-timestamp, webhook-signature)."
            " Refused, and recorded: a bad signature (401), a timestamp more than 5 minutes"
            " off (401), a webhook-id already accepted (409), a request nobody waits for"
            " (404). See docs/processors.md."
        ),
    )
    async def processor_callback(system: str, request: Request) -> Any:
        from ..operations.processor_callbacks import receive_callback

        raw = await request.body()
        answer = await receive_callback(
            rt_of(request), registry, system, dict(request.headers), raw
        )
        if answer.status >= 400:
            return JSONResponse(
                error_body(answer.message, USAGE, reason=answer.reason),
                status_code=answer.status,
            )
        return {"accepted": True, "result": answer.reason, "message": answer.message}

    def _today() -> date:
        return datetime.now(UTC).date()

    @app.get("/v1/holds", tags=["operate"], summary="Legal holds (as `lethe hold list`)")
    async def holds(request: Request, who: Reader, include_released: bool = False) -> Any:
        from ..operations.holds import list_holds
        from ..render import hold_to_dict

        found = await list_holds(rt_of(request), include_released=include_released)
        return {"holds": [hold_to_dict(h, _today()) for h in found]}

    @app.post(
        "/v1/holds",
        status_code=201,
        tags=["operate"],
        summary="Place a legal hold on a person (as `lethe hold add`)",
    )
    async def hold_add(body: HoldBody, request: Request, who: Operator) -> Any:
        from connectors._subject import normalise_email

        from ..operations.holds import HoldOrder, place_hold
        from ..render import hold_to_dict

        if (body.email is None) == (body.pseudonym is None):
            raise LetheError("name the person with one of email or pseudonym")
        email = ref = None
        if body.email is not None:
            try:
                email = normalise_email(body.email)
            except ValueError as exc:
                raise LetheError(f"invalid email address: {exc}") from None
        elif body.pseudonym is not None:
            ref = body.pseudonym.strip()
            if not re.fullmatch(r"ps_[0-9a-f]{32}", ref):
                raise LetheError(
                    "a pseudonym looks like ps_ followed by 32 hex digits (see lethe status)"
                )
        basis = known_legal_basis(body.legal_basis)
        if body.retained_until is not None and body.review_on is not None:
            raise LetheError("give retained_until or review_on, not both")
        not_in_past(_term_dates(body), today=_today())
        systems = None
        if body.systems is not None:
            systems = list(dict.fromkeys(s.strip() for s in body.systems if s.strip()))
            if not systems:
                raise LetheError("systems names no system")
        order = HoldOrder(
            basis,
            _reason(body.reason, "why the data is kept"),
            who.actor,
            email=email,
            subject_ref=ref,
            systems=systems,
            retained_until=body.retained_until,
            review_on=body.review_on,
        )
        done = await place_hold(rt_of(request), order)
        return {
            **hold_to_dict(done.hold, _today()),
            "open_requests": [
                {"request_id": r.request_id, "status": r.status} for r in done.open_requests
            ],
        }

    @app.post(
        "/v1/holds/{hold_id}/release",
        tags=["operate"],
        summary="Release a legal hold (as `lethe hold release`)",
    )
    async def hold_release(hold_id: str, body: ReasonBody, request: Request, who: Operator) -> Any:
        from ..operations.holds import release_hold
        from ..render import hold_to_dict

        reason = _reason(body.reason, "why the hold is released")
        done = await release_hold(rt_of(request), hold_id.strip(), reason, who.actor)
        return {
            **hold_to_dict(done.hold, _today()),
            "now_due": [{"request_id": x.request_id, "system": x.system} for x in done.now_due],
        }

    # -- auditors ------------------------------------------------------------------------------

    @app.get(
        "/v1/audit/requests", tags=["audit"], summary="Select requests (as `lethe audit list`)"
    )
    async def audit_list(
        request: Request,
        who: Auditor,
        system: Annotated[str | None, Query(max_length=64)] = None,
        outcome: Annotated[str | None, Query(max_length=32)] = None,
        jurisdiction: Annotated[str | None, Query(max_length=16)] = None,
        status: Annotated[RequestStatus | None, Query()] = None,
        overdue: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        from ledger.queries import AuditFilter

        from ..operations.request_record import select_requests
        from ..render import request_to_dict

        f = AuditFilter(
            system=system,
            outcome=outcome,
            jurisdiction=jurisdiction,
            status=status.value if status else None,
            overdue=overdue,
        )
        found = await select_requests(rt_of(request), f, limit=limit)
        return {
            "requests": [
                {
                    k: v
                    for k, v in request_to_dict(r, sealed=r.request_id in found.sealed).items()
                    if k not in {"outcomes", "retained_exceptions", "events"}
                }
                for r in found.requests
            ]
        }

    @app.get(
        "/v1/export/requests",
        tags=["audit"],
        summary="The request list as CSV or JSON (dates and states, no identifiers)",
        responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
    )
    async def export(
        request: Request,
        who: Reader,
        format: Annotated[Literal["csv", "json"], Query()] = "json",
        status: Annotated[RequestStatus | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> Any:
        from fastapi.responses import Response

        from .export import export_rows, rows_to_csv

        rows = await export_rows(
            rt_of(request), status=status.value if status else None, limit=limit
        )
        if format == "csv":
            return Response(
                rows_to_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="lethe-requests.csv"'},
            )
        return {"requests": rows}

    from .pages import add_pages

    add_pages(app, settings, limiter, requester_view)
    if settings.drp.business_id is not None:
        from .drp import add_drp

        add_drp(app, settings)
    app.add_middleware(BodyLimit, limit=settings.web.max_body_bytes)
    return app


def _route(request: Request) -> str:
    """The route's template (``/v1/requests/{request_id}/code``), never the path itself."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


async def requester_view(rt: Runtime, request_id: str) -> dict[str, Any]:
    """What a requester may see of their request: its status in plain words and its deadline;
    nothing they did not type themselves, nothing of other people, no system's evidence."""
    from ..operations.lookups import find_request

    rec = await find_request(rt.ledger, request_id)
    due = rec.due_at
    outcomes = await rt.ledger.outcomes(request_id)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    return {
        "request_id": rec.request_id,
        "status": rec.status,
        "status_text": plain_status(rec.status),
        "open": rec.status in OPEN_STATUSES,
        "needs_code": rec.status in UNVERIFIED_STATUSES and rec.verification_method == "email",
        "received_at": rec.received_at.isoformat(),
        "due_at": due.isoformat(),
        "due_text": f"We must answer by {due:%d %B %Y} (UTC).",
        "completed_at": rec.completed_at.isoformat() if rec.completed_at else None,
        "systems": len(rec.systems),
        "outcomes": counts,
    }
