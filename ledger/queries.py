"""Auditors' questions, as queries: which requests, filtered how, and the record of each; a
person's requests, and whether a request's identifiers are shredded (a backup replay's).

Every filter is a condition the database answers from an index (``ledger.tables``):
a time range on ``received_at``, a law, a system and its outcome, open or late deadlines,
exceptions that expire before a date. Lists are newest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from vocabulary import FINAL_OUTCOMES, NOT_DONE

from .proof.certificate import deadline_state
from .store import Ledger
from .tables import (
    ErasureRequestRecord,
    RequestClock,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)

__all__ = [
    "ENDED_OUTCOMES",
    "AuditFilter",
    "AuditRecord",
    "audit_records",
    "identifiers_shredded",
    "latest_rounds",
    "list_requests",
    "request_conditions",
    "requests_of_subject",
    "systems_done_at",
]

#: A system's round ended with one of these (``failed`` and ``not_searched`` wait for a retry;
#: ``pending`` and ``in_progress`` are still under way).
ENDED_OUTCOMES = FINAL_OUTCOMES - NOT_DONE


def latest_rounds(outcomes: Sequence[SystemOutcomeRecord]) -> dict[str, SystemOutcomeRecord]:
    """Each system's outcome in its latest round: what stands now."""
    latest: dict[str, SystemOutcomeRecord] = {}
    for o in outcomes:
        if o.system not in latest or o.round > latest[o.system].round:
            latest[o.system] = o
    return latest


def systems_done_at(outcomes: Sequence[SystemOutcomeRecord]) -> datetime | None:
    """When every system's latest round had ended (none failed, none under way), or None.

    The answer can be on time while a failed system is erased by a retry weeks later: this is
    the date the erasure itself was done, which the answer's date does not show."""
    latest = latest_rounds(outcomes)
    done = [o.finished_at for o in latest.values() if o.outcome in ENDED_OUTCOMES]
    if not latest or len(done) < len(latest) or any(d is None for d in done):
        return None
    return max(d for d in done if d is not None)


@dataclass(frozen=True)
class AuditFilter:
    """What to select. Empty means everything. Times are UTC-aware."""

    received_from: datetime | None = None  # inclusive
    received_before: datetime | None = None  # exclusive
    system: str | None = None
    outcome: str | None = None  # a system's outcome in its latest round (of ``system``, if given)
    jurisdiction: str | None = None
    status: str | None = None
    overdue: bool = False  # open past its due date, or answered after it
    #: An open exception kept until before this date, or with no end date, reviewed before it.
    exceptions_expiring_before: date | None = None


#: Below this many matching rows, a semi-join is answered from the list of matches; above
#: it, by walking requests newest first and stopping at the page's end. (SQLite has no
#: statistics to choose by itself; PostgreSQL plans both forms alike.)
_FEW_MATCHES = 5000

_SemiJoin = tuple[type[SystemOutcomeRecord] | type[RetainedException], list[Any]]


def _semi_joins(f: AuditFilter, *, latest: bool = True) -> list[_SemiJoin]:
    """Filters on rows of other tables that belong to the request. ``latest=False`` leaves
    out the check that an outcome is its system's latest (enough to count candidates)."""
    joins: list[_SemiJoin] = []
    if f.system is not None or f.outcome is not None:
        o = SystemOutcomeRecord
        conds = [o.system == f.system] if f.system is not None else []
        if f.outcome is not None:
            conds.append(o.outcome == f.outcome)
        if f.outcome is not None and latest:
            # What stands now: a system failed in round 0 and erased by a retry did not fail.
            later = aliased(SystemOutcomeRecord)
            conds.append(
                ~sa.exists()
                .where(
                    later.request_id == o.request_id,
                    later.system == o.system,
                    later.round > o.round,
                )
                .correlate(o)
            )
        joins.append((o, conds))
    if f.exceptions_expiring_before is not None:
        # Kept until a date before it, or kept with no end date and due for review before it
        # (an exception has exactly one of the two): someone must act on the data by then.
        e, before = RetainedException, f.exceptions_expiring_before
        ends_or_reviewed = sa.or_(e.retained_until < before, e.review_on < before)
        joins.append((e, [e.state == "open", ends_or_reviewed]))
    return joins


def request_conditions(
    f: AuditFilter, *, now: datetime, from_matches: Sequence[bool] = ()
) -> list[sa.ColumnElement[bool]]:
    """The filter as WHERE conditions on ``erasure_requests``.

    ``from_matches[i]`` answers the i-th semi-join (system/outcome, then exceptions) with
    ``request_id IN (matches)``; otherwise it is a correlated ``EXISTS``.
    """
    r = ErasureRequestRecord
    conds: list[sa.ColumnElement[bool]] = []
    if f.received_from is not None:
        conds.append(r.received_at >= f.received_from)
    if f.received_before is not None:
        conds.append(r.received_at < f.received_before)
    if f.jurisdiction is not None:
        conds.append(r.jurisdiction == f.jurisdiction)
    if f.status is not None:
        conds.append(r.status == f.status)
    if f.overdue:
        conds.append(
            sa.or_(
                sa.and_(r.completed_at.is_(None), r.due_at < now),
                r.completed_at > r.due_at,
            )
        )
    for i, (model, where) in enumerate(_semi_joins(f)):
        if i < len(from_matches) and from_matches[i]:
            conds.append(r.request_id.in_(sa.select(model.request_id).where(*where)))
        else:
            conds.append(sa.exists().where(model.request_id == r.request_id, *where))
    return conds


