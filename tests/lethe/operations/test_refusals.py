"""What an operator's act is refused for, before any workflow is asked, and what the record
keeps of a refusal (the requester was told, a code was given)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import DeadlineRecords, DeadlineTerms, Ledger
from lethe.errors import LetheError, NotFoundError
from lethe.operations.clock import acknowledge_receipt, extend_deadline
from lethe.operations.identity import check_code, resend_code
from lethe.operations.requests import cancel_request
from lethe.runtime import Runtime
from tests.support.requests import ERASED, NOW, finished_request


@pytest.fixture
async def rt(runtime: Runtime, sqlite_ledger: Ledger) -> Runtime:
    """er-1: finished (operator-verified), with its statutory clock."""
    await finished_request(sqlite_ledger, "er-1", {"crm": ERASED}, email="ada@example.org")
    await DeadlineRecords(sqlite_ledger).open_clock(
        "er-1",
        DeadlineTerms(
            timezone="UTC",
            answer_rule="gdpr",
            due_at=NOW + timedelta(days=28),
            acknowledge_by=NOW + timedelta(days=1),
            acknowledge_rule="policy",
            extension_limit=NOW + timedelta(days=84),
            no_extension_because=None,
        ),
    )
    return runtime


async def test_an_unknown_request_is_not_found(rt: Runtime) -> None:
    with pytest.raises(NotFoundError, match="no erasure request with id 'er-x'"):
        await extend_deadline(rt, "er-x", "more time", "operator:ops")


async def test_a_finished_request_is_not_extended_nor_cancelled(rt: Runtime) -> None:
    with pytest.raises(LetheError, match=r"cannot extend er-1: it has finished \(completed\)"):
        await extend_deadline(rt, "er-1", "more time", "operator:ops")
    with pytest.raises(LetheError, match=r"er-1 has already finished \(completed\)"):
        await cancel_request(rt, "er-1", "withdrawn", "ops")


async def test_an_acknowledgement_a_finished_request_refuses_is_kept_as_a_trace(
    rt: Runtime,
) -> None:
    told: list[tuple[str, str]] = []
    with pytest.raises(LetheError, match="cannot acknowledge er-1: it has finished"):
        await acknowledge_receipt(
            rt,
            "er-1",
            "phone",
            "called ada@example.org back, ticket 7",
            "operator:ops",
            rewritten=lambda what, kept: told.append((what, kept)),
        )
    [event] = [e for e in await rt.ledger.events("er-1") if e.kind == "acknowledgement_refused"]
    assert event.actor == "operator:ops" and event.detail["channel"] == "phone"
    # The record keeps the reference, not the person's address; the operator is told so.
    assert "ada@example.org" not in event.detail["reason"] and "ticket 7" in event.detail["reason"]
    assert told == [("reason", event.detail["reason"])]


async def test_a_code_for_a_request_not_verified_by_code_is_refused_and_recorded(
    rt: Runtime,
) -> None:
    with pytest.raises(LetheError, match="er-1: code refused: it is verified by operator"):
        await check_code(rt, "er-1", "123456", "ops")
    [event] = [e for e in await rt.ledger.events("er-1") if e.kind == "verification_code_refused"]
    assert event.detail["outcome"] == "refused_before_check" and event.actor == "operator:ops"
    with pytest.raises(LetheError, match="er-1: no new code: it is verified by operator"):
        await resend_code(rt, "er-1", "lost in spam", "ops")
