"""The ledger on SQLite and PostgreSQL: requests, outcomes, exceptions, replays."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ledger import Ledger, LedgerError, OutcomeEntry, SubjectVault
from ledger.tables import ErasureRequestRecord, RetainedException

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


async def open_request(ledger: Ledger, request_id: str = "er-1", ref: str = "ps_1") -> None:
    assert ledger.vault is not None
    await ledger.open_request(
        request_id=request_id,
        subject_ref=ref,
        jurisdiction="gdpr",
        verification_method="operator",
        channel="cli",
        systems=["crm", "forum"],
        workflow_id=f"erasure/{request_id}",
        received_at=NOW,
        due_at=NOW + timedelta(days=28),
        sealed=ledger.vault.seal(request_id, {"email": "ada@example.org"}),
        actor="cli",
    )


async def test_request_round_trip_keeps_utc(ledger: Ledger) -> None:
    await open_request(ledger)
    rec = await ledger.require_request("er-1")
    assert rec.received_at == NOW and rec.received_at.tzinfo is not None
    assert rec.status == "received" and rec.systems == ["crm", "forum"]
    assert await ledger.read_identifiers("er-1") == ("ps_1", {"email": "ada@example.org"})
    assert [e.kind for e in await ledger.events("er-1")] == ["received"]
    with pytest.raises(LedgerError, match="no erasure request"):
        await ledger.require_request("er-404")


async def test_withdraw_removes_everything(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.withdraw_request("er-1")
    assert await ledger.get_request("er-1") is None
    with pytest.raises(LedgerError):
        await ledger.read_identifiers("er-1")


async def test_system_lifecycle_and_replay(ledger: Ledger) -> None:
    await open_request(ledger)
    start = await ledger.begin_system(
        "er-1", "crm", 0, connector="sql", connector_version="1", at=NOW
    )
    assert start.finished is None and not start.interrupted_before
    again = await ledger.begin_system(
        "er-1", "crm", 0, connector="sql", connector_version="1", at=NOW
    )
    assert again.interrupted_before and again.attempts == 2

    entry = OutcomeEntry(
        "retained",
        counts={"contacts.deleted": 1},
        retained_counts={"invoices.retained": 2},
        legal_basis="gdpr-17-3-b",
        basis_note="tax law",
        retained_until=date(2036, 1, 31),
    )
    rec = await ledger.finish_system("er-1", "crm", 0, entry, at=NOW)
    assert rec.outcome == "retained"
    replay = await ledger.begin_system(
        "er-1", "crm", 0, connector="sql", connector_version="1", at=NOW
    )
    assert replay.finished is not None and replay.finished.id == rec.id

    # Recording twice changes nothing and opens no second exception.
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("failed", error="late"), at=NOW)
    [row] = await ledger.outcomes("er-1")
    assert row.outcome == "retained" and row.error is None
    [exc] = await ledger.exceptions("er-1")
    assert (exc.legal_basis, exc.retained_until, exc.state) == (
        "gdpr-17-3-b",
        date(2036, 1, 31),
        "open",
    )


async def test_residual_turns_an_erasure_into_a_failure(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.begin_system("er-1", "forum", 0, connector="sql", connector_version="1", at=NOW)
    await ledger.finish_system("er-1", "forum", 0, OutcomeEntry("erased", counts={"u": 1}), at=NOW)
    await ledger.record_residual("er-1", "forum", 0, remaining={"posts.remaining": 2}, at=NOW)
    [row] = await ledger.outcomes("er-1")
    assert row.outcome == "failed" and "posts.remaining=2" in (row.error or "")


async def test_status_changes_are_events(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.set_status(
        "er-1", "erasing", at=NOW, actor="operator:kim", reason="passport seen", event="verified"
    )
    await ledger.set_status("er-1", "completed", at=NOW + timedelta(hours=1), actor="lethe")
    rec = await ledger.require_request("er-1")
    assert rec.verified_at == NOW and rec.completed_at == NOW + timedelta(hours=1)
    kinds = [(e.kind, e.actor) for e in await ledger.events("er-1")]
    assert kinds == [("received", "cli"), ("verified", "operator:kim"), ("completed", "lethe")]


async def test_list_filters(ledger: Ledger) -> None:
    await open_request(ledger, "er-1", "ps_a")
    await open_request(ledger, "er-2", "ps_b")
    await ledger.set_status("er-2", "completed", at=NOW, actor="lethe")
    assert [r.request_id for r in await ledger.list_requests(subject_ref="ps_a")] == ["er-1"]
    assert [r.request_id for r in await ledger.list_requests(statuses=["completed"])] == ["er-2"]
    assert len(await ledger.list_requests(limit=1)) == 1


async def test_the_ledger_holds_no_plaintext_identifier(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.begin_system("er-1", "crm", 0, connector="sql", connector_version="1", at=NOW)
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("erased", counts={"x": 1}), at=NOW)
    async with ledger.engine.connect() as conn:
        for table in (
            "erasure_requests",
            "subject_vault",
            "system_outcomes",
            "request_events",
            "retained_exceptions",
        ):
            rows = (await conn.execute(sa.text(f"SELECT * FROM {table}"))).all()
            assert "ada@example.org" not in repr(rows).lower(), table


async def test_retained_rows_all_have_basis_and_date(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.begin_system("er-1", "crm", 0, connector="sql", connector_version="1", at=NOW)
    await ledger.finish_system(
        "er-1",
        "crm",
        0,
        OutcomeEntry(
            "retained", legal_basis="contract", basis_note="n", review_on=date(2027, 1, 1)
        ),
        at=NOW,
    )
    async with ledger.session() as s:
        for exc in (await s.scalars(sa.select(RetainedException))).all():
            assert exc.legal_basis and (exc.retained_until or exc.review_on)
        assert (await s.scalar(sa.select(sa.func.count()).select_from(ErasureRequestRecord))) == 1


async def test_vault_key_mismatch_is_a_ledger_error(ledger: Ledger) -> None:
    await open_request(ledger)
    other = Ledger(ledger.engine, SubjectVault(secrets.token_bytes(32)))
    with pytest.raises(LedgerError, match="sealed under vault key"):
        await other.read_identifiers("er-1")


async def test_a_long_reason_fits_the_status_column(ledger: Ledger) -> None:
    """``lethe cancel`` takes a reason of 500 characters and the workflow prefixes it: on
    PostgreSQL the write failed, and the activity retried it for ever."""
    await open_request(ledger)
    reason = "withdrawn before verification: " + "x" * 500
    await ledger.set_status("er-1", "cancelled", at=NOW, actor="operator:kim", reason=reason)
    rec = await ledger.require_request("er-1")
    assert rec.status == "cancelled" and rec.status_reason == reason[:500]
    assert (await ledger.events("er-1"))[-1].detail["reason"] == reason
