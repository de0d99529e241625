"""Referral activities against a real SQLite ledger and a local HTTP receiver that checks each
notice exactly as docs/controller-webhook.md tells a controller to
(tests/support/controller_receiver.py, written from the document, not from Lethe's sender)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ControllerEndpoint, InstructionRecord, PlanInput, ReferralTask
from activities.planning import PlanningActivities
from activities.referral import ReferralActivities
from ledger import ControllerReferrals, Ledger, LegalHolds
from ledger.proof import canonical_json
from ledger.proof.receipts import outcome_receipt
from tests.support.controller_receiver import Receiver, controller_receiver

NOW = datetime.now(UTC)
SECRET = b"s3cret-shared-with-acme"
EMAIL = "ada@example.org"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with controller_receiver(SECRET) as rx:
        yield rx


@pytest.fixture
async def opened(sqlite_ledger: Ledger) -> AsyncIterator[Ledger]:
    assert sqlite_ledger.vault is not None
    await sqlite_ledger.open_request(
        request_id="er-1",
        subject_ref="ps_" + "ab" * 16,
        jurisdiction="gdpr",
        verification_method="preverified",
        channel="cli",
        systems=["lms", "crm", "forum"],
        workflow_id="erasure/er-1",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=sqlite_ledger.vault.seal("er-1", {"email": EMAIL, "name": "Ada Byron"}),
        actor="cli",
    )
    yield sqlite_ledger


def endpoint(rx: Receiver, secret: bytes = SECRET, **kw: Any) -> ControllerEndpoint:
    return ControllerEndpoint("acme-university", rx.url, secret, **kw)


TASK = ReferralTask("er-1", "lms", 0, "acme-university")


async def test_a_signed_notice_reaches_the_controller_once(
    opened: Ledger, receiver: Receiver
) -> None:
    acts = ReferralActivities(
        opened,
        {"acme-university": endpoint(receiver, status_callback="https://privacy.example/ref")},
    )
    env = ActivityEnvironment()
    opened_ref = await env.run(acts.open_referral, TASK)
    assert opened_ref.notifiable and 13.9 * 86400 < opened_ref.answer_within_seconds <= 14 * 86400
    await env.run(acts.notify_controller, TASK)
    await env.run(acts.notify_controller, TASK)  # a retried activity does not send again

    assert receiver.rejected == [] and receiver.deliveries == ["er-1/lms/0"]
    [notice] = receiver.accepted
    assert notice["api_version"] == "lethe-referral/1"
    assert notice["subject_request_id"] == "er-1" and notice["subject_request_type"] == "erasure"
    assert notice["processor_system"] == "lms" and notice["controller"] == "acme-university"
    assert notice["status_callback"] == "https://privacy.example/ref"
    assert notice["subject_identities"] == [
        {
            "identity_type": "lethe_pseudonym",
            "identity_value": "ps_" + "ab" * 16,
            "identity_format": "raw",
        }
    ]
    assert EMAIL not in json.dumps(notice) and "Byron" not in json.dumps(notice)
    expected = datetime.fromisoformat(notice["expected_completion_time"])
    assert timedelta(days=13) < expected - NOW < timedelta(days=15)

    ref = await ControllerReferrals(opened).get("er-1", "lms", 0)
    assert ref is not None and ref.notified_at is not None
    assert ref.delivery["http_status"] == 202 and ref.delivery["disclosed"] == []
    [row] = await opened.outcomes("er-1")
    assert (row.outcome, row.controller) == ("referred", "acme-university")
    assert row.evidence["connector_called"] is False


async def test_the_email_goes_only_where_the_contract_says(
    opened: Ledger, receiver: Receiver
) -> None:
    acts = ReferralActivities(opened, {"acme-university": endpoint(receiver, disclose=("email",))})
    env = ActivityEnvironment()
    await env.run(acts.open_referral, TASK)
    await env.run(acts.notify_controller, TASK)
    [notice] = receiver.accepted
    kinds = {i["identity_type"]: i["identity_value"] for i in notice["subject_identities"]}
    assert kinds == {"lethe_pseudonym": "ps_" + "ab" * 16, "email": EMAIL}
    assert "name" not in kinds  # only what `disclose` lists


async def test_a_wrong_secret_is_refused_and_not_retried(
    opened: Ledger, receiver: Receiver
) -> None:
    acts = ReferralActivities(opened, {"acme-university": endpoint(receiver, b"wrong")})
    env = ActivityEnvironment()
    await env.run(acts.open_referral, TASK)
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.notify_controller, TASK)
    assert err.value.non_retryable and err.value.type == "ControllerRefused"
    assert "HTTP 401" in err.value.message
    assert receiver.rejected == ["bad signature"] and receiver.accepted == []


async def test_a_busy_or_absent_controller_is_retried(opened: Ledger, receiver: Receiver) -> None:
    receiver.answer = 503
    acts = ReferralActivities(opened, {"acme-university": endpoint(receiver)})
    env = ActivityEnvironment()
    await env.run(acts.open_referral, TASK)
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.notify_controller, TASK)
    assert not err.value.non_retryable and err.value.type == "ControllerUnreachable"

    gone = ControllerEndpoint("acme-university", "http://127.0.0.1:9/dsr", SECRET)
    acts = ReferralActivities(opened, {"acme-university": gone}, http_timeout=2)
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.notify_controller, TASK)
    assert not err.value.non_retryable and "unreachable" in err.value.message
    ref = await ControllerReferrals(opened).get("er-1", "lms", 0)
    assert ref is not None and ref.notified_at is None


async def test_an_unconfigured_controller_is_said_so(opened: Ledger) -> None:
    acts = ReferralActivities(opened, {})
    opened_ref = await ActivityEnvironment().run(acts.open_referral, TASK)
    assert not opened_ref.notifiable and "[controllers.acme-university]" in (
        opened_ref.why_not or ""
    )


async def test_instructions_are_recorded_and_retention_needs_a_real_basis(
    opened: Ledger,
) -> None:
    acts = ReferralActivities(opened, {})
    env = ActivityEnvironment()
    await env.run(acts.open_referral, TASK)
    retain = InstructionRecord(
        "er-1", "lms", 0, "retain", "kim", "exam records", "gdpr-17-3-b", "2031-07-31"
    )
    await env.run(acts.record_instruction, retain)
    out = await env.run(acts.record_instructed_retention, retain)
    assert (out.outcome, out.legal_basis, out.retained_until) == (
        "retained",
        "gdpr-17-3-b",
        "2031-07-31",
    )
    rows = {(o.round, o.outcome) for o in await opened.outcomes("er-1")}
    assert rows == {(0, "referred"), (1, "retained")}
    [exc] = await opened.exceptions("er-1")
    assert "acme-university" in exc.basis_note
    # The operator's words and name stay with the referral, out of the sealed receipt.
    [row] = [o for o in await opened.outcomes("er-1") if o.round == 1]
    receipt = canonical_json(outcome_receipt(row)).decode()
    assert "exam records" not in receipt and "kim" not in receipt
    assert "acme-university" in receipt
    ref = await ControllerReferrals(opened).get("er-1", "lms", 0)
    assert ref is not None and (ref.state, ref.instructed_by) == ("instructed", "operator:kim")

    bogus = InstructionRecord("er-1", "crm", 0, "retain", "kim", "r", "whim", "2031-07-31")
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.record_instructed_retention, bogus)
    assert err.value.non_retryable and "unknown legal basis 'whim'" in err.value.message


async def test_the_plan_step_holds_refers_and_erases(opened: Ledger) -> None:
    await LegalHolds(opened).place(
        subject_ref="ps_" + "ab" * 16,
        legal_basis="gdpr-17-3-e",
        reason="claim pending",
        systems=["crm"],
        retained_until=(NOW + timedelta(days=200)).date(),
        review_on=None,
        placed_by="operator:kim",
        at=NOW,
    )
    acts = PlanningActivities(opened, {"lms": "acme-university"})
    plan = await ActivityEnvironment().run(
        acts.plan_erasure, PlanInput("er-1", ("lms", "crm", "forum"))
    )
    steps = {s.system: s for s in plan.systems}
    assert steps["lms"].action == "refer" and steps["lms"].controller == "acme-university"
    assert steps["forum"].action == "erase" and steps["forum"].outcome is None
    crm = steps["crm"]
    assert crm.action == "hold" and crm.outcome is not None
    assert (crm.outcome.outcome, crm.outcome.legal_basis) == ("retained", "gdpr-17-3-e")
    assert crm.outcome.retained_until == (NOW + timedelta(days=200)).date().isoformat()
    [row] = await opened.outcomes("er-1")  # only the held system is decided by the plan
    assert (row.system, row.outcome, row.connector) == ("crm", "retained", "")
