"""The identity gate and the deadline clock of ErasureWorkflow, on the time-skipping server.

Activities are the fakes of test_erasure_workflow (same names as the real ones); the real
activities, ledger and SMTP server are exercised in tests/activities/test_verification.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from workflows import (
    CodeResendOrder,
    CodeResent,
    CodeSubmission,
    DeadlineExtension,
    ErasurePolicy,
    ErasureRequest,
    ErasureResult,
    ErasureWorkflow,
    OperatorApproval,
    ReceiptAcknowledgement,
)

from .test_erasure_workflow import FAST, Fakes, fakes_worker

DAY = timedelta(days=1)


async def fresh_request(
    env: WorkflowEnvironment,
    method: str,
    *,
    answer_in: timedelta = 30 * DAY,
    acknowledge_in: timedelta | None = DAY,
    policy: ErasurePolicy = FAST,
) -> ErasureRequest:
    """A request received now (the test server's now), due ``answer_in`` from now."""
    now = await env.get_current_time()
    return ErasureRequest(
        request_id=f"er-{uuid.uuid4().hex[:12]}",
        subject_ref="ps_0123456789abcdef0123456789abcdef",
        jurisdiction="gdpr",
        verification_method=method,
        systems=("forum", "crm"),
        received_at=now,
        due_at=now + answer_in,
        policy=policy,
        acknowledge_by=now + acknowledge_in if acknowledge_in else None,
    )


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fakes: Fakes, req: ErasureRequest, task_queue: str
) -> AsyncIterator[WorkflowHandle[ErasureWorkflow, ErasureResult]]:
    async with fakes_worker(env.client, fakes, task_queue):
        yield await env.client.start_workflow(
            ErasureWorkflow.run, req, id=f"erasure/{req.request_id}", task_queue=task_queue
        )


async def code_sent(env: WorkflowEnvironment, fakes: Fakes) -> None:
    for _ in range(200):
        if fakes.challenges:
            return
        await env.sleep(timedelta(seconds=1))
    raise AssertionError("no code was sent")


async def give(
    handle: WorkflowHandle[ErasureWorkflow, ErasureResult], code: str
) -> tuple[str, str]:
    check = await handle.execute_update(
        ErasureWorkflow.submit_code, CodeSubmission(code, "operator:kim")
    )
    return check.outcome, check.message


# -- email codes ----------------------------------------------------------------------------


