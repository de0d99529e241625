"""The plan step (legal holds, processor-held systems) and controller referrals, on the
time-skipping server with the activities replaced by the fakes of test_erasure_workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import SystemOutcome, SystemTask
from workflows import (
    ControllerInstruction,
    ErasureWorkflow,
    OperatorApproval,
    SystemErasureWorkflow,
)

from .test_erasure_workflow import Fakes, fakes_worker, request, run, start


async def test_held_systems_are_retained_without_calling_their_connector(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(holds={"crm": "lh-1"})
    result = await run(time_skipping_env, fakes, request(("forum", "crm")), task_queue)
    assert result.status == "completed_with_exceptions"
    by_system = {o.system: o for o in result.systems}
    assert by_system["crm"].outcome == "retained"
    assert by_system["crm"].legal_basis == "legal-hold" and by_system["crm"].review_on
    assert by_system["forum"].outcome == "erased"
    assert dict(fakes.erase_calls) == {"forum": 1}  # crm's connector was never called
    assert fakes.referrals == []


async def _referred(
    env: WorkflowEnvironment,
    fakes: Fakes,
    task_queue: str,
    instruction: ControllerInstruction | None,
    *,
    wait: timedelta = timedelta(hours=1),
) -> tuple[str, object]:
    """Run a request with a processor-held ``lms``; give ``instruction`` after ``wait``."""
    req = request(("forum", "lms"), "preverified")
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await env.sleep(wait)
        child = env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{req.request_id}/lms/0"
        )
        stage = await child.query(SystemErasureWorkflow.stage)
        if instruction is not None:
            await child.signal(SystemErasureWorkflow.controller_instruction, instruction)
        result = await handle.result()
    return stage, result


async def test_processor_held_system_waits_for_the_controller_then_erases(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(processors={"lms": "acme-university"})
    stage, result = await _referred(
        time_skipping_env,
        fakes,
        task_queue,
        ControllerInstruction("erase", "kim", "acme's DPO asked us to erase (ticket 4411)"),
    )
    assert stage == "referred"
    [referral] = fakes.referrals
    assert (referral.system, referral.round, referral.controller) == ("lms", 0, "acme-university")
    assert not referral.connector_called and len(fakes.notices) == 1
    assert fakes.escalations == []
    [record] = fakes.instructions
    assert (record.instruction, record.operator, record.round) == ("erase", "kim", 0)
    # The connector is called only after the instruction, in the next round.
    assert ("lms", 1) in fakes.erase_rounds and ("lms", 0) not in fakes.erase_rounds
    assert result.status == "completed"  # type: ignore[attr-defined]


async def test_controller_may_instruct_retention_with_basis_and_date(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(processors={"lms": "acme-university"})
    _, result = await _referred(
        time_skipping_env,
        fakes,
        task_queue,
        ControllerInstruction(
            "retain",
            "kim",
            "exam records kept by the university",
            legal_basis="gdpr-17-3-b",
            retained_until="2031-07-31",
        ),
    )
    lms = next(o for o in result.systems if o.system == "lms")  # type: ignore[attr-defined]
    assert (lms.outcome, lms.legal_basis, lms.retained_until) == (
        "retained",
        "gdpr-17-3-b",
        "2031-07-31",
    )
    assert "lms" not in fakes.erase_calls
    assert result.status == "completed_with_exceptions"  # type: ignore[attr-defined]


async def test_no_answer_in_time_escalates_to_an_operator(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(processors={"lms": "acme-university"}, answer_within_seconds=14 * 86400)
    stage, result = await _referred(
        time_skipping_env,
        fakes,
        task_queue,
        ControllerInstruction("erase", "kim", "no answer from acme; erasing as processor"),
        wait=timedelta(days=15),
    )
    assert stage == "escalated"
    [escalation] = fakes.escalations
    assert "no instruction from acme-university within 14 days" in escalation.reason
    assert ("lms", 1) in fakes.erase_rounds
    assert result.status == "completed"  # type: ignore[attr-defined]


async def test_a_controller_that_refuses_the_notice_is_escalated_at_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(
        processors={"lms": "acme-university"},
        notify_error=ApplicationError(
            "controller answered HTTP 401", type="ControllerRefused", non_retryable=True
        ),
    )
    stage, _ = await _referred(
        time_skipping_env,
        fakes,
        task_queue,
        ControllerInstruction("erase", "kim", "acme confirmed by phone"),
    )
    assert stage == "escalated" and len(fakes.notices) == 1  # not retried
    assert "could not be notified" in fakes.escalations[0].reason
    assert "HTTP 401" in fakes.escalations[0].reason


async def test_malformed_instructions_are_ignored(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(processors={"lms": "acme-university"})
    req = request(("lms",), "preverified")
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await env.sleep(timedelta(hours=1))
        child = env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{req.request_id}/lms/0"
        )
        for bad in (
            ControllerInstruction("retain", "kim", "no basis given"),
            ControllerInstruction(
                "retain", "kim", "two dates", "contract", "2030-01-01", "2029-01-01"
            ),
            ControllerInstruction("erase", "kim", "   "),
            ControllerInstruction("shred", "kim", "not a thing"),
        ):
            await child.signal(SystemErasureWorkflow.controller_instruction, bad)
        await env.sleep(timedelta(hours=1))
        assert fakes.instructions == [] and "lms" not in fakes.erase_calls
        await child.signal(
            SystemErasureWorkflow.controller_instruction,
            ControllerInstruction("erase", "kim", "acme said erase"),
        )
        assert (await handle.result()).status == "completed"


async def test_a_connector_answering_referred_is_referred_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def refers(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(task.system, "referred", controller="acme-university")

    fakes = Fakes(scripts={"lms": refers})
    _, result = await _referred(
        time_skipping_env,
        fakes,
        task_queue,
        ControllerInstruction("erase", "kim", "acme said erase"),
    )
    [referral] = fakes.referrals
    assert referral.connector_called and referral.round == 0
    # Erased again on the instruction; the connector still refers: it ends referred, no loop.
    assert fakes.erase_rounds.count(("lms", 0)) == 1 and fakes.erase_rounds.count(("lms", 1)) == 1
    assert result.status == "completed_with_exceptions"  # type: ignore[attr-defined]


async def test_an_unknown_controller_is_escalated_without_notice(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(processors={"lms": "nobody-knows"})
    stage, _ = await _referred(
        time_skipping_env, fakes, task_queue, ControllerInstruction("erase", "kim", "decided")
    )
    assert stage == "escalated" and fakes.notices == []
    assert fakes.escalations[0].reason == "controller not configured"


async def test_approval_still_gates_the_plan(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(holds={"crm": "lh-1"})
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("crm",)), task_queue)
        await env.sleep(timedelta(hours=2))
        assert fakes.plans == []
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed_with_exceptions"
    assert len(fakes.plans) == 1
