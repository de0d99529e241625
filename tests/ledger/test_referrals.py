"""Controller referrals in the ledger: referred, escalated, instructed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import ControllerReferrals, Ledger, LedgerError, OutcomeEntry

from .test_store import NOW, open_request


async def test_referral_lifecycle(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.set_status("er-1", "erasing", at=NOW, actor="lethe")
    referrals = ControllerReferrals(ledger)
    ref = await referrals.open(
        request_id="er-1",
        system="lms",
        round_=0,
        controller="acme-university",
        workflow_id="erasure/er-1/lms/0",
        answer_by=NOW + timedelta(days=14),
        connector_called=False,
        at=NOW,
    )
    same = await referrals.open(
        request_id="er-1",
        system="lms",
        round_=0,
        controller="acme-university",
        workflow_id="erasure/er-1/lms/0",
        answer_by=NOW + timedelta(days=99),
        connector_called=False,
        at=NOW,
    )
    assert same.id == ref.id and same.answer_by == NOW + timedelta(days=14)
    [row] = await ledger.outcomes("er-1")
    assert (row.outcome, row.controller, row.connector) == ("referred", "acme-university", "")
    assert row.evidence["connector_called"] is False
    assert (await referrals.waiting("er-1", "lms")).state == "awaiting"  # type: ignore[union-attr]

    await referrals.record_delivery("er-1", "lms", 0, {"http_status": 202}, at=NOW)
    await referrals.escalate("er-1", "lms", 0, reason="no instruction within 14 days", at=NOW)
    rec = await ledger.require_request("er-1")
    assert rec.status == "escalated" and "controller-instruction er-1" in (rec.status_reason or "")

    with pytest.raises(LedgerError, match="unknown instruction"):
        await referrals.instruct(
            "er-1", "lms", 0, instruction="shred", instructed_by="operator:kim", reason="r", at=NOW
        )
    done = await referrals.instruct(
        "er-1", "lms", 0, instruction="erase", instructed_by="operator:kim", reason="DPO", at=NOW
    )
    assert done.state == "instructed" and done.instruction == "erase"
    assert await referrals.waiting("er-1", "lms") is None
    assert (await ledger.require_request("er-1")).status == "erasing"
    kinds = [e.kind for e in await ledger.events("er-1")]
    for kind in ("system_referred", "controller_notified", "referral_escalated"):
        assert kind in kinds
    assert kinds[-1] == "controller_instruction"


async def test_a_connector_referral_keeps_its_recorded_row(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.begin_system("er-1", "lms", 0, connector="http", connector_version="2", at=NOW)
    await ledger.finish_system(
        "er-1", "lms", 0, OutcomeEntry("referred", controller="acme", evidence={"id": 7}), at=NOW
    )
    await ControllerReferrals(ledger).open(
        request_id="er-1",
        system="lms",
        round_=0,
        controller="acme",
        workflow_id="w",
        answer_by=NOW,
        connector_called=True,
        at=NOW,
    )
    [row] = await ledger.outcomes("er-1")
    assert (row.connector, row.evidence) == ("http", {"id": 7})
