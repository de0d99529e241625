"""Later rounds of a request: erasing one system again, years after the first pass.

Round 0 is the request's first pass. A later round re-erases one system of the same request,
because its retention expired or came up for review, the hold keeping it was released, an
operator retried a failure, or a backup was restored. Each round appends a row to
``system_outcomes`` (same request, same system, next round number) and its events to the
request's record; closing the round settles the exceptions the earlier rounds left open:
``resolved`` when the data is now gone, ``superseded`` when a newer outcome replaces them
(kept again, with a new basis and date, or failed and waiting for an operator).

Nothing here waits: the sweeper asks :meth:`ErasureRounds.due` what to do today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vocabulary import GONE

from .request_status import RequestStatuses
from .store import Ledger, LedgerError
from .tables import (
    ErasureRequestRecord,
    ErasureRound,
    HoldRetention,
    LegalHold,
    RequestEvent,
    RetainedException,
    SystemOutcomeRecord,
)
from .write_keys import lock_request, replaying

__all__ = ["DueSystem", "ErasureRounds"]

#: How soon a system whose retention date has passed is asked again after its last round.
RECHECK_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class DueSystem:
    """A system of a finished request whose retention is over: erase it again."""

    request_id: str
    subject_ref: str
    system: str
    round: int
    trigger: str  # retention_expired | review_due | hold_released
    exception_id: int
    reason: str


def _unfinished_round(request_id: Any, system: Any) -> sa.Exists:
    return sa.exists().where(
        ErasureRound.request_id == request_id,
        ErasureRound.system == system,
        ErasureRound.finished_at.is_(None),
    )


class ErasureRounds:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def latest_outcomes(self, request_id: str) -> dict[str, SystemOutcomeRecord]:
        """Each system's outcome in its latest round."""
        latest: dict[str, SystemOutcomeRecord] = {}
        for row in await self._ledger.outcomes(request_id):  # ordered by round
            latest[row.system] = row
        return latest

    async def unfinished(self, request_id: str, system: str) -> ErasureRound | None:
        q = sa.select(ErasureRound).where(
            ErasureRound.request_id == request_id,
            ErasureRound.system == system,
            ErasureRound.finished_at.is_(None),
        )
        async with self._ledger.session() as s:
            return (await s.scalars(q.order_by(ErasureRound.round.desc()).limit(1))).first()

    async def rounds(self, request_id: str) -> list[ErasureRound]:
        q = sa.select(ErasureRound).where(ErasureRound.request_id == request_id)
        async with self._ledger.session() as s:
            return list(
                (await s.scalars(q.order_by(ErasureRound.round, ErasureRound.system))).all()
            )

    async def next_round(self, request_id: str, system: str) -> int:
        """The round to run now: an unfinished one (to resume), else one past the last."""
        running = await self.unfinished(request_id, system)
        if running is not None:
            return running.round
        async with self._ledger.session() as s:
            outcome_max = await s.scalar(
                sa.select(sa.func.max(SystemOutcomeRecord.round)).where(
                    SystemOutcomeRecord.request_id == request_id,
                    SystemOutcomeRecord.system == system,
                )
            )
            round_max = await s.scalar(
                sa.select(sa.func.max(ErasureRound.round)).where(
                    ErasureRound.request_id == request_id, ErasureRound.system == system
                )
            )
        return max(r for r in (outcome_max, round_max, -1) if r is not None) + 1

    async def open_round(
        self,
        *,
        request_id: str,
        system: str,
        round_: int,
        trigger: str,
        actor: str,
        reason: str,
        exception_id: int | None,
        workflow_id: str,
        at: datetime,
    ) -> ErasureRound:
        """Record that a round starts (idempotent: a retried call returns the same row)."""
        q = sa.select(ErasureRound).where(
            ErasureRound.request_id == request_id,
            ErasureRound.system == system,
            ErasureRound.round == round_,
        )
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            if await s.get(ErasureRequestRecord, request_id) is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            row = (await s.scalars(q)).one_or_none()
            if row is not None:
                return row
            row = ErasureRound(
                request_id=request_id,
                system=system,
                round=round_,
                trigger=trigger,
                actor=actor,
                reason=reason[:1000],
                exception_id=exception_id,
                workflow_id=workflow_id,
                started_at=at,
            )
            s.add(row)
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="round_started",
                    write_key=f"round_started/{system}/{round_}",
                    actor=actor,
                    detail={
                        "system": system,
                        "round": round_,
                        "trigger": trigger,
                        "reason": reason[:1000],
                        **({"exception_id": exception_id} if exception_id else {}),
                    },
                )
            )
            return row

    async def close_round(
        self, request_id: str, system: str, round_: int, *, at: datetime
    ) -> dict[str, str]:
        """Settle the system's older exceptions against its latest outcome; finish the round.

        Returns every system's latest outcome, from which the request's status follows.
        Each exception is settled once (its event is keyed by its id): a repeat changes
        nothing.
        """
        await replaying(lambda: self._close_round(request_id, system, round_, at))
        return {name: rec.outcome for name, rec in (await self.latest_outcomes(request_id)).items()}

    async def _close_round(self, request_id: str, system: str, round_: int, at: datetime) -> None:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            latest = (
                await s.scalars(
                    sa.select(SystemOutcomeRecord)
                    .where(
                        SystemOutcomeRecord.request_id == request_id,
                        SystemOutcomeRecord.system == system,
                    )
                    .order_by(SystemOutcomeRecord.round.desc())
                    .limit(1)
                )
            ).first()
            if latest is None:
                raise LedgerError(f"{request_id}: {system} has no outcome to close a round with")
            state = "resolved" if latest.outcome in GONE else "superseded"
            older = (
                await s.scalars(
                    sa.select(RetainedException).where(
                        RetainedException.request_id == request_id,
                        RetainedException.system == system,
                        RetainedException.state == "open",
                        RetainedException.outcome_id != latest.id,
                    )
                )
            ).all()
            for exc in older:
                exc.state = state
                exc.resolved_at = at
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind=f"exception_{state}",
                        write_key=f"exception/{exc.id}",
                        actor="lethe",
                        detail={
                            "system": system,
                            "exception_id": exc.id,
                            "legal_basis": exc.legal_basis,
                            "by_round": latest.round,
                            "outcome": latest.outcome,
                        },
                    )
                )
            row = (
                await s.scalars(
                    sa.select(ErasureRound).where(
                        ErasureRound.request_id == request_id,
                        ErasureRound.system == system,
                        ErasureRound.round == round_,
                    )
                )
            ).one_or_none()
            if row is not None and row.finished_at is None:
                row.finished_at = at
                row.outcome = latest.outcome

    async def set_status_after_round(
        self,
        request_id: str,
        *,
        at: datetime,
        actor: str,
        detail: dict[str, Any],
        write_key: str | None = None,
    ) -> str | None:
        """The request's status from its latest outcomes, once the request is answered (see
        :meth:`RequestStatuses.after_round`): a round of an open request leaves it alone."""
        return await RequestStatuses(self._ledger).after_round(
            request_id, at=at, actor=actor, detail=detail, write_key=write_key
        )

    async def due(self, as_of: datetime, *, limit: int = 200) -> list[DueSystem]:
        """Systems of finished requests whose retention has ended by ``as_of``.

        Due: an exception kept ``retained_until`` a day before ``as_of``; an indefinite one
        whose ``review_on`` has come; one kept by a hold that was released or has lapsed.
        An exception kept by a hold that is still active is not due, whatever its review
        date says (``lethe hold list`` shows overdue reviews). Systems with a round still
        under way are left to it.

        A system that answers a round with a date already past (backups not rotated on
        time, say) is asked again a day later, not at every sweep: a date-based exception is
        due only once its round is at least :data:`RECHECK_AFTER` old.
        """
        today = as_of.date()
        q = (
            sa.select(
                RetainedException,
                ErasureRequestRecord.subject_ref,
                LegalHold.hold_id,
                LegalHold.released_at,
                LegalHold.retained_until,
            )
            .join(
                ErasureRequestRecord,
                ErasureRequestRecord.request_id == RetainedException.request_id,
            )
            .join(SystemOutcomeRecord, SystemOutcomeRecord.id == RetainedException.outcome_id)
            .outerjoin(HoldRetention, HoldRetention.exception_id == RetainedException.id)
            .outerjoin(LegalHold, LegalHold.hold_id == HoldRetention.hold_id)
            .where(
                RetainedException.state == "open",
                ErasureRequestRecord.completed_at.is_not(None),
                ~_unfinished_round(RetainedException.request_id, RetainedException.system),
                sa.or_(
                    sa.and_(
                        LegalHold.hold_id.is_(None),
                        sa.or_(
                            RetainedException.retained_until < today,
                            RetainedException.review_on <= today,
                        ),
                        SystemOutcomeRecord.finished_at <= as_of - RECHECK_AFTER,
                    ),
                    sa.and_(
                        LegalHold.hold_id.is_not(None),
                        sa.or_(
                            LegalHold.released_at.is_not(None), LegalHold.retained_until < today
                        ),
                    ),
                ),
            )
            .order_by(RetainedException.id)
            .limit(limit)
        )
        async with self._ledger.session() as s:
            found = (await s.execute(q)).all()
        due: dict[tuple[str, str], DueSystem] = {}
        for exc, subject_ref, hold_id, released_at, hold_until in found:
            key = (exc.request_id, exc.system)
            if key in due:
                continue
            if hold_id is not None and released_at is not None:
                trigger, reason = "hold_released", f"legal hold {hold_id} was released"
            elif hold_id is not None:
                trigger, reason = (
                    "retention_expired",
                    f"legal hold {hold_id} lapsed on {hold_until}",
                )
            elif exc.retained_until is not None:
                trigger = "retention_expired"
                reason = f"retained until {exc.retained_until} under {exc.legal_basis}"
            else:
                trigger = "review_due"
                reason = (
                    f"indefinite retention under {exc.legal_basis} due for review on "
                    f"{exc.review_on}"
                )
            due[key] = DueSystem(
                request_id=exc.request_id,
                subject_ref=subject_ref,
                system=exc.system,
                round=await self.next_round(exc.request_id, exc.system),
                trigger=trigger,
                exception_id=exc.id,
                reason=reason,
            )
        return list(due.values())
