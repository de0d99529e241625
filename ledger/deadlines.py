"""A request's statutory clock: which rule set each deadline, acknowledgement, extension.

    request_deadlines   one row per request, written at receipt: when the acknowledgement
                        and the answer are due and which rule decided it, how far one
                        extension could go (or why none can), and, once they happen, the
                        acknowledgement, the extension (who, why, when), the reminder and the
                        overdue escalation

``erasure_requests.due_at`` stays the one answer deadline everything reads; an extension
moves it and keeps the original here. Reminders and escalations are also request events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from vocabulary import AlertEvent

from .locks import lock_row
from .store import Ledger, LedgerError
from .tables import ErasureRequestRecord, RequestClock, RequestEvent
from .write_keys import lock_request, prior_event, replaying

__all__ = ["DEADLINE_EVENTS", "DeadlineRecords", "DeadlineTerms"]

#: Events the workflow's timers record.
DEADLINE_EVENTS = (
    AlertEvent.ACKNOWLEDGEMENT_OVERDUE,
    AlertEvent.DEADLINE_REMINDER,
    AlertEvent.DEADLINE_OVERDUE,
)


@dataclass(frozen=True)
class DeadlineTerms:
    """What intake decided (see ``lethe.deadlines.plan_deadlines``)."""

    timezone: str
    answer_rule: str
    due_at: datetime
    acknowledge_by: datetime | None
    acknowledge_rule: str | None
    extension_limit: datetime | None
    no_extension_because: str | None


async def _lock(s: AsyncSession, request_id: str) -> None:
    """Take the request's and then the clock row's write locks first, on every backend
    (SQLite ignores FOR UPDATE, and two concurrent writers would both see "not yet
    extended"); the request's first, as every keyed write does (``ledger.write_keys``)."""
    await lock_request(s, request_id)
    await lock_row(s, RequestClock.request_id == request_id, touch=RequestClock.timezone)


class DeadlineRecords:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @staticmethod
    def clock_row(request_id: str, terms: DeadlineTerms) -> RequestClock:
        """The clock's row, for the receipt's own transaction (``Ledger.open_request``)."""
        return RequestClock(
            request_id=request_id,
            timezone=terms.timezone,
            answer_rule=terms.answer_rule,
            original_due_at=terms.due_at,
            acknowledge_by=terms.acknowledge_by,
            acknowledge_rule=terms.acknowledge_rule,
            extension_limit=terms.extension_limit,
            no_extension_because=terms.no_extension_because,
        )

    async def open_clock(self, request_id: str, terms: DeadlineTerms) -> None:
        async with self._ledger.session() as s, s.begin():
            s.add(self.clock_row(request_id, terms))

    async def clock(self, request_id: str) -> RequestClock | None:
        async with self._ledger.session() as s:
            return await s.get(RequestClock, request_id)

    async def mark_acknowledged(
        self,
        request_id: str,
        *,
        at: datetime,
        how: str,
        actor: str = "lethe",
        reason: str | None = None,
    ) -> bool:
        """Record that the requester was told we have their request: ``how`` (a mail Lethe
        sent, or the channel an operator used: ``lethe acknowledge``), by whom, and whether
        in time. False if already so (one ``acknowledged`` event per request)."""
        return await replaying(lambda: self._acknowledge(request_id, at, how, actor, reason))

    async def _acknowledge(
        self, request_id: str, at: datetime, how: str, actor: str, reason: str | None
    ) -> bool:
        async with self._ledger.session() as s, s.begin():
            await _lock(s, request_id)
            clock = await s.get(RequestClock, request_id, with_for_update=True)
            if clock is None:
                raise LedgerError(f"no deadlines recorded for {request_id!r}")
            if clock.acknowledged_at is not None:
                return False
            clock.acknowledged_at = at
            on_time = clock.acknowledge_by is None or at <= clock.acknowledge_by
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="acknowledged",
                    write_key="acknowledged",
                    actor=actor[:120],
                    detail={
                        "how": how,
                        "on_time": on_time,
                        **({"reason": reason[:500]} if reason else {}),
                    },
                )
            )
            return True

    async def acknowledgement(self, request_id: str) -> RequestEvent | None:
        """The ``acknowledged`` event of a request (how, by whom, on time), if any."""
        q = (
            sa.select(RequestEvent)
            .where(RequestEvent.request_id == request_id, RequestEvent.kind == "acknowledged")
            .order_by(RequestEvent.id)
            .limit(1)
        )
        async with self._ledger.session() as s:
            return (await s.scalars(q)).first()

    async def record_deadline_event(
        self, request_id: str, kind: str, *, at: datetime, due: datetime
    ) -> datetime:
        """Record a reminder or escalation that fell due at ``due``; return the request's
        current answer deadline (the caller re-arms if it moved since the timer was set).

        An escalation for a deadline that has moved (an extension the timer had not heard
        of) is not recorded. Each is recorded once per deadline (its event is keyed by kind
        and due date): a retried activity records nothing more, and the reminder of a
        deadline that an extension moved is a new one.
        """
        if kind not in DEADLINE_EVENTS:
            raise LedgerError(f"unknown deadline event {kind!r}")
        key = f"{kind}/{due.astimezone(UTC).isoformat()}"
        return await replaying(lambda: self._deadline_event(request_id, kind, at, due, key))

    async def _deadline_event(
        self, request_id: str, kind: str, at: datetime, due: datetime, key: str
    ) -> datetime:
        async with self._ledger.session() as s, s.begin():
            await _lock(s, request_id)
            req = await s.get(ErasureRequestRecord, request_id)
            clock = await s.get(RequestClock, request_id, with_for_update=True)
            if req is None or clock is None:
                raise LedgerError(f"no deadlines recorded for {request_id!r}")
            if kind != AlertEvent.ACKNOWLEDGEMENT_OVERDUE and req.due_at > due:
                return req.due_at
            if kind == AlertEvent.ACKNOWLEDGEMENT_OVERDUE and clock.acknowledged_at is not None:
                return req.due_at
            if await prior_event(s, request_id, key) is not None:
                return req.due_at  # recorded already (a retried activity)
            column: dict[str, str] = {
                AlertEvent.DEADLINE_REMINDER: "reminded_at",
                AlertEvent.DEADLINE_OVERDUE: "overdue_at",
            }
            if kind in column:
                setattr(clock, column[kind], at)  # the latest
            detail: dict[str, Any] = {"due": due.isoformat(), "status": req.status}
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind=kind,
                    actor="lethe",
                    detail=detail,
                    write_key=key,
                )
            )
            return req.due_at

    async def extend(
        self, request_id: str, *, new_due: datetime, reason: str, actor: str, at: datetime
    ) -> datetime:
        """Move the answer deadline once; LedgerError if already extended or closed.
        Returns the previous deadline. Recording the same extension again (a retried
        activity) changes nothing and answers the same."""
        return await replaying(lambda: self._extend(request_id, new_due, reason, actor, at))

    async def _extend(
        self, request_id: str, new_due: datetime, reason: str, actor: str, at: datetime
    ) -> datetime:
        async with self._ledger.session() as s, s.begin():
            await _lock(s, request_id)
            req = await s.get(ErasureRequestRecord, request_id, with_for_update=True)
            clock = await s.get(RequestClock, request_id, with_for_update=True)
            if req is None or clock is None:
                raise LedgerError(f"no deadlines recorded for {request_id!r}")
            if (
                clock.extended_at is not None
                and req.due_at == new_due
                and clock.extension_reason == reason[:1000]
            ):
                return clock.original_due_at
            if clock.extended_at is not None:
                raise LedgerError(
                    f"{request_id} was already extended on {clock.extended_at:%Y-%m-%d}"
                )
            if req.completed_at is not None:
                raise LedgerError(f"{request_id} has already finished ({req.status})")
            previous = req.due_at
            req.due_at = new_due
            clock.extended_at, clock.extended_by = at, actor[:120]
            clock.extension_reason = reason[:1000]
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="deadline_extended",
                    write_key="deadline_extended",
                    actor=actor[:120],
                    detail={
                        "from": previous.isoformat(),
                        "to": new_due.isoformat(),
                        "reason": reason[:1000],
                    },
                )
            )
            return previous

    async def due_requests(
        self,
        *,
        now: datetime,
        overdue: bool = False,
        within: timedelta | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> Sequence[ErasureRequestRecord]:
        """Open (unfinished) requests, soonest deadline first: past their deadline
        (``overdue``), due in the next ``within``, or both; only those in ``status`` if given
        (filtered before the ``limit``, so a filter never hides a match)."""
        horizon = now + within if within is not None else now
        q = (
            sa.select(ErasureRequestRecord)
            .where(
                ErasureRequestRecord.completed_at.is_(None),
                ErasureRequestRecord.due_at <= horizon,
            )
            .order_by(ErasureRequestRecord.due_at, ErasureRequestRecord.request_id)
            .limit(limit)
        )
        if not overdue:
            q = q.where(ErasureRequestRecord.due_at > now)
        if status is not None:
            q = q.where(ErasureRequestRecord.status == status)
        async with self._ledger.session() as s:
            return list((await s.scalars(q)).all())
