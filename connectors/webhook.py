"""``webhook``: erase at a processor (or affiliate) that answers now or later (GDPR Art. 19).

Lethe sends the processor a signed OpenDSR 2.0 erasure request; the processor answers at once
(done, or nothing found) or later (``Pending``: its ticket and the time it promised). Later
answers come by a signed status callback to ``lethe serve`` (``status_callback_urls``) or by
polling the processor's status URL with back-off; either way the same status object is read
(:func:`outcome_of_status`). The subset of OpenDSR spoken, and Lethe's optional additions, are
written down in ``docs/processors.md`` and held to ``connectors/testing/fakes/contracts/
opendsr.yaml``::

    POST {url}/requests              the request (identifiers only here, in the body)
        201/200 {subject_request_id, expected_completion_time, received_time,
                 request_status?, result?, counts?}
    GET  {url}/requests/{subject_request_id}
        200 {subject_request_id, request_status, expected_completion_time, result?, counts?}
    request_status: pending | in_progress | completed | cancelled
    result (Lethe's addition): erased | not_found      counts: {"<what>.<action>": n}

Every request is signed with Standard Webhooks headers (``connectors.webhook_signing``) under
the shared ``whsec_`` secret. ``subject_request_id`` is derived from the erase's idempotency
key (the same on a retry, another for a later round), so a processor deduplicates on it; the
receipt journal replays what an earlier attempt was answered. Evidence holds the request id,
statuses and times, never an identifier; URLs never carry one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator

from ._errors import (
    BlastRadiusExceeded,
    ConnectorConfigError,
    PermanentError,
    TransientError,
    parse_retry_after,
)
from ._matching import IdentifierMatch, normal_form
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Pending
from ._protocol import BaseConnector, Capability, ConnectorOptions
from ._receipt import receipt_of, replayed
from ._subject import Subject
from .webhook_signing import secret_key, signed_headers

__all__ = [
    "OPENDSR_API_VERSION",
    "WebhookConnector",
    "WebhookOptions",
    "decode_ticket",
    "outcome_of_status",
    "subject_request_id",
    "ticket_prefix",
]

OPENDSR_API_VERSION = "2.0"
_TICKET_PREFIX = "webhook1:"
_RETRIED = frozenset({408, 425, 429})
_PENDING_STATES = frozenset({"pending", "in_progress"})
#: Lethe's identifier kinds under OpenDSR's ``identity_type`` names, where they differ.
_IDENTITY_TYPES = {"customer_id": "controller_customer_id"}


class WebhookOptions(ConnectorOptions):
    """``[systems.NAME]`` with ``connector = "webhook"``: a processor speaking OpenDSR."""

    url: str = Field(description="The processor's OpenDSR base URL (…/requests is appended)")
    secret: SecretStr = Field(description="The shared whsec_ secret (give secret_env)")
    identities: tuple[str, ...] = Field(
        default=("email",), description="The identifier kinds sent to the processor"
    )
    hash_identities: bool = Field(
        default=False,
        description="Send SHA-256 of each identifier's normal form (identity_format sha256)",
    )
    regulation: str = Field(default="gdpr")
    callback_url: str | None = Field(
        default=None,
        description="Where the processor calls back: <lethe serve>/v1/callbacks/webhook/<system>",
    )
    answer_within_days: float = Field(
        default=30.0, gt=0, le=366, description="Promised time when the processor gives none"
    )
    poll_after_seconds: int = Field(default=3600, ge=1, description="First status poll after")
    max_poll_after_seconds: int = Field(default=86400, ge=1, description="Longest poll interval")
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10, description="Quick retries of a 5xx answer")
    backoff_seconds: float = Field(default=0.5, ge=0, le=30)

    @field_validator("url", "callback_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return v.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: SecretStr) -> SecretStr:
        secret_key(v.get_secret_value())
        return v

    @field_validator("identities")
    @classmethod
    def _kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from ._subject import IDENTIFIER_KINDS

        if not v:
            raise ValueError("name at least one identifier kind to send")
        unknown = [k for k in v if k not in IDENTIFIER_KINDS]
        if unknown:
            raise ValueError(f"unknown identifier kind {unknown[0]!r}")
        return tuple(dict.fromkeys(v))


def subject_request_id(system: str, key: str) -> str:
    """The OpenDSR ``subject_request_id`` of one erase: a UUID in version 4 form derived from
    the system and the erase's idempotency key (a retry sends the same, a later round not)."""
    digest = bytearray(hashlib.sha256(f"lethe-webhook\0{system}\0{key}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def _encode_ticket(body: Mapping[str, Any]) -> str:
    """``webhook1:<subject_request_id>:<sent>:<due>:<polls>:<missing kinds>:<key>`` (times as unix
    seconds): short enough for the ledger's ticket column, no identifier in it."""
    sent, due = (_time(body.get(k)) for k in ("sent", "due"))
    stamps = [int(t.timestamp()) if t is not None else 0 for t in (sent, due)]
    missing = ",".join(body.get("missing") or ())
    polls = int(body.get("polls") or 0)
    return f"{_TICKET_PREFIX}{body['id']}:{stamps[0]}:{stamps[1]}:{polls}:{missing}:{body['key']}"


def _iso(epoch: str) -> str | None:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat() if int(epoch) else None


def decode_ticket(ticket: str) -> dict[str, Any]:
    """What a ``webhook`` ticket holds: ``id`` (the subject_request_id), ``key``, ``sent``,
    ``due`` (ISO times or None), ``polls`` (status polls answered pending) and ``missing``.
    :class:`PermanentError` if it is not one."""
    try:
        if not ticket.startswith(_TICKET_PREFIX):
            raise ValueError(ticket)
        srid, sent, due, polls, missing, key = ticket[len(_TICKET_PREFIX) :].split(":", 5)
        uuid.UUID(srid)
        return {
            "id": srid,
            "key": key,
            "sent": _iso(sent),
            "polls": int(polls),
            "due": _iso(due),
            "missing": [m for m in missing.split(",") if m],
        }
    except ValueError:
        raise PermanentError("webhook: not a ticket of this connector") from None


def ticket_prefix(srid: str) -> str:
    """The start of every ticket of one ``subject_request_id`` (to find its request)."""
    return f"{_TICKET_PREFIX}{srid}:"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def outcome_of_status(
    status: Mapping[str, Any],
    ticket: str,
    *,
    poll_after: timedelta = timedelta(hours=1),
    longest: timedelta = timedelta(days=1),
) -> Outcome:
    """The outcome an OpenDSR status object (a status poll's answer, or a callback) says, for
    the erase ``ticket`` stands for. ``PermanentError`` for a cancelled request, an unknown
    status, or the status of another request."""
    info = decode_ticket(ticket)
    if status.get("subject_request_id") != info["id"]:
        raise PermanentError("webhook: the status is of another subject_request_id")
    state = status.get("request_status")
    due = _time(status.get("expected_completion_time")) or _time(info.get("due"))
    evidence: dict[str, Any] = {
        "subject_request_id": info["id"],
        "request_status": state,
    }
    if due is not None:
        evidence["expected_completion_time"] = due.isoformat()
    if state in _PENDING_STATES:
        # Back-off: the interval doubles with each answer still pending, up to the longest.
        # The count travels in the ticket, which Lethe records after every poll.
        polls = int(info.get("polls") or 0)
        wait = min(poll_after * 2 ** min(polls, 30), longest)
        following = _encode_ticket({**info, "polls": polls + 1})
        return Pending(ticket=following, poll_after=wait, evidence=evidence)
    if state == "cancelled":
        raise PermanentError(
            "webhook: the processor cancelled the erasure request (ask it why; lethe retry "
            "sends it again)"
        )
    if state != "completed":
        raise PermanentError(f"webhook: unknown request_status {str(state)[:40]!r}")
    result = status.get("result", "erased")
    counts_in = status.get("counts") or {}
    if not isinstance(counts_in, Mapping):
        raise PermanentError("webhook: counts is not an object")
    try:
        counts = {str(k): int(v) for k, v in counts_in.items() if int(v) > 0}
    except (TypeError, ValueError):
        raise PermanentError("webhook: counts are not whole numbers") from None
    missing = tuple(info.get("missing") or ())
    if result == "not_found" or (result == "erased" and not counts and "counts" in status):
        if missing:
            return NotSearched(missing=missing, evidence=evidence)
        return NotFound(evidence=evidence)
    if result != "erased":
        raise PermanentError(f"webhook: unknown result {str(result)[:40]!r}")
    if missing:
        return NotSearched(missing=missing, counts=counts, evidence=evidence)
    return Erased(counts=counts, evidence=evidence)


class WebhookConnector(BaseConnector[WebhookOptions]):
    kind: ClassVar[str] = "webhook"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE, Capability.ASYNC})

    def __init__(self, name: str, options: WebhookOptions) -> None:
        if not isinstance(options, WebhookOptions):
            raise ConnectorConfigError("webhook: options must be WebhookOptions")
        super().__init__(name, options)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.options.timeout_seconds,
                follow_redirects=False,
                headers={"Accept": "application/json", "User-Agent": "lethe-webhook/1"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(
        self, method: str, url: str, body: bytes | None, what: str, *, msg_id: str | None = None
    ) -> httpx.Response:
        """One signed request, 5xx retried quickly; raises unless the answer is 2xx or 422.
        ``msg_id``: the ``webhook-id`` (the same on every retry of one message); a fresh one
        for a status poll."""
        secret = self.options.secret.get_secret_value()
        msg_id = msg_id or "msg_" + secrets.token_hex(16)
        attempt = 0
        while True:
            headers = signed_headers(secret, msg_id, body or b"")
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                r = await self._http().request(method, url, content=body, headers=headers)
            except httpx.TimeoutException:
                raise TransientError(f"{what}: timed out") from None
            except httpx.TransportError as exc:
                raise TransientError(f"{what}: unreachable ({type(exc).__name__})") from None
            if r.status_code >= 500 and attempt < self.options.retries:
                await asyncio.sleep(self.options.backoff_seconds * 2**attempt)
                attempt += 1
                continue
            break
        status = r.status_code
        if 200 <= status < 300 or status == 422:
            return r
        if status in _RETRIED or status >= 500:
            wait = parse_retry_after(r.headers.get("Retry-After"))
            raise TransientError(f"{what}: answered {status}", retry_after=wait)
        if status in (401, 403):
            raise PermanentError(f"{what}: answered {status} (signature or secret refused)")
        raise PermanentError(f"{what}: answered {status}")

    @staticmethod
    def _json(r: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = r.json()
        except ValueError:
            raise PermanentError(f"{what}: answered {r.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise PermanentError(f"{what}: answered {r.status_code} without a JSON object")
        return body

    def _identities(self, subject: Subject) -> tuple[list[dict[str, str]], tuple[str, ...]]:
        """The identities sent, and the configured kinds the subject lacks."""
        sent: list[dict[str, str]] = []
        missing: list[str] = []
        for kind in self.options.identities:
            value = subject.get(kind)
            if value is None or not value.strip():
                missing.append(kind)
                continue
            if IdentifierMatch.of(kind, value) is None:
                continue  # no normal form: it matches nothing, so it is not sent
            if self.options.hash_identities:
                form = normal_form(kind, value.strip())
                assert form is not None
                value, fmt = hashlib.sha256(form.encode()).hexdigest(), "sha256"
            else:
                value, fmt = value.strip(), "raw"
            sent.append(
                {
                    "identity_type": _IDENTITY_TYPES.get(kind, kind),
                    "identity_value": value,
                    "identity_format": fmt,
                }
            )
        return sent, tuple(missing)

    def read_status(self, status: Mapping[str, Any], ticket: str) -> Outcome:
        """:func:`outcome_of_status` with this system's poll intervals."""
        return outcome_of_status(
            status,
            ticket,
            poll_after=timedelta(seconds=self.options.poll_after_seconds),
            longest=timedelta(seconds=self.options.max_poll_after_seconds),
        )

    async def check(self) -> None:
        """Reachability and the secret: the status of a request that does not exist must be
        answered 404 (a signature refused is 401)."""
        probe = subject_request_id(self.name, "lethe-check")
        what = f"{self.name}: GET status"
        try:
            await self._send("GET", f"{self.options.url}/requests/{probe}", None, what)
        except PermanentError as exc:
            if "answered 404" not in str(exc):
                raise

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        entry = await self.journal.get(request_id)
        if entry is not None and "outcome" in entry:
            return replayed(entry["outcome"])
        identities, missing = self._identities(subject)
        srid = subject_request_id(self.name, request_id)
        if not identities:
            evidence = {"subject_request_id": srid, "sent": False}
            if missing:
                return NotSearched(missing=missing, evidence=evidence)
            return NotFound(evidence={**evidence, "why": "no usable identifier"})
        now = datetime.now(UTC)
        request: dict[str, Any] = {
            "api_version": OPENDSR_API_VERSION,
            "regulation": self.options.regulation,
            "subject_request_id": srid,
            "subject_request_type": "erasure",
            "submitted_time": now.isoformat(),
            "subject_identities": identities,
            "extensions": {"lethe": {"max_items": self.options.max_items}},
        }
        if self.options.callback_url:
            request["status_callback_urls"] = [self.options.callback_url]
        await self.journal.put(request_id, {"sent": srid})
        what = f"{self.name}: POST request"
        body = json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
        r = await self._send(
            "POST", f"{self.options.url}/requests", body, what, msg_id=f"msg_{srid}"
        )
        answer = self._json(r, what)
        if r.status_code == 422:
            if answer.get("error") == "blast_radius":
                would = answer.get("would_touch")
                limit = self.options.max_items
                raise BlastRadiusExceeded(
                    would_touch=would if isinstance(would, int) else limit + 1,
                    limit=self.options.max_items,
                    where=self.name,
                )
            raise PermanentError(f"{what}: answered 422 (the request was refused)")
        if answer.get("subject_request_id") != srid:
            raise PermanentError(f"{what}: the answer names another subject_request_id")
        due = _time(answer.get("expected_completion_time")) or (
            now + timedelta(days=self.options.answer_within_days)
        )
        ticket = _encode_ticket(
            {
                "id": srid,
                "key": request_id,
                "sent": now.isoformat(),
                "due": due.isoformat(),
                "missing": list(missing),
            }
        )
        status = {"request_status": "pending", **answer}
        outcome = self.read_status(status, ticket)
        if isinstance(outcome, Pending):
            # The first poll comes after the configured interval, not after the back-off.
            outcome = Pending(
                ticket=ticket,
                poll_after=timedelta(seconds=self.options.poll_after_seconds),
                evidence=outcome.evidence,
            )
        await self.journal.put(request_id, {"sent": srid, "outcome": receipt_of(outcome)})
        return outcome

    async def status(self, ticket: str) -> Outcome:
        info = decode_ticket(ticket)
        what = f"{self.name}: GET status"
        r = await self._send("GET", f"{self.options.url}/requests/{info['id']}", None, what)
        if r.status_code == 422:
            raise PermanentError(f"{what}: answered 422")
        outcome = await self.finish(ticket, self._json(r, what))
        return outcome

    async def finish(self, ticket: str, status: Mapping[str, Any]) -> Outcome:
        """The outcome a status object (polled, or called back) gives; a final one becomes
        the erase's receipt, so that a repeat replays it."""
        outcome = self.read_status(status, ticket)
        if not isinstance(outcome, Pending):
            key = str(decode_ticket(ticket).get("key", ""))
            if key:
                entry = await self.journal.get(key) or {}
                await self.journal.put(key, {**entry, "outcome": receipt_of(outcome)})
        return outcome