_NEWEST_FIRST = (ErasureRequestRecord.received_at.desc(), ErasureRequestRecord.request_id.desc())


async def list_requests(
    ledger: Ledger, f: AuditFilter, *, now: datetime, limit: int = 50
) -> list[ErasureRequestRecord]:
    """The ``limit`` newest requests that match."""
    async with ledger.session() as s:
        from_matches = []
        for model, where in _semi_joins(f, latest=False):  # later rounds are rare
            few = sa.select(model.request_id).where(*where).limit(_FEW_MATCHES).subquery()
            n = await s.scalar(sa.select(sa.func.count()).select_from(few))
            from_matches.append((n or 0) < _FEW_MATCHES)
        q = (
            sa.select(ErasureRequestRecord)
            .where(*request_conditions(f, now=now, from_matches=from_matches))
            .order_by(*_NEWEST_FIRST)
            .limit(limit)
        )
        return list((await s.scalars(q)).all())


@dataclass(frozen=True)
class AuditRecord:
    """One request as a record keeper sees it (CCPA regulations §7101)."""

    request: ErasureRequestRecord
    outcomes: Sequence[SystemOutcomeRecord]
    exceptions: Sequence[RetainedException]
    clock: RequestClock | None = None  # acknowledgement, original deadline, extension

    def latest_outcomes(self) -> dict[str, SystemOutcomeRecord]:
        """Each system's outcome in its latest round: what stands now."""
        return latest_rounds(self.outcomes)

    def deadline(self) -> str:
        """The answer: ``met``, ``missed`` or ``open`` (not answered yet)."""
        return deadline_state(self.request.due_at, self.request.completed_at)

    def erasure_deadline(self) -> str | None:
        """The erasure itself: ``met`` if every system had ended by the due date, ``missed``
        if the last one ended later (a retry after the answer), ``open`` while one has not;
        None when nothing was to be erased (rejected, cancelled)."""
        if not self.outcomes:
            return None
        return deadline_state(self.request.due_at, systems_done_at(self.outcomes))

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "request_id": r.request_id,
            "jurisdiction": r.jurisdiction,
            "channel": r.channel,
            "status": r.status,
            "received_at": r.received_at.isoformat(),
            "due_at": r.due_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "deadline": self.deadline(),
            "erasure_deadline": self.erasure_deadline(),
        }


async def audit_records(
    ledger: Ledger, f: AuditFilter, *, now: datetime, batch: int = 500
) -> AsyncIterator[AuditRecord]:
    """Every selected request with its outcomes and exceptions, newest first, a page at a
    time (keyset pagination: each page is an index range scan, however deep the export)."""
    r = ErasureRequestRecord
    after: tuple[datetime, str] | None = None
    conds = request_conditions(f, now=now)  # EXISTS: every page is a short index walk
    while True:
        q = sa.select(r).where(*conds).order_by(*_NEWEST_FIRST).limit(batch)
        if after is not None:
            q = q.where(
                r.received_at <= after[0],
                sa.or_(r.received_at < after[0], r.request_id < after[1]),
            )
        async with ledger.session() as s:
            page = list((await s.scalars(q)).all())
            if not page:
                return
            ids = [x.request_id for x in page]
            outcomes: dict[str, list[SystemOutcomeRecord]] = {i: [] for i in ids}
            for o in await s.scalars(
                sa.select(SystemOutcomeRecord)
                .where(SystemOutcomeRecord.request_id.in_(ids))
                .order_by(SystemOutcomeRecord.round, SystemOutcomeRecord.system)
            ):
                outcomes[o.request_id].append(o)
            exceptions: dict[str, list[RetainedException]] = {i: [] for i in ids}
            for e in await s.scalars(
                sa.select(RetainedException)
                .where(RetainedException.request_id.in_(ids))
                .order_by(RetainedException.id)
            ):
                exceptions[e.request_id].append(e)
            clocks = {
                c.request_id: c
                for c in await s.scalars(
                    sa.select(RequestClock).where(RequestClock.request_id.in_(ids))
                )
            }
        for x in page:
            yield AuditRecord(
                x, outcomes[x.request_id], exceptions[x.request_id], clocks.get(x.request_id)
            )
        after = (page[-1].received_at, page[-1].request_id)


async def requests_of_subject(ledger: Ledger, subject_ref: str) -> list[ErasureRequestRecord]:
    """Every request of one person (by pseudonym), oldest first: the ledger's pseudonyms are
    the tombstones a restored backup is checked against."""
    q = (
        sa.select(ErasureRequestRecord)
        .where(ErasureRequestRecord.subject_ref == subject_ref)
        .order_by(ErasureRequestRecord.received_at)
    )
    async with ledger.session() as s:
        return list((await s.scalars(q)).all())


async def identifiers_shredded(ledger: Ledger, request_id: str) -> bool:
    """Whether the request's identifiers can no longer be read: its vault key is destroyed
    (or it never had a vault entry)."""
    async with ledger.session() as s:
        entry = await s.get(SubjectVaultEntry, request_id)
    return entry is None or entry.wrapped_key is None
