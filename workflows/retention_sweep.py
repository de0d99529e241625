"""One retention sweep: a short workflow that a Temporal Schedule starts every so often.

    find what is due today (ledger) ─▶ start one SystemRoundWorkflow per due system (abandoned:
    the sweep does not wait for them) ─▶ shred the vault keys of requests that no longer need
    them ─▶ look for open requests that stopped progressing, and alert ─▶ done

Years of retention never live in one workflow's history: the dates are in the ledger, each
sweep reads them afresh and ends within seconds. A system found due twice (two sweeps, or a
round still running) gets one round: the round's workflow id is the guard.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities import (
        DueQuery,
        ProgressActivities,
        RoundActivities,
        ShredQuery,
        ShredReport,
        StallQuery,
    )

    from .round_types import StartedRound, Sweep, SweepResult, SystemRound

from .activity_options import STALL_CHECK, SWEEP_LEDGER
from .ids import round_workflow_id
from .system_round import SystemRoundWorkflow

__all__ = ["CHECK_STALLED_REQUESTS", "RetentionSweepWorkflow"]

#: Patch: the sweep also looks for open requests nobody serves (``find_stalled_requests``).
CHECK_STALLED_REQUESTS = "check-stalled-requests"


@workflow.defn(name="RetentionSweepWorkflow")
class RetentionSweepWorkflow:
    @workflow.run
    async def run(self, sweep: Sweep) -> SweepResult:
        now = workflow.now().isoformat()
        due = await workflow.execute_activity_method(
            RoundActivities.find_due_rounds,
            DueQuery(now, sweep.limit),
            **SWEEP_LEDGER,
        )
        started: list[StartedRound] = []
        running: list[str] = []
        for item in due.rounds:
            wid = round_workflow_id(item.request_id, item.system, item.round)
            try:
                await workflow.start_child_workflow(
                    SystemRoundWorkflow.run,
                    SystemRound(
                        item.request_id,
                        item.system,
                        item.round,
                        item.trigger,
                        "sweeper",
                        item.reason,
                        item.exception_id,
                        sweep.policy,
                    ),
                    id=wid,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                running.append(wid)
                continue
            started.append(
                StartedRound(item.request_id, item.system, item.round, item.trigger, wid)
            )
        shredded = ShredReport()
        if sweep.shred:
            shredded = await workflow.execute_activity_method(
                RoundActivities.shred_expired,
                ShredQuery(now),
                **SWEEP_LEDGER,
            )
        if workflow.patched(CHECK_STALLED_REQUESTS):
            # Long before a deadline: a request whose workflow task keeps failing, whose
            # workflow is gone, or whose system is retried for hours. Never fails the sweep.
            try:
                await workflow.execute_activity_method(
                    ProgressActivities.find_stalled_requests,
                    StallQuery(now, sweep.limit),
                    **STALL_CHECK,
                )
            except ActivityError:
                workflow.logger.warning("stall check failed")
        workflow.logger.info(
            "sweep finished",
            extra={"started": len(started), "running": len(running)},
        )
        return SweepResult(tuple(started), tuple(running), shredded.shredded)
