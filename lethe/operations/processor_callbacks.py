"""A processor's status callback (``POST /v1/callbacks/webhook/{system}`` on ``lethe serve``).

The processor of a ``webhook`` system (``connectors.webhook``) may call back instead of
waiting to be polled. A callback is taken only if it is what it claims:

* signed with the system's ``whsec_`` secret under Standard Webhooks headers
  (``connectors.webhook_signing``), with a timestamp at most 5 minutes from now;
* a message id not accepted before (a replay is refused);
* the status of a request Lethe sent and still waits for.

Every callback, taken or refused, is recorded (``ledger.processor_callbacks``) with the
reason, never its body. A final answer (completed, or not found) is recorded as the system's
outcome, as a poll would have; then the waiting system's workflow is signalled
(``processor_answered``) so it finishes now instead of at its next poll. A still-pending
answer is recorded as taken and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from connectors import ConnectorRegistry, PermanentError
from connectors._outcomes import Pending
from connectors.webhook import WebhookConnector, ticket_prefix
from connectors.webhook_signing import SignatureRefused, verify
from ledger.processor_callbacks import ProcessorCallbacks
from ledger.tables import SystemOutcomeRecord
from vocabulary import OutcomeKind

from ..runtime import Runtime

__all__ = ["CallbackAnswer", "receive_callback"]

log = structlog.get_logger("lethe.web")

#: The most of a callback's body read (a status object is a few hundred bytes).
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class CallbackAnswer:
    """What to answer the processor: ``status`` (HTTP) and a one-line ``message``."""

    status: int
    message: str
    reason: str
    request_id: str | None = None


def _webhook_connector(
    rt: Runtime, registry: ConnectorRegistry, system: str
) -> WebhookConnector | None:
    cfg = rt.settings.systems.get(system)
    if cfg is None:
        return None
    try:
        if not issubclass(registry.resolve(cfg.connector), WebhookConnector):
            return None
        built = registry.build(system, cfg.connector, cfg.resolved_options(rt.settings.environ))
    except Exception:  # a misconfigured system: refused like an unknown one, and logged
        log.warning("callback.system_unusable", system=system)
        return None
    return built if isinstance(built, WebhookConnector) else None


async def _waiting_for(rt: Runtime, system: str, srid: str) -> SystemOutcomeRecord | None:
    """The system's outcome row whose ticket is this subject_request_id's (newest round)."""
    prefix = ticket_prefix(srid)
    q = (
        sa.select(SystemOutcomeRecord)
        .where(
            SystemOutcomeRecord.system == system,
            SystemOutcomeRecord.ticket.startswith(prefix, autoescape=True),
        )
        .order_by(SystemOutcomeRecord.round.desc())
        .limit(1)
    )
    async with rt.ledger.session() as s:
        return (await s.scalars(q)).one_or_none()


async def _wake(rt: Runtime, rec: SystemOutcomeRecord) -> bool:
    """Signal the system's workflow that its answer is in the ledger; False if it is not
    running (finished, or not started yet): its next poll reads the ledger all the same."""
    from workflows.ids import system_erasure_id

    workflow_id = system_erasure_id(rec.request_id, rec.system, rec.round)
    try:
        client = await rt.client()
        await client.get_workflow_handle(workflow_id).signal("processor_answered")
    except Exception as exc:  # gone, or Temporal unreachable: the poll still finds it
        log.info("callback.not_signalled", request_id=rec.request_id, error=type(exc).__name__)
        return False
    return True


async def receive_callback(
    rt: Runtime, registry: ConnectorRegistry, system: str, headers: dict[str, str], raw: bytes
) -> CallbackAnswer:
    """Check, record and act on one callback. Never raises for what the caller sent."""
    from activities.erasure import entry_from_outcome

    callbacks = ProcessorCallbacks(rt.ledger)
    now = datetime.now(UTC)
    name = system[:64]
    msg_id = next((v for k, v in headers.items() if k.lower() == "webhook-id"), None)

    async def refuse(
        status: int, reason: str, message: str, request_id: str | None = None
    ) -> CallbackAnswer:
        await callbacks.refuse(name, reason, message_id=msg_id, at=now, request_id=request_id)
        log.warning("callback.refused", system=name, reason=reason)
        return CallbackAnswer(status, message, reason, request_id)

    connector = _webhook_connector(rt, registry, system)
    if connector is None:
        return await refuse(404, "unknown_system", f"no webhook system named {name!r}")
    try:
        if len(raw) > MAX_BODY:
            return await refuse(413, "too_large", "the callback body is too large")
        try:
            msg_id = verify(connector.options.secret.get_secret_value(), headers, raw)
        except SignatureRefused as exc:
            return await refuse(401, exc.reason, f"callback refused: {exc}")
        if await callbacks.seen(name, msg_id):
            return await refuse(409, "replayed_id", "callback refused: this webhook-id was seen")
        try:
            status: Any = json.loads(raw)
        except ValueError:
            return await refuse(400, "bad_body", "the callback body is not JSON")
        srid = status.get("subject_request_id") if isinstance(status, dict) else None
        if not isinstance(srid, str) or not srid:
            return await refuse(400, "bad_body", "the callback names no subject_request_id")
        rec = await _waiting_for(rt, name, srid)
        if rec is None or rec.ticket is None:
            return await refuse(404, "unknown_request", "no request of this system has that id")
        if rec.outcome != OutcomeKind.PENDING:
            # Already answered (a poll got there first): taken, nothing to change.
            if not await callbacks.accept(
                name, msg_id, request_id=rec.request_id, reason="already_final", at=now
            ):
                return await refuse(
                    409, "replayed_id", "callback refused: this webhook-id was seen"
                )
            return CallbackAnswer(
                200, f"already recorded ({rec.outcome})", "already_final", rec.request_id
            )
        try:
            outcome = connector.read_status(status, rec.ticket)
        except PermanentError as exc:
            # Cancelled, or a status Lethe cannot read: the workflow's next poll asks the
            # processor itself and records the failure.
            if not await callbacks.accept(
                name, msg_id, request_id=rec.request_id, reason="not_an_erasure", at=now
            ):
                return await refuse(
                    409, "replayed_id", "callback refused: this webhook-id was seen"
                )
            await _wake(rt, rec)
            return CallbackAnswer(200, f"taken: {exc}", "not_an_erasure", rec.request_id)
        if not await callbacks.accept(
            name, msg_id, request_id=rec.request_id, reason=str(outcome.kind), at=now
        ):
            return await refuse(409, "replayed_id", "callback refused: this webhook-id was seen")
        if isinstance(outcome, Pending):
            return CallbackAnswer(200, "taken: still pending", "pending", rec.request_id)
        entry = replace(entry_from_outcome(outcome), ticket=rec.ticket)
        await rt.ledger.finish_system(rec.request_id, rec.system, rec.round, entry, at=now)
        woke = await _wake(rt, rec)
        log.info("callback.accepted", request_id=rec.request_id, system=name, woke=woke)
        return CallbackAnswer(200, f"taken: {outcome.kind}", str(outcome.kind), rec.request_id)
    finally:
        await connector.aclose()
