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

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import (
        PlanInput,
        PlanningActivities,
        RoundActivities,
        RoundStatus,
        RoundTask,
        SealingActivities,
        SystemOutcome,
    )

    from .round_types import SystemRound
    from .types import SystemErasure

from .activity_options import LEDGER
from .ids import system_erasure_id
from .system_erasure import erase_in_child

__all__ = ["SystemRoundWorkflow"]


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
            **LEDGER,
        )
        plan = await workflow.execute_activity_method(
            PlanningActivities.plan_erasure,
            PlanInput(job.request_id, (job.system,), job.round),
            **LEDGER,
        )
        [step] = plan.systems
        if step.outcome is not None:
            outcome = step.outcome
        else:
            self._stage = "erasing"
            outcome = await erase_in_child(
                SystemErasure(
                    job.request_id,
                    job.system,
                    job.round,
                    job.policy,
                    refer_to=step.controller if step.action == "refer" else None,
                    manual=step.action == "manual",
                ),
                system_erasure_id(job.request_id, job.system, job.round),
            )
        await workflow.execute_activity_method(
            RoundActivities.close_round,
            task,
            **LEDGER,
        )
        # The activity computes the status from the ledger, and leaves a request that is
        # still open alone (its own workflow answers it, reading this round's outcome).
        await workflow.execute_activity_method(
            RoundActivities.record_round_status,
            RoundStatus(job.request_id, "", job.system, job.round, job.trigger),
            **LEDGER,
        )
        # Sealing is idempotent and appends only what is new: this round's receipt.
        await workflow.execute_activity_method(
            SealingActivities.seal_request,
            job.request_id,
            **LEDGER,
        )
        self._stage = outcome.outcome
        return outcome