async def test_right_code_after_wrong_ones_verifies_and_only_then_erases(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        [challenge] = fakes.challenges
        assert challenge.attempt_limit == FAST.code_attempts == 5
        assert challenge.expires_at - req.received_at <= timedelta(hours=72, seconds=5)
        assert await give(handle, "00000000") == ("wrong_code", "wrong code (4 attempt(s) left)")
        assert fakes.erase_calls == {}
        outcome, _ = await give(handle, "3141-5926")  # typed with a dash: still the code
        assert outcome == "accepted"
        result = await handle.result()
    assert result.status == "completed" and set(fakes.erase_calls) == {"forum", "crm"}
    verified = next(s for s in fakes.statuses if s.event == "verified")
    assert verified.actor == "requester:email-code" and verified.detail == {"method": "email"}


async def test_five_wrong_codes_lock_the_request_and_nothing_is_erased(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        outcomes = [(await give(handle, f"1000000{i}"))[0] for i in range(5)]
        assert outcomes == ["wrong_code"] * 4 + ["locked"]
        # Locked means locked: even the right code is refused now, without a look at it. The
        # request is answered (rejected, sealed) in the workflow task that answered "locked"
        # (its ledger steps are local activities: ``ledger-steps-local``), so the code meets
        # a closed workflow (Temporal: the update is not found, the execution completed);
        # lethe verify refuses it before that, from the ledger ("the request is closed").
        with pytest.raises(RPCError, match=r"not found|completed"):
            await give(handle, fakes.code)
        result = await handle.result()
    assert result.status == "rejected"
    assert "too many wrong codes (5)" in (result.reason or "") and "nothing erased" in (
        result.reason or ""
    )
    assert fakes.erase_calls == {} and len(fakes.code_attempts) == 5
    assert fakes.statuses[-1].status == "rejected"


async def test_an_expired_code_ends_rejected_with_the_reason(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        await env.sleep(timedelta(hours=71))
        assert (await handle.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        result = await handle.result()  # the server skips to the expiry
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await give(handle, fakes.code)  # too late: the workflow is closed
    assert result.status == "rejected"
    assert result.reason == (
        "identity not verified: the emailed code expired after 72 hours; nothing erased"
    )
    assert fakes.erase_calls == {} and fakes.code_attempts == []


async def test_refusals_that_need_no_look_at_the_code(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        for bad, why in [("1234", "8 digits"), ("abcdefgh", "8 digits")]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await give(handle, bad)
            assert why in str(refused.value.cause)
        assert fakes.code_attempts == []  # malformed input is not an attempt
        assert (await give(handle, fakes.code))[0] == "accepted"
        with pytest.raises(WorkflowUpdateFailedError) as replay:
            await give(handle, fakes.code)
        assert "already verified" in str(replay.value.cause)
        # An operator's approval does not stand in for a code.
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "looks fine"))
        assert (await handle.result()).status == "completed"
    assert fakes.code_attempts == [fakes.code]


async def test_codes_are_refused_for_requests_verified_otherwise(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "operator")
    async with running(env, fakes, req, task_queue) as handle:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await give(handle, "12345678")
        assert "verified by operator" in str(refused.value.cause)
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed"
    assert fakes.challenges == [] and fakes.code_attempts == []


async def test_preverified_without_an_assertion_on_record_is_rejected(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(assertions_on_record=False)
    req = await fresh_request(env, "preverified")
    async with running(env, fakes, req, task_queue) as handle:
        result = await handle.result()
    assert result.status == "rejected" and "no accepted portal assertion" in (result.reason or "")
    assert fakes.erase_calls == {}
    # Answered in its first workflow task, it still acknowledged receipt before closing.
    assert [a.request_id for a in fakes.acknowledgements] == [req.request_id]


# -- resent codes ---------------------------------------------------------------------------


async def resend(
    handle: WorkflowHandle[ErasureWorkflow, ErasureResult], reason: str = "lost in spam"
) -> CodeResent:
    return await handle.execute_update(
        ErasureWorkflow.resend_code, CodeResendOrder("operator:kim", reason)
    )


async def test_a_resent_code_replaces_the_old_one_within_the_verification_window(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Codes good for 24 hours, the gate open 72: a resend gives a fresh 24 hours, the
    wrong tries carry over, and the gate waits for the new code past the old one's expiry."""
    env, fakes = time_skipping_env, Fakes()
    short = dataclasses.replace(
        FAST, code_ttl_seconds=24 * 3600, verification_timeout_seconds=72 * 3600
    )
    req = await fresh_request(env, "email", policy=short)
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        [challenge] = fakes.challenges
        old = fakes.code
        assert (await give(handle, "00000000"))[0] == "wrong_code"
        await env.sleep(timedelta(hours=20))
        resent = await resend(handle)
        assert resent.expires_at > challenge.expires_at + timedelta(hours=19)
        assert resent.expires_at < challenge.expires_at + timedelta(hours=21)
        assert (resent.resends_left, resent.attempts_left) == (2, 4)
        [order] = fakes.resends
        assert (order.number, order.actor, order.reason) == (1, "operator:kim", "lost in spam")
        assert order.expires_at == resent.expires_at and order.answer_by == req.due_at
        assert fakes.code != old
        assert await give(handle, old) == ("wrong_code", "wrong code (3 attempt(s) left)")
        await env.sleep(timedelta(hours=10))  # past the first code's expiry
        progress = await handle.query(ErasureWorkflow.progress)
        assert progress.stage == "awaiting_verification" and progress.code_resends == 1
        assert progress.code_expires_at == resent.expires_at
        assert (await give(handle, fakes.code))[0] == "accepted"
        result = await handle.result()
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await resend(handle)
    assert result.status == "completed"
    assert fakes.extensions == []  # the answer deadline is not moved by a resend


async def test_a_resend_never_outlasts_the_verification_window(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """With the defaults (a code good for 72 hours, the window 72 hours), a resent code is
    good for what is left of the window, and the request is rejected when it closes."""
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        [challenge] = fakes.challenges
        await env.sleep(timedelta(hours=10))
        resent = await resend(handle)
        assert resent.expires_at == challenge.expires_at
        result = await handle.result()
    assert result.status == "rejected" and "expired" in (result.reason or "")
    assert fakes.erase_calls == {}


async def test_a_locked_request_stays_locked_and_resends_are_limited(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    two = dataclasses.replace(FAST, code_resends=2)
    req = await fresh_request(env, "email", policy=two)
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        assert (await resend(handle)).resends_left == 1
        assert (await resend(handle)).resends_left == 0
        with pytest.raises(WorkflowUpdateFailedError) as spent:
            await resend(handle)
        assert "no more new codes: 2 per request" in str(spent.value.cause)
        outcomes = [(await give(handle, f"1000000{i}"))[0] for i in range(5)]
        assert outcomes[-1] == "locked"
        # Answered (rejected) in the task that answered "locked" (``ledger-steps-local``): a
        # resend meets a closed workflow, and mails nothing (lethe verify --resend refuses it
        # from the ledger first: "the request is closed").
        with pytest.raises(RPCError, match=r"not found|completed"):
            await resend(handle)
        result = await handle.result()
    assert result.status == "rejected" and "too many wrong codes" in (result.reason or "")
    assert len(fakes.resends) == 2 and fakes.erase_calls == {}


async def test_a_lock_is_not_escaped_by_resending_before_the_last_try(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "email")
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        for i in range(4):
            await give(handle, f"2000000{i}")
        assert (await resend(handle)).attempts_left == 1  # the count goes on
        assert (await give(handle, "20000009"))[0] == "locked"
        result = await handle.result()
    assert result.status == "rejected" and fakes.erase_calls == {}


async def test_resends_are_refused_when_they_make_no_sense(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    off = dataclasses.replace(FAST, code_resends=0)
    req = await fresh_request(env, "email", policy=off)
    async with running(env, fakes, req, task_queue) as handle:
        await code_sent(env, fakes)
        with pytest.raises(WorkflowUpdateFailedError) as turned_off:
            await resend(handle)
        assert "code_resends = 0" in str(turned_off.value.cause)
        assert (await give(handle, fakes.code))[0] == "accepted"
        await handle.result()
    fakes2 = Fakes()
    req2 = await fresh_request(env, "email")
    async with running(env, fakes2, req2, f"{task_queue}-2") as handle:
        await code_sent(env, fakes2)
        assert (await give(handle, fakes2.code))[0] == "accepted"
        with pytest.raises(WorkflowUpdateFailedError) as verified:
            await resend(handle)
        assert "already verified" in str(verified.value.cause)
        await handle.result()
    fakes3 = Fakes()
    req3 = await fresh_request(env, "operator")
    async with running(env, fakes3, req3, f"{task_queue}-3") as handle:
        with pytest.raises(WorkflowUpdateFailedError) as operator:
            await resend(handle)
        assert "verified by operator" in str(operator.value.cause)
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()
    assert fakes.resends == fakes2.resends == fakes3.resends == []


# -- deadlines ------------------------------------------------------------------------------


async def acknowledge(
    handle: WorkflowHandle[ErasureWorkflow, ErasureResult], channel: str = "phone"
) -> None:
    await handle.execute_update(
        ErasureWorkflow.acknowledge_receipt,
        ReceiptAcknowledgement(channel, "call log 12", "operator:kim"),
    )


async def test_an_operator_acknowledgement_stops_the_escalation(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(mail_configured=False)
    req = await fresh_request(env, "operator", acknowledge_in=timedelta(hours=24))
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(timedelta(hours=2))
        assert not (await handle.query(ErasureWorkflow.progress)).acknowledged
        with pytest.raises(WorkflowUpdateFailedError) as fax:
            await acknowledge(handle, "fax")
        assert "unknown channel 'fax'" in str(fax.value.cause)
        await acknowledge(handle)
        assert (await handle.query(ErasureWorkflow.progress)).acknowledged
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await acknowledge(handle, "mail")
        assert "already acknowledged" in str(twice.value.cause)
        await env.sleep(timedelta(hours=30))  # past the acknowledge-by date
        assert fakes.deadline_events == []
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()
    [order] = fakes.manual_acks
    assert (order.channel, order.reason, order.actor) == ("phone", "call log 12", "operator:kim")


async def test_a_late_acknowledgement_is_still_recorded_after_the_escalation(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(mail_configured=False)
    req = await fresh_request(env, "operator", acknowledge_in=timedelta(hours=24))
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(timedelta(hours=26))
        assert [e.kind for e in fakes.deadline_events] == ["acknowledgement_overdue"]
        await acknowledge(handle, "mail")
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "letter signed"))
        result = await handle.result()
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await acknowledge(handle)  # finished: nothing to acknowledge
    assert result.status == "completed" and len(fakes.manual_acks) == 1
    assert [e.kind for e in fakes.deadline_events] == ["acknowledgement_overdue"]


async def test_timers_record_reminder_and_escalation_and_the_history_stays_small(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    patient = dataclasses.replace(FAST, verification_timeout_seconds=60 * 86400)
    req = await fresh_request(env, "operator", policy=patient)
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(22 * DAY)
        assert [e.kind for e in fakes.deadline_events] == []
        await env.sleep(2 * DAY)  # day 24: seven days before the deadline
        assert [(e.kind, e.due) for e in fakes.deadline_events] == [
            ("deadline_reminder", req.due_at)
        ]
        await env.sleep(10 * DAY)  # day 34: four days late
        assert [e.kind for e in fakes.deadline_events] == ["deadline_reminder", "deadline_overdue"]
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.status == "completed"
    assert fakes.acknowledgements and fakes.acknowledgements[0].answer_by == req.due_at
    # Timers, not polling: a month of waiting costs a few dozen events.
    assert len(history.events) < 120, len(history.events)


async def test_an_unacknowledged_request_escalates_when_acknowledgement_is_due(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(mail_configured=False)
    req = await fresh_request(env, "operator", acknowledge_in=timedelta(hours=24))
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(timedelta(hours=23))
        assert fakes.deadline_events == []
        await env.sleep(timedelta(hours=2))
        assert [(e.kind, e.due) for e in fakes.deadline_events] == [
            ("acknowledgement_overdue", req.acknowledge_by)
        ]
        assert not (await handle.query(ErasureWorkflow.progress)).acknowledged
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()


async def test_a_request_received_long_before_it_was_entered_fires_its_past_deadlines_at_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """``lethe submit --received-at``: received 40 days ago, acknowledgement due 39 days ago,
    the answer 10 days ago. No timer waits a negative time: each past deadline is recorded
    at once, in order, once; the acknowledgement is still tried, right away."""
    env, fakes = time_skipping_env, Fakes(mail_configured=False)
    now = await env.get_current_time()
    received = now - 40 * DAY
    req = dataclasses.replace(
        await fresh_request(env, "operator"),
        received_at=received,
        due_at=received + 30 * DAY,
        acknowledge_by=received + DAY,
    )
    async with running(env, fakes, req, task_queue) as handle:
        for _ in range(100):
            if len(fakes.deadline_events) >= 3:
                break
            await env.sleep(timedelta(seconds=1))
        assert [(e.kind, e.due) for e in fakes.deadline_events] == [
            ("acknowledgement_overdue", req.acknowledge_by),
            ("deadline_reminder", req.due_at),
            ("deadline_overdue", req.due_at),
        ]
        assert len(fakes.acknowledgements) == 1  # tried at once (no mail server here)
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "letter signed"))
        assert (await handle.result()).status == "completed"
    assert len(fakes.deadline_events) == 3


async def test_an_acknowledged_request_does_not_escalate(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "operator", acknowledge_in=timedelta(hours=24))
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(timedelta(hours=30))
        assert (await handle.query(ErasureWorkflow.progress)).acknowledged
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()
    assert fakes.deadline_events == [] and len(fakes.acknowledgements) == 1


async def test_extension_moves_the_timers_and_is_allowed_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    patient = dataclasses.replace(FAST, verification_timeout_seconds=90 * 86400)
    req = await fresh_request(env, "operator", policy=patient)
    later = req.due_at + 15 * DAY
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(25 * DAY)  # the reminder for the first deadline has gone out
        assert [e.kind for e in fakes.deadline_events] == ["deadline_reminder"]
        moved = await handle.execute_update(
            ErasureWorkflow.extend_deadline,
            DeadlineExtension(later, "complex request: 14 systems", "kim"),
        )
        assert datetime.fromisoformat(moved) == later
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(
                ErasureWorkflow.extend_deadline,
                DeadlineExtension(later + DAY, "again", "kim"),
            )
        assert "already extended" in str(twice.value.cause)
        progress = await handle.query(ErasureWorkflow.progress)
        assert progress.extended and progress.answer_by == later
        await env.sleep(10 * DAY)  # day 35: past the old deadline, not the new one
        assert "deadline_overdue" not in [e.kind for e in fakes.deadline_events]
        await env.sleep(11 * DAY)  # day 46: past the new one
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()
    assert [(e.kind, e.due) for e in fakes.deadline_events] == [
        ("deadline_reminder", req.due_at),
        ("deadline_reminder", later),
        ("deadline_overdue", later),
    ]
    [order] = fakes.extensions
    assert order.reason == "complex request: 14 systems" and order.actor == "kim"


async def test_late_extension_is_refused(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    patient = dataclasses.replace(FAST, verification_timeout_seconds=90 * 86400)
    req = await fresh_request(env, "operator", answer_in=10 * DAY, policy=patient)
    async with running(env, fakes, req, task_queue) as handle:
        await env.sleep(11 * DAY)
        with pytest.raises(WorkflowUpdateFailedError) as late:
            await handle.execute_update(
                ErasureWorkflow.extend_deadline,
                DeadlineExtension(req.due_at + 30 * DAY, "too late", "kim"),
            )
        assert "too late" in str(late.value.cause)
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        await handle.result()
    assert fakes.extensions == []


async def test_a_finished_request_leaves_no_timer_behind(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    req = await fresh_request(env, "preverified")
    async with running(env, fakes, req, task_queue) as handle:
        result = await handle.result()
        history = await handle.fetch_history()
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(
                ErasureWorkflow.extend_deadline,
                DeadlineExtension(req.due_at + DAY, "after the end", "kim"),
            )
    assert result.status == "completed" and fakes.deadline_events == []
    # The clock had set its timer; the execution completed without waiting for it.
    assert any(e.HasField("timer_started_event_attributes") for e in history.events)
    assert not any(e.HasField("timer_fired_event_attributes") for e in history.events)
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")
