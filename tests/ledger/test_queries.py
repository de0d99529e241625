"""Auditors' queries: each filter selects what it says, on both backends, through an index."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ledger import Ledger, OutcomeEntry, VaultShredding
from ledger.queries import (
    AuditFilter,
    audit_records,
    identifiers_shredded,
    list_requests,
    request_conditions,
    requests_of_subject,
)
from ledger.tables import ErasureRequestRecord
from tests.support.requests import ERASED, NOW, RETAINED, finished_request

LATER = NOW + timedelta(days=400)


async def seed(ledger: Ledger) -> None:
    """Five requests a day apart: er-0 (oldest) … er-4 (newest)."""
    short = OutcomeEntry(**{**RETAINED.__dict__, "retained_until": date(2026, 6, 1)})
    plans = [
        ("er-0", {"crm": RETAINED, "forum": ERASED}, "gdpr", timedelta(days=2)),
        ("er-1", {"forum": ERASED}, "ccpa", timedelta(days=50)),  # answered late
        ("er-2", {"crm": short}, "gdpr", timedelta(days=3)),
        ("er-3", {"forum": OutcomeEntry("failed", error="boom")}, "ccpa", timedelta(days=1)),
        ("er-4", {"newsletter": OutcomeEntry("not_found")}, "gdpr", timedelta(days=1)),
    ]
    for i, (rid, outcomes, law, took) in enumerate(plans):
        await finished_request(
            ledger,
            rid,
            outcomes,
            jurisdiction=law,
            received_at=NOW + timedelta(days=i),
            took=took,
        )
    # er-5: still open, and past due at LATER.
    await finished_request(ledger, "er-5", {"forum": ERASED}, received_at=NOW + timedelta(days=5))
    await ledger.set_status("er-5", "erasing", at=NOW, actor="x")
    async with ledger.session() as s, s.begin():
        rec = await s.get(ErasureRequestRecord, "er-5")
        assert rec is not None
        rec.completed_at = None


async def ids(ledger: Ledger, f: AuditFilter, now: datetime = LATER) -> list[str]:
    return [r.request_id for r in await list_requests(ledger, f, now=now, limit=100)]


async def test_each_filter_selects_what_it_says(ledger: Ledger) -> None:
    await seed(ledger)
    assert await ids(ledger, AuditFilter()) == [f"er-{i}" for i in (5, 4, 3, 2, 1, 0)]
    window = AuditFilter(
        received_from=NOW + timedelta(days=1), received_before=NOW + timedelta(days=3)
    )
    assert await ids(ledger, window) == ["er-2", "er-1"]
    assert await ids(ledger, AuditFilter(jurisdiction="ccpa")) == ["er-3", "er-1"]
    assert await ids(ledger, AuditFilter(system="crm")) == ["er-2", "er-0"]
    assert await ids(ledger, AuditFilter(outcome="failed")) == ["er-3"]
    assert await ids(ledger, AuditFilter(system="forum", outcome="erased")) == [
        "er-5",
        "er-1",
        "er-0",
    ]
    assert await ids(ledger, AuditFilter(system="crm", outcome="erased")) == []
    # er-3's only system failed: the request failed, not "partially".
    assert await ids(ledger, AuditFilter(status="failed")) == ["er-3"]
    assert await ids(ledger, AuditFilter(status="partially_failed")) == []
    # Late (er-1, answered after 50 days) and open past due (er-5).
    assert await ids(ledger, AuditFilter(overdue=True)) == ["er-5", "er-1"]
    assert await ids(ledger, AuditFilter(overdue=True), now=NOW) == ["er-1"]
    soon = AuditFilter(exceptions_expiring_before=date(2027, 1, 1))
    assert await ids(ledger, soon) == ["er-2"]
    combined = AuditFilter(jurisdiction="gdpr", system="crm", received_from=NOW + timedelta(days=1))
    assert await ids(ledger, combined) == ["er-2"]


async def test_an_exception_without_an_end_date_expires_by_its_review_date(
    ledger: Ledger,
) -> None:
    """A hold kept "indefinitely, reviewed on DATE" needs a decision by that date: an
    auditor asking what expires before a date must see it."""
    indefinite = OutcomeEntry(
        **{**RETAINED.__dict__, "retained_until": None, "review_on": date(2026, 9, 1)}
    )
    await finished_request(ledger, "er-hold", {"crm": indefinite})
    await finished_request(ledger, "er-dated", {"crm": RETAINED}, received_at=NOW + timedelta(1))
    assert await ids(ledger, AuditFilter(exceptions_expiring_before=date(2026, 9, 1))) == []
    assert await ids(ledger, AuditFilter(exceptions_expiring_before=date(2026, 9, 2))) == [
        "er-hold"
    ]
    assert await ids(ledger, AuditFilter(exceptions_expiring_before=date(2036, 2, 1))) == [
        "er-dated",
        "er-hold",
    ]


async def test_the_erasure_deadline_is_judged_by_when_every_system_was_done(
    ledger: Ledger,
) -> None:
    """Answered on time with a system failed, then erased by a retry after the due date: the
    answer met its deadline, the erasure did not."""
    await finished_request(
        ledger, "er-late", {"crm": OutcomeEntry("failed", error="boom"), "forum": ERASED}
    )
    await finished_request(ledger, "er-ok", received_at=NOW + timedelta(days=1))
    records = {
        r.request.request_id: r async for r in audit_records(ledger, AuditFilter(), now=LATER)
    }
    late, ok = records["er-late"], records["er-ok"]
    assert (late.deadline(), late.erasure_deadline()) == ("met", "open")
    assert (ok.deadline(), ok.erasure_deadline()) == ("met", "met")
    assert ok.to_dict()["erasure_deadline"] == "met"
    after_due = NOW + timedelta(days=60)
    await ledger.begin_system(
        "er-late", "crm", 1, connector="sql", connector_version="1", at=after_due
    )
    await ledger.finish_system("er-late", "crm", 1, ERASED, at=after_due)
    [late] = [
        r
        async for r in audit_records(ledger, AuditFilter(system="crm"), now=LATER)
        if r.request.request_id == "er-late"
    ]
    assert (late.deadline(), late.erasure_deadline()) == ("met", "missed")


async def test_records_page_through_everything_in_order(ledger: Ledger) -> None:
    await seed(ledger)
    records = [r async for r in audit_records(ledger, AuditFilter(), now=LATER, batch=2)]
    assert [r.request.request_id for r in records] == [f"er-{i}" for i in (5, 4, 3, 2, 1, 0)]
    by_id = {r.request.request_id: r for r in records}
    assert by_id["er-1"].deadline() == "missed" and by_id["er-0"].deadline() == "met"
    assert by_id["er-5"].deadline() == "open"
    assert [e.legal_basis for e in by_id["er-0"].exceptions] == ["gdpr-17-3-b"]
    assert [o.system for o in by_id["er-0"].outcomes] == ["crm", "forum"]


@pytest.mark.parametrize("from_matches", [True, False])
async def test_filtered_lists_use_the_indexes(sqlite_ledger: Ledger, from_matches: bool) -> None:
    """The query plan, not a stopwatch: each filter reaches its rows through an index,
    whether it is answered from the list of matches or probed per request."""
    cases = {
        "ix_system_outcomes_system_outcome_request": AuditFilter(system="crm", outcome="retained"),
        "ix_system_outcomes_outcome_request": AuditFilter(outcome="failed"),
        "ix_retained_exceptions_open_until": AuditFilter(
            exceptions_expiring_before=date(2030, 1, 1)
        ),
        "ix_erasure_requests_jurisdiction_received": AuditFilter(
            jurisdiction="gdpr", received_from=NOW
        ),
    }
    async with sqlite_ledger.engine.connect() as conn:
        for index, f in cases.items():
            where = request_conditions(f, now=datetime.now(UTC), from_matches=[from_matches])
            q = (
                sa.select(ErasureRequestRecord)
                .where(*where)
                .order_by(ErasureRequestRecord.received_at.desc())
                .limit(50)
            )
            sql = str(q.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(
                str(row[-1]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert index in plan, plan
            # Never a table scan: at most a walk along an index, newest first.
            assert not re.search(r"SCAN erasure_requests(?! USING)", plan), plan


async def test_a_person_s_requests_oldest_first_and_whether_they_are_shredded(
    ledger: Ledger,
) -> None:
    for i, rid in enumerate(("er-new", "er-old")):
        await finished_request(ledger, rid, received_at=NOW - timedelta(days=i))
    # finished_request names the person after the request: give both the same pseudonym.
    async with ledger.session() as s, s.begin():
        for rid in ("er-new", "er-old"):
            rec = await s.get(ErasureRequestRecord, rid)
            assert rec is not None
            rec.subject_ref = "ps_" + "a" * 32
    assert [r.request_id for r in await requests_of_subject(ledger, "ps_" + "a" * 32)] == [
        "er-old",
        "er-new",
    ]
    assert await requests_of_subject(ledger, "ps_" + "b" * 32) == []
    assert not await identifiers_shredded(ledger, "er-old")
    assert await VaultShredding(ledger).shred("er-old", at=NOW, actor="lethe", reason="test")
    assert await identifiers_shredded(ledger, "er-old")
    assert await identifiers_shredded(ledger, "er-none")  # no vault entry: nothing to read
