"""Later rounds in the ledger: what is due, round numbers, settling earlier exceptions."""

from __future__ import annotations

from datetime import date, timedelta

from ledger import ErasureRounds, Ledger, LegalHolds, OutcomeEntry

from .test_store import NOW, open_request

TODAY = NOW.date()
LATER = NOW + timedelta(days=1)  # a sweep a day after the rounds were recorded


def kept(until: date | None = None, review: date | None = None) -> OutcomeEntry:
    return OutcomeEntry(
        "retained",
        legal_basis="backup-rotation",
        basis_note="copies kept beyond use",
        retained_until=until,
        review_on=review,
    )


async def finished(ledger: Ledger, request_id: str, ref: str = "ps_1") -> None:
    await open_request(ledger, request_id, ref)
    await ledger.set_status(request_id, "completed_with_exceptions", at=NOW, actor="lethe")


async def test_what_is_due_and_why(ledger: Ledger) -> None:
    rounds, holds = ErasureRounds(ledger), LegalHolds(ledger)
    await finished(ledger, "er-1")
    await ledger.finish_system("er-1", "crm", 0, kept(until=TODAY - timedelta(days=1)), at=NOW)
    await ledger.finish_system("er-1", "forum", 0, kept(until=LATER.date()), at=NOW)  # kept today
    await finished(ledger, "er-2", "ps_2")
    await ledger.finish_system("er-2", "crm", 0, kept(review=LATER.date()), at=NOW)
    hold = await holds.place(
        subject_ref="ps_2",
        legal_basis="legal-hold",
        reason="litigation",
        systems=["forum"],
        retained_until=None,
        review_on=TODAY - timedelta(days=10),  # review overdue: still not due while active
        placed_by="operator:kim",
        at=NOW,
    )
    await holds.apply("er-2", "forum", 0, hold, at=NOW)
    await open_request(ledger, "er-3", "ps_3")  # still running: never due
    await ledger.finish_system("er-3", "crm", 0, kept(until=TODAY - timedelta(days=9)), at=NOW)

    # A round recorded minutes ago is not asked again at once, even if its date has passed.
    assert await rounds.due(NOW + timedelta(hours=1)) == []
    due = {(d.request_id, d.system): d for d in await rounds.due(LATER)}
    assert set(due) == {("er-1", "crm"), ("er-2", "crm")}
    assert (due["er-1", "crm"].trigger, due["er-1", "crm"].round) == ("retention_expired", 1)
    assert due["er-2", "crm"].trigger == "review_due" and due["er-2", "crm"].subject_ref == "ps_2"

    await holds.release(hold.hold_id, released_by="operator:kim", reason="settled", at=NOW)
    due = {(d.request_id, d.system): d for d in await rounds.due(LATER)}
    assert due["er-2", "forum"].trigger == "hold_released"
    assert hold.hold_id in due["er-2", "forum"].reason

    # A round under way takes the system out of the sweep.
    await rounds.open_round(
        request_id="er-1",
        system="crm",
        round_=1,
        trigger="retention_expired",
        actor="sweeper",
        reason="r",
        exception_id=due["er-1", "crm"].exception_id,
        workflow_id="w",
        at=NOW,
    )
    assert ("er-1", "crm") not in {(d.request_id, d.system) for d in await rounds.due(LATER)}
    assert await rounds.next_round("er-1", "crm") == 1  # resume it, not a new one
    assert len(await rounds.due(LATER, limit=1)) == 1


async def test_closing_a_round_settles_earlier_exceptions(ledger: Ledger) -> None:
    rounds = ErasureRounds(ledger)
    await finished(ledger, "er-1")
    await ledger.finish_system("er-1", "backups", 0, kept(until=TODAY - timedelta(days=1)), at=NOW)
    await ledger.finish_system("er-1", "forum", 0, OutcomeEntry("erased"), at=NOW)
    assert await rounds.next_round("er-1", "backups") == 1
    await rounds.open_round(
        request_id="er-1",
        system="backups",
        round_=1,
        trigger="retention_expired",
        actor="sweeper",
        reason="retained until yesterday",
        exception_id=None,
        workflow_id="erasure/er-1/round/backups/1",
        at=NOW,
    )
    again = await rounds.open_round(
        request_id="er-1",
        system="backups",
        round_=1,
        trigger="retention_expired",
        actor="sweeper",
        reason="retained until yesterday",
        exception_id=None,
        workflow_id="erasure/er-1/round/backups/1",
        at=NOW,
    )
    assert again.round == 1
    # Still retained (a newer copy): the old exception is superseded, a new one is open.
    await ledger.finish_system("er-1", "backups", 1, kept(until=TODAY + timedelta(days=30)), at=NOW)
    latest = await rounds.close_round("er-1", "backups", 1, at=NOW)
    assert latest == {"backups": "retained", "forum": "erased"}
    states = [(e.state, e.retained_until) for e in await ledger.exceptions("er-1")]
    assert states == [
        ("superseded", TODAY - timedelta(days=1)),
        ("open", TODAY + timedelta(days=30)),
    ]
    [r1] = await rounds.rounds("er-1")
    assert r1.finished_at == NOW and r1.outcome == "retained"

    # Round 2: the copies are gone. The exception of round 1 is resolved.
    await ledger.finish_system("er-1", "backups", 2, OutcomeEntry("not_found"), at=NOW)
    assert await rounds.close_round("er-1", "backups", 2, at=NOW) == {
        "backups": "not_found",
        "forum": "erased",
    }
    assert [e.state for e in await ledger.exceptions("er-1")] == ["superseded", "resolved"]
    kinds = [e.kind for e in await ledger.events("er-1")]
    assert kinds.count("round_started") == 1
    assert "exception_superseded" in kinds and "exception_resolved" in kinds

    await rounds.set_status_after_round(
        "er-1", at=NOW + timedelta(days=40), actor="lethe", detail={"round": 2}
    )
    rec = await ledger.require_request("er-1")
    assert rec.status == "completed" and rec.completed_at == NOW  # answered when it was


async def test_round_numbers_follow_the_ledger(ledger: Ledger) -> None:
    rounds = ErasureRounds(ledger)
    await finished(ledger, "er-1")
    assert await rounds.next_round("er-1", "crm") == 0
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("failed", error="down"), at=NOW)
    await ledger.finish_system("er-1", "crm", 1, OutcomeEntry("erased"), at=NOW)
    assert await rounds.next_round("er-1", "crm") == 2
    assert await rounds.next_round("er-1", "forum") == 0
