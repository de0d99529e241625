"""A later round of one system of a request: the same request, erased again.

    open the round (ledger) ─▶ plan (a hold still active ⇒ Retained again, connector not called)
        ─▶ SystemErasureWorkflow for this round (erase │ refer to the controller)
        ─▶ close the round: earlier exceptions resolved or superseded ─▶ the request's status
           (from the ledger's latest outcomes; a request still open keeps its status)
        ─▶ seal: the round's receipt (and the request's new state) enter the proof log

Started by the retention sweep (an exception's date passed, or its hold was released), by
``lethe retry`` (a failed system) and by ``lethe backups replay`` (a restore brought data back).
The outcome is appended to the original request's record as round N.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities import (
        PlanInput,
        PlanningActivities,
        RecordingActivities,
        RoundActivities,
        RoundStatus,
        RoundTask,
        SealingActivities,
        SystemFailure,
        SystemOutcome,
    )

    from .round_types import SystemRound
    from .types import SystemErasure

from .system_erasure import SystemErasureWorkflow

__all__ = ["SystemRoundWorkflow", "round_workflow_id", "system_erasure_id"]

_LEDGER_TIMEOUT = timedelta(seconds=60)
_LEDGER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))


def round_workflow_id(request_id: str, system: str, round_: int) -> str:
    return f"erasure/{request_id}/round/{system}/{round_}"


def system_erasure_id(request_id: str, system: str, round_: int) -> str:
    """The same pattern as the request's own children (``erasure/ID/SYSTEM/0``)."""
    return f"erasure/{request_id}/{system}/{round_}"


@workflow.defn(name="SystemRoundWorkflow")
class SystemRoundWorkflow:
    def __init__(self) -> None:
        self._stage = "starting"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, job: SystemRound) -> SystemOutcome:
        task = RoundTask(
            job.request_id,
            job.system,
            job.round,
            job.trigger,
            job.actor,
            job.reason,
            job.exception_id,
        )
        await workflow.execute_activity_method(
            RoundActivities.open_round,
            task,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        plan = await workflow.execute_activity_method(
            PlanningActivities.plan_erasure,
            PlanInput(job.request_id, (job.system,), job.round),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        [step] = plan.systems
        if step.outcome is not None:
            outcome = step.outcome
        else:
            self._stage = "erasing"
            try:
                outcome = await workflow.execute_child_workflow(
                    SystemErasureWorkflow.run,
                    SystemErasure(
                        job.request_id,
                        job.system,
                        job.round,
                        job.policy,
                        refer_to=step.controller if step.action == "refer" else None,
                    ),
                    id=system_erasure_id(job.request_id, job.system, job.round),
                )
            except ChildWorkflowError as err:
                outcome = await workflow.execute_activity_method(
                    RecordingActivities.record_system_failure,
                    SystemFailure(
                        job.request_id, job.system, job.round, f"system workflow ended: {err.cause}"
                    ),
                    start_to_close_timeout=_LEDGER_TIMEOUT,
                    retry_policy=_LEDGER_RETRY,
                )
        await workflow.execute_activity_method(
            RoundActivities.close_round,
            task,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        # The activity computes the status from the ledger, and leaves a request that is
        # still open alone (its own workflow answers it, reading this round's outcome).
        await workflow.execute_activity_method(
            RoundActivities.record_round_status,
            RoundStatus(job.request_id, "", job.system, job.round, job.trigger),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        # Sealing is idempotent and appends only what is new: this round's receipt.
        await workflow.execute_activity_method(
            SealingActivities.seal_request,
            job.request_id,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        self._stage = outcome.outcome
        return outcome
