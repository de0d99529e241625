"""Legal holds: counsel says "keep this person's data", and erasure stops short of it.

A hold names a pseudonym (never an address), a legal basis, a reason, optionally the systems
it covers (default: all) and either the date it lapses (``retained_until``) or, when it is
indefinite, the date it is next reviewed (``review_on``). While a hold is active, a request
for that person records ``Retained`` for the held systems without calling their connectors;
the retained exception is linked to the hold, so releasing the hold makes it due for the
retention sweeper, which erases those systems in a later round of the same request.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from vocabulary import OutcomeKind

from .retention_rules import check_retention
from .store import Ledger, LedgerError, OutcomeEntry
from .tables import HoldRetention, LegalHold, RequestEvent, RetainedException, SystemOutcomeRecord
from .write_keys import lock_request

__all__ = ["HoldRelease", "LegalHolds", "choose_hold", "hold_state", "new_hold_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_hold_id() -> str:
    """``lh-`` and 10 random base32 characters; says nothing about the person."""
    return "lh-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def choose_hold(holds: Iterable[LegalHold], system: str, on: date) -> LegalHold | None:
    """The hold that keeps ``system`` longest: indefinite ones first, then the latest date."""
    covering = [h for h in holds if h.covers(system) and h.active_on(on)]
    if not covering:
        return None
    return max(
        covering,
        key=lambda h: (h.retained_until is None, h.retained_until or date.min, h.hold_id),
    )


def hold_state(hold: LegalHold, today: date) -> str:
    """``released``, ``lapsed`` (its date has passed), ``review overdue`` (an indefinite hold
    not reviewed by its date) or ``active``."""
    if hold.released_at is not None:
        return "released"
    if not hold.active_on(today):
        return "lapsed"
    if hold.review_on is not None and hold.review_on < today:
        return "review overdue"
    return "active"


@dataclass(frozen=True)
class HoldRelease:
    """A released hold and the open exceptions it was keeping (now due for re-erasure)."""

    hold: LegalHold
    now_due: list[RetainedException]


class LegalHolds:
    """Place, list, apply and release holds. One short transaction per call."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def place(
        self,
        *,
        subject_ref: str,
        legal_basis: str,
        reason: str,
        systems: Sequence[str] | None,
        retained_until: date | None,
        review_on: date | None,
        placed_by: str,
        at: datetime,
    ) -> LegalHold:
        check_retention(
            legal_basis=legal_basis,
            basis_note=reason,
            retained_until=retained_until,
            review_on=review_on,
        )
        if len(reason.strip()) > 500:
            raise LedgerError("a hold's reason is at most 500 characters (a case reference)")
        hold = LegalHold(
            hold_id=new_hold_id(),
            subject_ref=subject_ref,
            legal_basis=legal_basis,
            reason=reason.strip(),
            systems=sorted(set(systems)) if systems else None,
            retained_until=retained_until,
            review_on=review_on,
            placed_at=at,
            placed_by=placed_by,
        )
        async with self._ledger.session() as s, s.begin():
            s.add(hold)
        return hold

    async def get(self, hold_id: str) -> LegalHold | None:
        async with self._ledger.session() as s:
            return await s.get(LegalHold, hold_id)

    async def list_holds(
        self, *, include_released: bool = False, subject_ref: str | None = None
    ) -> list[LegalHold]:
        q = sa.select(LegalHold).order_by(LegalHold.placed_at, LegalHold.hold_id)
        if not include_released:
            q = q.where(LegalHold.released_at.is_(None))
        if subject_ref is not None:
            q = q.where(LegalHold.subject_ref == subject_ref)
        async with self._ledger.session() as s:
            return list((await s.scalars(q)).all())

    async def active_for(self, subject_ref: str, on: date) -> list[LegalHold]:
        return [h for h in await self.list_holds(subject_ref=subject_ref) if h.active_on(on)]

    async def apply(
        self, request_id: str, system: str, round_: int, hold: LegalHold, *, at: datetime
    ) -> SystemOutcomeRecord:
        """Record ``Retained`` for the system under the hold (no connector involved).

        Idempotent: a second call returns the recorded row and links nothing twice.
        """
        # The hold's reason is an operator's words: it stays with the hold. The outcome is
        # sealed into the append-only proof log, where nothing typed by a person may go.
        entry = OutcomeEntry(
            OutcomeKind.RETAINED,
            legal_basis=hold.legal_basis,
            basis_note=f"legal hold {hold.hold_id} (its reason is kept with the hold)",
            retained_until=hold.retained_until,
            review_on=hold.review_on,
            evidence={"hold_id": hold.hold_id, "connector_called": False},
        )
        row = await self._ledger.finish_system(request_id, system, round_, entry, at=at)
        hold_id = row.evidence.get("hold_id")
        if row.outcome != OutcomeKind.RETAINED or not isinstance(hold_id, str):
            return row  # this round was already decided otherwise; leave it as recorded
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            exc_id = await s.scalar(
                sa.select(RetainedException.id).where(RetainedException.outcome_id == row.id)
            )
            if exc_id is not None and await s.get(HoldRetention, exc_id) is None:
                s.add(HoldRetention(exception_id=exc_id, hold_id=hold_id))
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind="hold_applied",
                        write_key=f"hold_applied/{system}/{round_}",
                        actor=f"hold:{hold_id}",
                        detail={"system": system, "round": round_, "hold_id": hold_id},
                    )
                )
        return row

    async def release(
        self, hold_id: str, *, released_by: str, reason: str, at: datetime
    ) -> HoldRelease:
        """Release a hold; the open exceptions it caused become due for re-erasure."""
        if not reason.strip() or len(reason.strip()) > 500:
            raise LedgerError("releasing a hold needs a reason of at most 500 characters")
        async with self._ledger.session() as s, s.begin():
            hold = await s.get(LegalHold, hold_id, with_for_update=True)
            if hold is None:
                raise LedgerError(f"no legal hold with id {hold_id!r}")
            if hold.released_at is not None:
                raise LedgerError(
                    f"hold {hold_id} was already released on {hold.released_at:%Y-%m-%d}"
                )
            hold.released_at = at
            hold.released_by = released_by
            hold.release_reason = reason.strip()
            due = list(
                (
                    await s.scalars(
                        sa.select(RetainedException)
                        .join(HoldRetention, HoldRetention.exception_id == RetainedException.id)
                        .where(HoldRetention.hold_id == hold_id, RetainedException.state == "open")
                        .order_by(RetainedException.id)
                    )
                ).all()
            )
            for exc in due:
                s.add(
                    RequestEvent(
                        request_id=exc.request_id,
                        at=at,
                        kind="hold_released",
                        write_key=f"hold_released/{hold_id}/{exc.id}",
                        actor=released_by,
                        detail={"system": exc.system, "hold_id": hold_id, "reason": reason.strip()},
                    )
                )
        return HoldRelease(hold, due)
