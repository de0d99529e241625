"""Legal holds, placed and released by an operator: by pseudonym only (an address given is
turned into the pseudonym and never stored), on configured systems, with a date it lapses or
is reviewed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ledger import ErasureRequestRecord, HoldRelease, LedgerError, LegalHold, LegalHolds
from vocabulary import OPEN_STATUSES

from ..errors import LetheError, NotFoundError
from ..free_text import PersonText, Rewritten
from ..pseudonym import Pseudonymizer
from ..runtime import Runtime
from .lookups import systems_among

__all__ = ["HoldOrder", "PlacedHold", "list_holds", "place_hold", "release_hold"]


@dataclass(frozen=True)
class HoldOrder:
    """A hold as an operator asks for it: the person by address or by pseudonym (one of
    them), a legal basis code, why, the systems (None: all), and when it lapses or (when
    neither is given) is reviewed, by default ``[retention] hold_review_days`` from today."""

    legal_basis: str
    reason: str
    operator: str
    email: str | None = None
    subject_ref: str | None = None
    systems: Sequence[str] | None = None
    retained_until: date | None = None
    review_on: date | None = None


@dataclass(frozen=True)
class PlacedHold:
    hold: LegalHold
    #: The person's requests still open: erasing ones were planned before the hold (it applies
    #: to their later rounds); the others are held when verified.
    open_requests: list[ErasureRequestRecord]


async def place_hold(
    rt: Runtime, order: HoldOrder, *, rewritten: Rewritten | None = None
) -> PlacedHold:
    held = (
        systems_among(order.systems, list(rt.settings.systems), what="configured systems")
        if order.systems is not None
        else None
    )
    review = order.review_on
    if order.retained_until is None and review is None:
        review = datetime.now(UTC).date() + timedelta(days=rt.settings.retention.hold_review_days)
    ref = order.subject_ref or Pseudonymizer(rt.keys.pseudonym).subject_ref(order.email or "")
    person = await PersonText.for_pseudonym(rt.ledger, ref, email=order.email)
    why, by = person.kept(order.reason, order.operator, rewritten=rewritten)
    placed = await LegalHolds(rt.ledger).place(
        subject_ref=ref,
        legal_basis=order.legal_basis,
        reason=why,
        systems=held,
        retained_until=order.retained_until,
        review_on=review,
        placed_by=f"operator:{by}",
        at=datetime.now(UTC),
    )
    running = await rt.ledger.list_requests(subject_ref=ref, statuses=sorted(OPEN_STATUSES))
    return PlacedHold(placed, running)


async def list_holds(rt: Runtime, *, include_released: bool) -> list[LegalHold]:
    return await LegalHolds(rt.ledger).list_holds(include_released=include_released)


async def release_hold(
    rt: Runtime, hold_id: str, reason: str, operator: str, *, rewritten: Rewritten | None = None
) -> HoldRelease:
    """Release a hold; what it kept in finished requests is now due for erasure (the next
    sweep erases it)."""
    holds = LegalHolds(rt.ledger)
    found = await holds.get(hold_id)
    if found is None:
        raise NotFoundError(f"no legal hold with id {hold_id!r}")
    person = await PersonText.for_pseudonym(rt.ledger, found.subject_ref)
    why, by = person.kept(reason, operator, rewritten=rewritten)
    try:
        return await holds.release(
            hold_id, released_by=f"operator:{by}", reason=why, at=datetime.now(UTC)
        )
    except LedgerError as exc:
        raise LetheError(str(exc)) from None
