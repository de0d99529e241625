"""``approve_identity`` and ``instruct``: an operator's approval and a controller's instruction
as updates, refused to the caller with a reason, where the signals they replace were dropped
in silence. The old signals keep working for requests that were running before.

Time-skipping server, the fakes of test_erasure_workflow.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import StatusChange, SystemOutcome, SystemTask
from workflows import (
    CancelOrder,
    CodeSubmission,
    ControllerInstruction,
    ErasureResult,
    ErasureWorkflow,
    OperatorApproval,
    SystemErasureWorkflow,
    system_erasure_id,
)

from .test_erasure_workflow import Fakes, fakes_worker, request, start
from .test_refusals import keyless, other_keys


async def refusal(handle: WorkflowHandle[object, object], update: object, arg: object) -> str:
    """The validator's reason for refusing ``update(arg)``."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg)  # type: ignore[call-overload]
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


def pending_for_days(task: SystemTask, _: int) -> SystemOutcome:
    """A system that takes its time: the workflow polls it hourly, and is still open."""
    return SystemOutcome(task.system, "pending", ticket="t-9", poll_after_seconds=3600)


class SlowToRecordCancellation(Fakes):
    """Holds the recording of a ``cancelled`` status until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = asyncio.Event()
        self.release = asyncio.Event()

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        if change.status == "cancelled":
            self.recording.set()
            await self.release.wait()
        await super().record_status(change)


# -- approve_identity ---------------------------------------------------------------------


async def test_an_approval_by_update_is_answered_and_opens_the_gate(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        answer = await handle.execute_update(
            ErasureWorkflow.approve_identity, OperatorApproval(" kim ", " passport checked ")
        )
        assert answer == "identity approved: erasure starts"
        result = await handle.result()
    assert result.status == "completed"
    verified = fakes.statuses[1]
    assert (verified.event, verified.actor, verified.reason) == (
        "verified",
        "operator:kim",
        "passport checked",
    )


async def test_an_approval_that_cannot_count_is_refused_with_its_reason(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    # crm stays pending for hours: the approved request is still open when asked again.
    fakes = Fakes(scripts={"crm": pending_for_days}, polls_until_done=10)
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("crm",)), task_queue)
        approve = ErasureWorkflow.approve_identity
        assert "needs who approves and how" in await refusal(
            handle, approve, OperatorApproval("kim", "   ")
        )
        assert "needs who approves and how" in await refusal(
            handle, approve, OperatorApproval("", "called back")
        )
        await env.sleep(timedelta(hours=1))
        # Nothing refused moved the gate.
        assert (await handle.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        assert fakes.erase_calls == {}
        await handle.execute_update(approve, OperatorApproval("kim", "called back"))
        assert await refusal(handle, approve, OperatorApproval("lee", "me too")) == (
            "identity is already approved (by kim)"
        )
        await handle.result()
    assert [s.actor for s in fakes.statuses if s.event == "verified"] == ["operator:kim"]


async def test_an_approval_of_a_request_verified_otherwise_is_refused(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",), "email"), task_queue)
        why = await refusal(
            handle, ErasureWorkflow.approve_identity, OperatorApproval("kim", "called back")
        )
        assert why == "this request is verified by email, not by an operator"
        assert (await handle.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        assert fakes.erase_calls == {}
        while not (await handle.query(ErasureWorkflow.progress)).code_sent:
            await asyncio.sleep(0.05)
        await handle.execute_update(
            ErasureWorkflow.submit_code, CodeSubmission(fakes.code, "requester")
        )
        assert (await handle.result()).status == "completed"


# Slow (about 24 s): the cancellation's status is recorded by a local activity held open
# here, and an update reaches the workflow only when that workflow task reports back (the
# SDK does so at 80 % of the 10 s task timeout, again while it stays open).
@pytest.mark.slow
async def test_an_approval_after_a_cancellation_is_refused(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """An approval that arrives after a cancellation (still being recorded: the workflow has
    not finished) is told why it does not count."""
    env, fakes = time_skipping_env, SlowToRecordCancellation()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        await handle.execute_update(ErasureWorkflow.cancel_request, CancelOrder("kim", "twice"))
        await fakes.recording.wait()  # the workflow is finishing: recording "cancelled"
        why = await refusal(
            handle, ErasureWorkflow.approve_identity, OperatorApproval("kim", "called back")
        )
        assert why == "the request has already finished (cancelled)"
        fakes.release.set()
        assert (await handle.result()).status == "cancelled"
    assert fakes.erase_calls == {} and fakes.plans == []


@pytest.mark.parametrize("sender", [keyless, other_keys], ids=["plain", "other-keys"])
async def test_an_approval_without_the_payload_key_is_refused_before_the_validator(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sender: object
) -> None:
    env, fakes = time_skipping_env, Fakes()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        theirs = sender(env.client).get_workflow_handle(handle.id)  # type: ignore[operator]
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await theirs.execute_update("approve_identity", OperatorApproval("mallory", "me"))
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "PayloadRefused"
        await env.sleep(timedelta(hours=1))
        assert (await handle.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        # The operator's own approval still goes through.
        await handle.execute_update(
            ErasureWorkflow.approve_identity, OperatorApproval("kim", "called back")
        )
        assert (await handle.result()).status == "completed"
    assert [s.actor for s in fakes.statuses if s.event == "verified"] == ["operator:kim"]


async def test_the_old_approve_signal_still_approves_and_still_drops_what_cannot_count(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes()
    async with fakes_worker(env.client, fakes, task_queue):
        handle: WorkflowHandle[ErasureWorkflow, ErasureResult] = await start(
            env.client, request(("forum",)), task_queue
        )
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", " "))
        await env.sleep(timedelta(hours=1))
        assert fakes.erase_calls == {}
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed"
    assert fakes.statuses[1].actor == "operator:kim"


# -- instruct -----------------------------------------------------------------------------


async def _referred_child(
    env: WorkflowEnvironment, task_queue: str, systems: tuple[str, ...]
) -> tuple[WorkflowHandle[ErasureWorkflow, ErasureResult], str]:
    req = request(systems, "preverified")
    handle = await start(env.client, req, task_queue)
    await env.sleep(timedelta(hours=1))
    return handle, req.request_id


async def test_an_instruction_by_update_is_answered_and_carried_out(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(processors={"lms": "acme-university"})
    async with fakes_worker(env.client, fakes, task_queue):
        handle, rid = await _referred_child(env, task_queue, ("forum", "lms"))
        child = env.client.get_workflow_handle(system_erasure_id(rid, "lms", 0))
        answer = await child.execute_update(
            SystemErasureWorkflow.instruct,
            ControllerInstruction(
                "retain", "kim", "exam records", legal_basis="gdpr-17-3-b", review_on="2030-01-01"
            ),
        )
        assert answer == "retain: carried out in round 1"
        result = await handle.result()
    [record] = fakes.instructions
    assert (record.instruction, record.operator, record.legal_basis) == (
        "retain",
        "kim",
        "gdpr-17-3-b",
    )
    lms = next(o for o in result.systems if o.system == "lms")
    assert (lms.outcome, lms.review_on) == ("retained", "2030-01-01")
    assert "lms" not in fakes.erase_calls


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        (ControllerInstruction("retain", "kim", "no basis"), "a retention needs its legal basis"),
        (
            ControllerInstruction("retain", "kim", "both", "contract", "2030-01-01", "2029-01-01"),
            "exactly one of a date kept until or a review date",
        ),
        (
            ControllerInstruction("retain", "kim", "neither", "contract"),
            "exactly one of a date kept until or a review date",
        ),
        (ControllerInstruction("erase", "kim", "   "), "needs who enters it and what"),
        (ControllerInstruction("erase", " ", "acme said so"), "needs who enters it and what"),
        (ControllerInstruction("shred", "kim", "x"), "an instruction is erase or retain"),
        (
            ControllerInstruction("erase", "kim", "x", legal_basis="contract"),
            "a legal basis and dates go with retain",
        ),
    ],
    ids=["no-basis", "two-dates", "no-date", "no-reason", "no-operator", "action", "erase-basis"],
)
async def test_an_instruction_that_cannot_be_carried_out_is_refused_with_its_reason(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    instruction: ControllerInstruction,
    reason: str,
) -> None:
    env, fakes = time_skipping_env, Fakes(processors={"lms": "acme-university"})
    async with fakes_worker(env.client, fakes, task_queue):
        handle, rid = await _referred_child(env, task_queue, ("lms",))
        child = env.client.get_workflow_handle(system_erasure_id(rid, "lms", 0))
        assert reason in await refusal(child, SystemErasureWorkflow.instruct, instruction)
        assert await child.query(SystemErasureWorkflow.stage) == "referred"
        assert fakes.instructions == [] and "lms" not in fakes.erase_calls
        await child.execute_update(
            SystemErasureWorkflow.instruct, ControllerInstruction("erase", "kim", "then erase")
        )
        assert (await handle.result()).status == "completed"
    assert [r.reason for r in fakes.instructions] == ["then erase"]


async def test_a_second_instruction_and_one_to_a_system_not_referred_are_refused(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    # lms: referred, then (on the instruction) pending for hours; crm: pending, never referred.
    fakes = Fakes(
        processors={"lms": "acme-university"},
        scripts={"lms": pending_for_days, "crm": pending_for_days},
        polls_until_done=10,
    )
    async with fakes_worker(env.client, fakes, task_queue):
        handle, rid = await _referred_child(env, task_queue, ("lms", "crm"))
        lms = env.client.get_workflow_handle(system_erasure_id(rid, "lms", 0))
        crm = env.client.get_workflow_handle(system_erasure_id(rid, "crm", 0))
        erase = ControllerInstruction("erase", "kim", "acme said erase")
        assert await refusal(crm, SystemErasureWorkflow.instruct, erase) == (
            "this system is not waiting for a controller's instruction (pending)"
        )
        await lms.execute_update(SystemErasureWorkflow.instruct, erase)
        assert await refusal(
            lms, SystemErasureWorkflow.instruct, ControllerInstruction("erase", "lee", "again")
        ) == ("an instruction was already given (erase, by kim)")
        await handle.result()
    assert [(r.system, r.operator) for r in fakes.instructions] == [("lms", "kim")]


async def test_the_old_instruction_signal_still_instructs(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, fakes = time_skipping_env, Fakes(processors={"lms": "acme-university"})
    async with fakes_worker(env.client, fakes, task_queue):
        handle, rid = await _referred_child(env, task_queue, ("lms",))
        child = env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, system_erasure_id(rid, "lms", 0)
        )
        await child.signal(
            SystemErasureWorkflow.controller_instruction,
            ControllerInstruction("erase", "kim", "acme said erase"),
        )
        assert (await handle.result()).status == "completed"
    assert [r.instruction for r in fakes.instructions] == ["erase"]
