"""The statutory clock, as operators move it: one extension of the answer deadline with a
reason, when the rules that apply allow it (``lethe/deadlines.py``); and a receipt
acknowledged to the requester by other means than Lethe's mail.

An acknowledgement that the request refuses (it has finished, or was acknowledged in the
meantime) leaves an ``acknowledgement_refused`` event: the requester was told, and the
record keeps who told them, how and the reference, instead of nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from ledger import DeadlineRecords, ErasureRequestRecord
from workflows import (
    AcknowledgementRecorded,
    DeadlineExtension,
    ErasureWorkflow,
    ReceiptAcknowledgement,
)

from ..deadlines import STATUTES, ExtensionRefused, decide_extension, extension_until
from ..errors import LetheError
from ..free_text import PersonText, Rewritten
from ..runtime import Runtime
from .lookups import find_request
from .workflow_calls import UpdateRefused, WorkflowUnreachable, update_request

__all__ = ["Acknowledged", "Extended", "acknowledge_receipt", "extend_deadline"]


@dataclass(frozen=True)
class Extended:
    request_id: str
    due_at: datetime
    previous_due_at: datetime
    extended_by: str
    reason: str


async def extend_deadline(
    rt: Runtime,
    request_id: str,
    reason: str,
    operator: str,
    *,
    until: date | datetime | None = None,
    rewritten: Rewritten | None = None,
) -> Extended:
    """Extend the answer deadline once, as far as the rules allow or to ``until`` (a date:
    the end of that day in the controller's time zone). The requester is told, with the
    reason (at most 1000 characters kept)."""
    rec = await find_request(rt.ledger, request_id)
    clock = await DeadlineRecords(rt.ledger).clock(request_id)
    if clock is None or rec.jurisdiction not in STATUTES:
        raise LetheError(
            f"cannot extend {request_id}: no deadline rule is known for it"
            f" (jurisdiction {rec.jurisdiction})"
        )
    if rec.completed_at is not None:
        raise LetheError(f"cannot extend {request_id}: it has finished ({rec.status})")
    try:
        new_due = decide_extension(
            answer_by=rec.due_at,
            extension_limit=clock.extension_limit,
            no_extension_because=clock.no_extension_because,
            extended_at=clock.extended_at,
            now=datetime.now(UTC),
            until=extension_until(until, clock.timezone) if until is not None else None,
        )
    except ExtensionRefused as exc:
        raise LetheError(f"cannot extend {request_id}: {exc}") from None
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(reason, operator, limit=1000, rewritten=rewritten)
    try:
        await update_request(
            rt, rec, ErasureWorkflow.extend_deadline, DeadlineExtension(new_due, why, by)
        )
    except UpdateRefused as exc:
        raise LetheError(f"cannot extend {request_id}: {exc.because}") from None
    return Extended(request_id, new_due, rec.due_at, by, why)


@dataclass(frozen=True)
class Acknowledged:
    answer: AcknowledgementRecorded  # when, by when it was due, on time or not
    acknowledged_by: str
    reason: str


def _finished(status: str) -> str:
    return (
        f"it has finished ({status}) and its answer went out; an acknowledgement no"
        " longer matters (recorded as acknowledgement_refused)"
    )


async def acknowledge_receipt(
    rt: Runtime,
    request_id: str,
    channel: str,
    reason: str,
    operator: str,
    *,
    rewritten: Rewritten | None = None,
) -> Acknowledged:
    """Record that receipt was acknowledged to the requester by ``channel``, on time or late
    against the acknowledge-by date. Only for a request still open, and once."""
    rec = await find_request(rt.ledger, request_id)
    records = DeadlineRecords(rt.ledger)
    clock = await records.clock(request_id)
    if clock is None:
        raise LetheError(
            f"cannot acknowledge {request_id}: it was filed before deadlines were kept"
        )
    if clock.acknowledged_at is not None:
        event = await records.acknowledgement(request_id)
        how = f"{event.detail.get('how', '?')}, by {event.actor}" if event else "?"
        raise LetheError(
            f"{request_id} was already acknowledged on"
            f" {clock.acknowledged_at:%Y-%m-%d %H:%M} UTC ({how})"
        )
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(reason, operator, rewritten=rewritten)

    async def refused(because: str) -> LetheError:
        # The requester was told, but the record could not take it: it keeps a trace
        # (who, how, the reference) instead of nothing.
        await rt.ledger.add_event(
            request_id,
            "acknowledgement_refused",
            at=datetime.now(UTC),
            actor=by[:120],
            detail={"channel": channel, "reason": why, "refused_because": because[:300]},
        )
        return LetheError(f"cannot acknowledge {request_id}: {because}")

    if rec.completed_at is not None:
        raise await refused(_finished(rec.status))
    try:
        done = await update_request(
            rt, rec, ErasureWorkflow.acknowledge_receipt, ReceiptAcknowledgement(channel, why, by)
        )
    except UpdateRefused as exc:
        # Refused by the request itself: it finished in the meantime, or was acknowledged.
        raise await refused(f"{exc.because} (recorded as acknowledgement_refused)") from None
    except WorkflowUnreachable:
        now: ErasureRequestRecord | None = await rt.ledger.get_request(request_id)
        if now is not None and now.completed_at is not None:
            # It finished between our look and the update: its workflow is closed.
            raise await refused(_finished(now.status)) from None
        raise
    return Acknowledged(done, by, why)
