"""Verification evidence and the request clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ledger import (
    DeadlineRecords,
    DeadlineTerms,
    IdentityRecords,
    Ledger,
    LedgerError,
    PortalAssertionRecord,
    RequestClock,
    VerificationCode,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def open_request(ledger: Ledger, rid: str, *, due: datetime | None = None) -> None:
    assert ledger.vault is not None
    due = due or NOW + timedelta(days=31)
    await ledger.open_request(
        request_id=rid,
        subject_ref=f"ps_{rid}",
        jurisdiction="gdpr",
        verification_method="email",
        channel="cli",
        systems=["crm"],
        workflow_id=f"erasure/{rid}",
        received_at=NOW,
        due_at=due,
        sealed=ledger.vault.seal(rid, {"email": "ada@example.org"}),
        actor="cli",
    )
    await DeadlineRecords(ledger).open_clock(
        rid,
        DeadlineTerms(
            timezone="UTC",
            answer_rule="gdpr",
            due_at=due,
            acknowledge_by=NOW + timedelta(hours=24),
            acknowledge_rule="policy",
            extension_limit=NOW + timedelta(days=45),
            no_extension_because=None,
        ),
    )


async def issued(ledger: Ledger, rid: str, code: str, *, limit: int = 5) -> IdentityRecords:
    ids = IdentityRecords(ledger)
    assert await ids.issue_code(
        rid, code, at=NOW, expires_at=NOW + timedelta(hours=72), attempt_limit=limit
    )
    await ids.mark_code_sent(rid, at=NOW)
    return ids


async def kinds(ledger: Ledger, rid: str) -> list[tuple[str, object]]:
    return [(e.kind, e.detail.get("outcome")) for e in await ledger.events(rid)]


async def test_only_a_keyed_hash_of_the_code_is_kept(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    await issued(ledger, "er-1", "12345678")
    async with ledger.session() as s:
        rows = (await s.execute(sa.select(VerificationCode))).scalars().all()
        dumped = repr([(r.code_hash, r.salt) for r in rows])
    assert "12345678" not in dumped and len(rows[0].code_hash) == 64
    # Another vault key, another hash: the hash cannot be checked without the key.
    assert rows[0].code_hash != IdentityRecords(ledger)._hash("er-1", rows[0].salt, "12345679")


async def test_right_code_once_then_replays_are_refused(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    ids = await issued(ledger, "er-1", "12345678")
    later = NOW + timedelta(hours=1)
    first = await ids.check_code("er-1", "12345678", at=later, actor="operator:kim")
    again = await ids.check_code("er-1", "12345678", at=later, actor="operator:kim")
    assert (first.outcome, again.outcome) == ("accepted", "used")
    assert (await kinds(ledger, "er-1"))[-3:] == [
        ("verification_code_sent", None),
        ("verification_code_accepted", "accepted"),
        ("verification_code_refused", "used"),
    ]


async def test_five_wrong_codes_lock_and_then_even_the_right_one_is_refused(
    ledger: Ledger,
) -> None:
    await open_request(ledger, "er-1")
    ids = await issued(ledger, "er-1", "12345678")
    at = NOW + timedelta(minutes=5)
    results = [await ids.check_code("er-1", f"0000000{i}", at=at, actor="op") for i in range(5)]
    assert [r.outcome for r in results] == ["wrong_code"] * 4 + ["locked"]
    assert [r.attempts_left for r in results] == [4, 3, 2, 1, 0]
    locked = await ids.check_code("er-1", "12345678", at=at, actor="op")
    assert locked.outcome == "locked" and not locked.accepted
    row = await ids.code("er-1")
    assert row is not None and row.locked_at == at and row.used_at is None and row.attempts == 5


async def test_expired_codes_and_codes_never_sent(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    await open_request(ledger, "er-2")
    ids = await issued(ledger, "er-1", "12345678")
    expired = await ids.check_code("er-1", "12345678", at=NOW + timedelta(hours=72), actor="op")
    assert expired.outcome == "expired"
    assert (await ids.check_code("er-2", "12345678", at=NOW, actor="op")).outcome == "no_code"


async def test_a_code_for_another_request_is_a_wrong_code_and_leaves_that_one_intact(
    ledger: Ledger,
) -> None:
    await open_request(ledger, "er-1")
    await open_request(ledger, "er-2")
    ids = await issued(ledger, "er-1", "11111111")
    await issued(ledger, "er-2", "22222222")
    crossed = await ids.check_code("er-1", "22222222", at=NOW, actor="op")
    assert crossed.outcome == "wrong_code" and crossed.attempts == 1
    assert (await ids.check_code("er-2", "22222222", at=NOW, actor="op")).accepted


async def test_concurrent_checks_accept_a_code_once(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    ids = await issued(ledger, "er-1", "12345678")
    results = await asyncio.gather(
        *(ids.check_code("er-1", "12345678", at=NOW, actor="op") for _ in range(4))
    )
    assert sorted(r.outcome for r in results) == ["accepted", "used", "used", "used"]


async def test_a_retried_send_does_not_replace_a_code_already_sent(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    ids = IdentityRecords(ledger)
    kw = {"at": NOW, "expires_at": NOW + timedelta(hours=1), "attempt_limit": 5}
    assert await ids.issue_code("er-1", "11111111", **kw)  # type: ignore[arg-type]
    assert await ids.issue_code("er-1", "22222222", **kw)  # type: ignore[arg-type]  # unsent
    await ids.mark_code_sent("er-1", at=NOW)
    assert not await ids.issue_code("er-1", "33333333", **kw)  # type: ignore[arg-type]
    assert (await ids.check_code("er-1", "22222222", at=NOW, actor="op")).accepted


async def test_an_assertion_nonce_opens_one_request_only(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    await open_request(ledger, "er-2")
    ids = IdentityRecords(ledger)
    kw = {
        "nonce": "n" * 24,
        "issuer": "portal",
        "key_id": "k1",
        "methods": ["pwd"],
        "issued_at": NOW,
        "expires_at": NOW + timedelta(minutes=5),
        "at": NOW,
    }
    await ids.record_assertion("er-1", **kw)  # type: ignore[arg-type]
    assert await ids.nonce_seen("n" * 24)
    try:
        await ids.record_assertion("er-2", **kw)  # type: ignore[arg-type]
    except LedgerError as exc:
        assert "already used" in str(exc)
    else:
        raise AssertionError("a spent nonce was accepted again")
    assert (await ids.assertion_for("er-1")) is not None
    assert await ids.assertion_for("er-2") is None


async def test_acknowledgement_reminder_and_escalation_are_recorded_once(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    clock = DeadlineRecords(ledger)
    due = NOW + timedelta(days=31)
    assert await clock.mark_acknowledged("er-1", at=NOW + timedelta(hours=1), how="receipt mail")
    assert not await clock.mark_acknowledged("er-1", at=NOW + timedelta(hours=2), how="again")
    # Acknowledged in time: the escalation is not recorded.
    await clock.record_deadline_event(
        "er-1", "acknowledgement_overdue", at=NOW + timedelta(days=1), due=NOW + timedelta(days=1)
    )
    for _ in range(2):  # a retried activity records once
        await clock.record_deadline_event("er-1", "deadline_reminder", at=due, due=due)
        await clock.record_deadline_event("er-1", "deadline_overdue", at=due, due=due)
    events = [e.kind for e in await ledger.events("er-1")]
    assert events.count("acknowledged") == 1 and "acknowledgement_overdue" not in events
    assert events.count("deadline_reminder") == 1 and events.count("deadline_overdue") == 1
    row = await clock.clock("er-1")
    assert row is not None and row.overdue_at == due and row.reminded_at == due


async def test_extension_moves_the_deadline_once_and_old_timers_stay_quiet(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    clock = DeadlineRecords(ledger)
    old, new = NOW + timedelta(days=31), NOW + timedelta(days=45)
    assert await clock.extend("er-1", new_due=new, reason="complex", actor="kim", at=NOW) == old
    # The same extension recorded again (a retry) is fine; another is refused.
    await clock.extend("er-1", new_due=new, reason="complex", actor="kim", at=NOW)
    try:
        await clock.extend("er-1", new_due=new + timedelta(days=1), reason="x", actor="k", at=NOW)
    except LedgerError as exc:
        assert "already extended" in str(exc)
    else:
        raise AssertionError("a second extension was accepted")
    rec = await ledger.require_request("er-1")
    assert rec.due_at == new
    # A timer set for the old deadline fires: nothing is recorded, the new date comes back.
    assert await clock.record_deadline_event("er-1", "deadline_overdue", at=old, due=old) == new
    events = [(e.kind, e.detail) for e in await ledger.events("er-1")]
    assert (
        "deadline_extended",
        {"from": old.isoformat(), "to": new.isoformat(), "reason": "complex"},
    ) in events
    assert "deadline_overdue" not in [k for k, _ in events]


async def test_overdue_and_due_within(ledger: Ledger) -> None:
    now = NOW + timedelta(days=20)
    await open_request(ledger, "er-late", due=now - timedelta(days=1))
    await open_request(ledger, "er-soon", due=now + timedelta(days=3))
    await open_request(ledger, "er-far", due=now + timedelta(days=30))
    await open_request(ledger, "er-done", due=now - timedelta(days=2))
    await ledger.set_status("er-done", "completed", at=now, actor="lethe")
    clock = DeadlineRecords(ledger)

    async def ids(**kw: object) -> list[str]:
        return [r.request_id for r in await clock.due_requests(now=now, **kw)]  # type: ignore[arg-type]

    assert await ids(overdue=True) == ["er-late"]
    assert await ids(within=timedelta(days=7)) == ["er-soon"]
    assert await ids(overdue=True, within=timedelta(days=7)) == ["er-late", "er-soon"]


async def test_withdrawing_a_request_takes_its_clock_and_evidence_along(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    await issued(ledger, "er-1", "12345678")
    await IdentityRecords(ledger).record_assertion(
        "er-1",
        nonce="n" * 24,
        issuer="portal",
        key_id="k1",
        methods=[],
        issued_at=NOW,
        expires_at=NOW,
        at=NOW,
    )
    await ledger.withdraw_request("er-1")
    async with ledger.session() as s:
        for model in (RequestClock, VerificationCode, PortalAssertionRecord):
            assert (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar() == 0


async def test_concurrent_extensions_move_the_deadline_once(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    clock = DeadlineRecords(ledger)
    results = await asyncio.gather(
        *(
            clock.extend(
                "er-1",
                new_due=NOW + timedelta(days=40 + i),
                reason=f"reason {i}",
                actor="kim",
                at=NOW,
            )
            for i in range(3)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, LedgerError) for r in results if isinstance(r, Exception))
    events = [e.kind for e in await ledger.events("er-1")]
    assert events.count("deadline_extended") == 1
