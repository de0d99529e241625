"""What reaches the ledger through Temporal (a failure's text, a termination reason, a signal
from another client) is scrubbed of the request's identifiers where it is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities import RecordingActivities, StatusChange, SystemFailure
from ledger import Ledger, VaultShredding

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def opened(sqlite_ledger: Ledger) -> AsyncIterator[Ledger]:
    assert sqlite_ledger.vault is not None
    await sqlite_ledger.open_request(
        request_id="er-1",
        subject_ref="ps_1",
        jurisdiction="gdpr",
        verification_method="operator",
        channel="cli",
        systems=["crm"],
        workflow_id="erasure/er-1",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=sqlite_ledger.vault.seal(
            "er-1", {"email": "ada@example.org", "name": "Ada Byron", "username": "ada_b"}
        ),
        actor="cli",
    )
    yield sqlite_ledger


async def test_texts_from_temporal_are_kept_without_the_person(opened: Ledger) -> None:
    acts = RecordingActivities(opened)
    env = ActivityEnvironment()
    await env.run(
        acts.record_system_failure,
        SystemFailure(
            "er-1", "crm", 0, "system workflow ended: terminated: ada_b (Byron) asked on the phone"
        ),
    )
    await env.run(
        acts.record_status,
        StatusChange(
            "er-1",
            "rejected",
            actor="operator:Ada Byron",
            reason="the verification code could not be sent (KeyError: 'ADA@example.org')",
        ),
    )
    [outcome] = await opened.outcomes("er-1")
    assert (
        outcome.error
        == "system workflow ended: terminated: [redacted] ([redacted]) asked on the phone"
    )
    rec = await opened.require_request("er-1")
    assert rec.status_reason == "the verification code could not be sent (KeyError: '[redacted]')"
    last = (await opened.events("er-1"))[-1]
    assert last.actor == "operator:[redacted]" and "ADA" not in str(last.detail)


async def test_after_shredding_the_shapes_are_still_caught(opened: Ledger) -> None:
    await VaultShredding(opened).shred("er-1", at=NOW, actor="t", reason="r")
    await ActivityEnvironment().run(
        RecordingActivities(opened).record_status,
        StatusChange("er-1", "completed", actor="lethe", reason="mailed ada@example.org"),
    )
    assert (await opened.require_request("er-1")).status_reason == "mailed [email redacted]"
