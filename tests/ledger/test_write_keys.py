"""A ledger write made twice with the same key (a retried activity) appends one event and
changes nothing the second time, on SQLite and PostgreSQL; a new key is a new write."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError

from ledger import (
    ControllerReferrals,
    DeadlineRecords,
    DeadlineTerms,
    ErasureRounds,
    IdentityRecords,
    Ledger,
    LegalHolds,
    OutcomeEntry,
    ProofLeaf,
    ProofLog,
    RequestEvent,
    RequestStatuses,
    TreeHeadSigner,
    VaultShredding,
)

from .test_store import NOW, open_request

LATER = NOW + timedelta(hours=1)


async def kinds(ledger: Ledger, request_id: str = "er-1") -> Counter[str]:
    return Counter(e.kind for e in await ledger.events(request_id))


async def test_the_database_refuses_a_second_event_with_one_key(ledger: Ledger) -> None:
    await open_request(ledger, "er-1")
    await open_request(ledger, "er-2", ref="ps_2")

    def event(request_id: str, key: str | None) -> RequestEvent:
        return RequestEvent(
            request_id=request_id, at=NOW, kind="note", actor="t", detail={}, write_key=key
        )

    async with ledger.session() as s, s.begin():
        # NULL keys repeat; one key in two requests is two writes.
        s.add_all(
            [event("er-1", None), event("er-1", None), event("er-1", "k"), event("er-2", "k")]
        )
    with pytest.raises(IntegrityError):
        async with ledger.session() as s, s.begin():
            s.add(event("er-1", "k"))


async def test_status_changes_and_the_answer_are_written_once(ledger: Ledger) -> None:
    await open_request(ledger)
    for _ in range(2):
        await ledger.set_status(
            "er-1", "erasing", at=NOW, actor="op", event="verified", write_key="a/1"
        )
    rec = await ledger.require_request("er-1")
    assert rec.verified_at == NOW
    # Another write of the same status is another event (its own key).
    await ledger.set_status("er-1", "erasing", at=LATER, actor="op", write_key="a/2")
    assert (await kinds(ledger))["verified"] == 1 and (await kinds(ledger))["erasing"] == 1
    assert (await ledger.require_request("er-1")).verified_at == NOW

    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("erased"), at=NOW)
    await ledger.finish_system("er-1", "forum", 0, OutcomeEntry("erased"), at=NOW)
    statuses = RequestStatuses(ledger)
    assert await statuses.answer("er-1", at=NOW, actor="lethe") == "completed"
    # A later round fails crm meanwhile: the repeated answer still answers what was written.
    await ledger.finish_system("er-1", "crm", 1, OutcomeEntry("failed"), at=LATER)
    assert await statuses.answer("er-1", at=LATER, actor="lethe") == "completed"
    # A final status from the other writer (the status activity) is an answer too.
    await ledger.set_status("er-1", "completed", at=LATER, actor="lethe", write_key="a/3")
    rec = await ledger.require_request("er-1")
    assert rec.completed_at == NOW and rec.status == "completed"
    assert (await kinds(ledger))["completed"] == 1


async def test_a_status_after_a_round_is_written_once_per_key(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("failed"), at=NOW)
    await ledger.finish_system("er-1", "forum", 0, OutcomeEntry("erased"), at=NOW)
    await RequestStatuses(ledger).answer("er-1", at=NOW, actor="lethe")
    rounds = ErasureRounds(ledger)
    await ledger.finish_system("er-1", "crm", 1, OutcomeEntry("erased"), at=LATER)
    first = await rounds.set_status_after_round(
        "er-1", at=LATER, actor="lethe", detail={"round": 1}, write_key="r/1"
    )
    # Between the two attempts a later round changes the outcome: the repeat answers the first.
    await ledger.finish_system("er-1", "crm", 2, OutcomeEntry("failed"), at=LATER)
    again = await rounds.set_status_after_round(
        "er-1", at=LATER, actor="lethe", detail={"round": 1}, write_key="r/1"
    )
    assert first == again == "completed"
    assert (await kinds(ledger))["status_after_round"] == 1


async def test_a_retried_code_check_counts_once_and_a_new_try_counts(ledger: Ledger) -> None:
    await open_request(ledger)
    ids = IdentityRecords(ledger)
    assert await ids.issue_code(
        "er-1", "12345678", at=NOW, expires_at=NOW + timedelta(days=1), attempt_limit=3
    )
    await ids.mark_code_sent("er-1", at=NOW)
    await ids.mark_code_sent("er-1", at=LATER)
    first = await ids.check_code("er-1", "00000000", at=NOW, actor="op", write_key="c/1")
    again = await ids.check_code("er-1", "00000000", at=LATER, actor="op", write_key="c/1")
    assert first == again and first.outcome == "wrong_code" and first.attempts == 1
    code = await ids.code("er-1")
    assert code is not None and code.attempts == 1
    # The same wrong code typed again is another try: counted, and refused again.
    second = await ids.check_code("er-1", "00000000", at=LATER, actor="op", write_key="c/2")
    assert second.attempts == 2 and second.attempts_left == 1
    # A retried check of the right code after it was accepted is not a replay of a used code.
    ok = await ids.check_code("er-1", "12345678", at=LATER, actor="op", write_key="c/3")
    ok_again = await ids.check_code("er-1", "12345678", at=LATER, actor="op", write_key="c/3")
    assert ok.outcome == ok_again.outcome == "accepted"
    seen = await kinds(ledger)
    assert seen["verification_code_refused"] == 2 and seen["verification_code_accepted"] == 1
    assert seen["verification_code_sent"] == 1


async def test_racing_attempts_of_one_check_count_once(ledger: Ledger) -> None:
    """A timed-out attempt still running beside its retry: both finish, one counts."""
    await open_request(ledger)
    ids = IdentityRecords(ledger)
    await ids.issue_code(
        "er-1", "12345678", at=NOW, expires_at=NOW + timedelta(days=1), attempt_limit=5
    )
    await ids.mark_code_sent("er-1", at=NOW)
    verdicts = await asyncio.gather(
        *(ids.check_code("er-1", "00000000", at=NOW, actor="op", write_key="c/1") for _ in range(6))
    )
    assert {(v.outcome, v.attempts) for v in verdicts} == {("wrong_code", 1)}
    assert (await kinds(ledger))["verification_code_refused"] == 1


async def test_outcomes_polls_and_residuals_are_recorded_once(ledger: Ledger) -> None:
    await open_request(ledger)
    pending = OutcomeEntry("pending", ticket="T-1", evidence={"poll_after_seconds": 60})
    await ledger.finish_system("er-1", "crm", 0, pending, at=NOW, write_key="erase/1")
    await ledger.finish_system("er-1", "crm", 0, pending, at=NOW, write_key="erase/1")
    await ledger.finish_system("er-1", "crm", 0, pending, at=LATER, write_key="poll/1")
    assert (await kinds(ledger))["system_pending"] == 2  # the erase, and one poll: not three
    erased = OutcomeEntry("erased", counts={"rows.deleted": 2})
    for key in ("poll/2", "poll/2", "poll/3"):
        row = await ledger.finish_system("er-1", "crm", 0, erased, at=LATER, write_key=key)
        assert row.outcome == "erased" and row.counts == {"rows.deleted": 2}

    left = await ledger.record_residual("er-1", "crm", 0, remaining={"rows": 1}, at=NOW)
    # A second check (a retried activity that asked the system again) changes nothing.
    again = await ledger.record_residual("er-1", "crm", 0, remaining={}, at=LATER)
    assert left == again == {"rows": 1}
    [row] = await ledger.outcomes("er-1")
    assert row.outcome == "failed" and row.verified_at == NOW
    seen = await kinds(ledger)
    assert seen["system_erased"] == 1 and seen["system_failed"] == 1


async def test_deadline_events_once_per_deadline(ledger: Ledger) -> None:
    await open_request(ledger)
    clock = DeadlineRecords(ledger)
    due = NOW + timedelta(days=28)
    await clock.open_clock(
        "er-1",
        DeadlineTerms(
            "UTC", "gdpr", due, NOW + timedelta(days=1), "policy", due + timedelta(days=60), None
        ),
    )
    ack_by = NOW + timedelta(days=1)
    acknowledged = []
    for _ in range(2):
        await clock.record_deadline_event("er-1", "acknowledgement_overdue", at=ack_by, due=ack_by)
        await clock.record_deadline_event("er-1", "deadline_reminder", at=due, due=due)
        await clock.extend("er-1", new_due=due + timedelta(days=30), reason="r", actor="op", at=NOW)
        acknowledged.append(await clock.mark_acknowledged("er-1", at=LATER, how="phone"))
    assert acknowledged == [True, False]
    # The extension moved the deadline: its reminder is a new one.
    later = due + timedelta(days=30)
    for _ in range(2):
        await clock.record_deadline_event("er-1", "deadline_reminder", at=later, due=later)
    seen = await kinds(ledger)
    assert seen["acknowledgement_overdue"] == 1 and seen["acknowledged"] == 1
    assert seen["deadline_extended"] == 1 and seen["deadline_reminder"] == 2
    row = await clock.clock("er-1")
    assert row is not None and row.reminded_at == later


async def test_referrals_rounds_and_keyed_notes_once(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.finish_system(
        "er-1",
        "crm",
        0,
        OutcomeEntry(
            "retained",
            legal_basis="gdpr-17-3-b",
            basis_note="tax",
            retained_until=NOW.date() + timedelta(days=1),
        ),
        at=NOW,
    )
    await RequestStatuses(ledger).answer("er-1", at=NOW, actor="lethe")
    referrals, rounds = ControllerReferrals(ledger), ErasureRounds(ledger)
    for _ in range(2):
        await rounds.open_round(
            request_id="er-1",
            system="crm",
            round_=1,
            trigger="retry",
            actor="op",
            reason="r",
            exception_id=None,
            workflow_id="w",
            at=LATER,
        )
        await referrals.open(
            request_id="er-1",
            system="crm",
            round_=1,
            controller="acme",
            workflow_id="w",
            answer_by=LATER,
            connector_called=False,
            at=LATER,
        )
        await referrals.record_delivery("er-1", "crm", 1, {"http_status": 200}, at=LATER)
        await referrals.escalate("er-1", "crm", 1, reason="silent", at=LATER)
        await referrals.instruct(
            "er-1", "crm", 1, instruction="erase", instructed_by="op", reason="r", at=LATER
        )
        await ledger.finish_system("er-1", "crm", 2, OutcomeEntry("erased"), at=LATER)
        await rounds.close_round("er-1", "crm", 1, at=LATER)
        assert await ledger.add_event(
            "er-1", "alert_sent", at=LATER, actor="lethe", detail={}, write_key="alert/x"
        ) is (_ == 0)
    seen = await kinds(ledger)
    for kind in (
        "round_started",
        "system_referred",
        "controller_notified",
        "referral_escalated",
        "controller_instruction",
        "system_erased",
        "exception_resolved",
        "alert_sent",
    ):
        assert seen[kind] == 1, kind


async def test_a_request_whose_writes_were_retried_seals_each_event_once(ledger: Ledger) -> None:
    """Retried writes append nothing, so the seal has nothing doubled to seal; sealing again
    appends nothing; and the database refuses a second receipt of one event."""
    await open_request(ledger)
    for _ in range(2):
        await ledger.set_status(
            "er-1", "erasing", at=NOW, actor="op", event="verified", write_key="verified"
        )
        await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("erased"), at=NOW)
        await ledger.finish_system("er-1", "forum", 0, OutcomeEntry("not_found"), at=NOW)
        await RequestStatuses(ledger).answer("er-1", at=LATER, actor="lethe")
    log = ProofLog(ledger, TreeHeadSigner(Ed25519PrivateKey.generate()))
    sealed = await log.seal("er-1", at=LATER)
    assert (await log.seal("er-1", at=LATER)).leaf_indices == ()
    events = [e for e in await ledger.events("er-1") if e.kind != "sealed"]
    assert [e.kind for e in events] == [
        "received",
        "verified",
        "system_erased",
        "system_not_found",
        "completed",
    ]
    # Two outcomes, the request's state, and each event once.
    assert len(sealed.leaf_indices) == 2 + 1 + len(events)
    leaves = await log.leaves_of("er-1")
    assert sorted(x.event_id for x in leaves if x.event_id) == sorted(e.id for e in events)

    first = next(x for x in leaves if x.event_id is not None)
    with pytest.raises(IntegrityError):
        async with ledger.session() as s, s.begin():
            await s.execute(
                sa.insert(ProofLeaf).values(
                    leaf_index=10_000,
                    request_id="er-1",
                    event_id=first.event_id,
                    kind="request_event",
                    receipt=first.receipt,
                    leaf_hash=first.leaf_hash,
                    commitment=first.commitment,
                    appended_at=LATER,
                )
            )


async def test_resends_holds_and_shredding_once(ledger: Ledger) -> None:
    await open_request(ledger)
    ids = IdentityRecords(ledger)
    await ids.issue_code(
        "er-1", "12345678", at=NOW, expires_at=NOW + timedelta(days=1), attempt_limit=3
    )
    await ids.mark_code_sent("er-1", at=NOW)
    assert (
        await ids.reissue_code(
            "er-1", "87654321", number=1, at=LATER, expires_at=LATER + timedelta(days=1)
        )
        == "issued"
    )
    for _ in range(2):
        await ids.mark_code_resent("er-1", number=1, at=LATER, actor="op", reason="spam folder")
    assert (
        await ids.reissue_code(
            "er-1", "11111111", number=1, at=LATER, expires_at=LATER + timedelta(days=1)
        )
        == "already_sent"
    )

    holds = LegalHolds(ledger)
    hold = await holds.place(
        subject_ref="ps_1",
        legal_basis="gdpr-17-3-e",
        reason="case 2026-17",
        systems=None,
        retained_until=None,
        review_on=NOW.date() + timedelta(days=90),
        placed_by="counsel",
        at=NOW,
    )
    for _ in range(2):
        row = await holds.apply("er-1", "crm", 0, hold, at=NOW)
        assert row.outcome == "retained"
        await VaultShredding(ledger).shred("er-1", at=LATER, actor="sweeper", reason="done")
    seen = await kinds(ledger)
    assert seen["verification_code_resent"] == 1 and seen["hold_applied"] == 1
    assert seen["system_retained"] == 1 and seen["identifiers_shredded"] == 1
    assert len(await ledger.exceptions("er-1")) == 1
