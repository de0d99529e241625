"""The retention sweeper's Schedule, a sweep on demand, and starting a later round.

The sweeper is a Temporal Schedule (id ``lethe-retention-sweeper/<task queue>``) that starts a
short ``RetentionSweepWorkflow`` every ``[retention] sweep_every_minutes`` (default 60). It is
created, or updated to the current settings, when a worker starts (unless
``[retention] install_schedule = false``) and by ``lethe sweeper install``; both are
idempotent. Overlapping sweeps are skipped. ``lethe sweeper run-once`` starts one sweep now.

Later rounds (sweeper, ``lethe retry``, ``lethe backups replay``) all go through
:func:`start_round`: round N+1 of the same request, one ``SystemRoundWorkflow``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from ledger import ErasureRounds, Ledger
from workflows import (
    RetentionSweepWorkflow,
    StartedRound,
    Sweep,
    SweepResult,
    SystemRound,
    SystemRoundWorkflow,
    round_workflow_id,
)

from .errors import LetheError
from .intake import policy_from
from .settings import Settings

__all__ = [
    "RoundRefused",
    "SweepRun",
    "install_sweeper",
    "run_sweep_once",
    "schedule_id",
    "start_round",
    "sweep_input",
]


class RoundRefused(LetheError):
    """A round of that system is already running."""


def schedule_id(task_queue: str) -> str:
    return f"lethe-retention-sweeper/{task_queue}"


def sweep_input(settings: Settings) -> Sweep:
    return Sweep(policy=policy_from(settings), limit=settings.retention.sweep_limit)


def _schedule(settings: Settings) -> Schedule:
    tq = settings.temporal.task_queue
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionSweepWorkflow.run,
            sweep_input(settings),
            id=f"lethe-sweep/{tq}",
            task_queue=tq,
            execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(
                    every=timedelta(minutes=settings.retention.sweep_every_minutes)
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            note="Lethe retention sweeper: re-erases systems whose retention ended, "
            "shreds vault keys no longer needed"
        ),
    )


async def install_sweeper(client: Client, settings: Settings) -> str:
    """Create the sweeper's Schedule, or bring it up to date. ``created`` or ``updated``."""
    sid = schedule_id(settings.temporal.task_queue)
    schedule = _schedule(settings)
    try:
        await client.create_schedule(sid, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(sid).update(update)
    return "updated"


@dataclass(frozen=True)
class SweepRun:
    result: SweepResult
    workflow_id: str
    finished: dict[str, str]  # round workflow id -> outcome (with wait=True)


async def run_sweep_once(client: Client, settings: Settings, *, wait: bool = False) -> SweepRun:
    """One sweep now; with ``wait``, also wait for the rounds it started."""
    tq = settings.temporal.task_queue
    wid = f"lethe-sweep/{tq}/manual-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        RetentionSweepWorkflow.run, sweep_input(settings), id=wid, task_queue=tq
    )
    result = await handle.result()
    finished: dict[str, str] = {}
    if wait:
        for started in result.started:
            out = await client.get_workflow_handle_for(
                SystemRoundWorkflow.run, started.workflow_id
            ).result()
            finished[started.workflow_id] = out.outcome
    return SweepRun(result, wid, finished)


async def start_round(
    client: Client,
    settings: Settings,
    ledger: Ledger,
    *,
    request_id: str,
    system: str,
    trigger: str,
    actor: str,
    reason: str,
) -> StartedRound:
    """Start the next round of one system of a request (or resume an unfinished one)."""
    round_ = await ErasureRounds(ledger).next_round(request_id, system)
    wid = round_workflow_id(request_id, system, round_)
    try:
        await client.start_workflow(
            SystemRoundWorkflow.run,
            SystemRound(
                request_id, system, round_, trigger, actor, reason, policy=policy_from(settings)
            ),
            id=wid,
            task_queue=settings.temporal.task_queue,
            # One workflow id per round: the server refuses a second start while the round
            # runs (two operators at once), and after it completed (a caller that counted
            # rounds before it ended). A round that failed or was terminated may be resumed.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        how = await _round_state(client, wid)
        raise RoundRefused(f"round {round_} of {system} for {request_id} {how} ({wid})") from None
    return StartedRound(request_id, system, round_, trigger, wid)


async def _round_state(client: Client, wid: str) -> str:
    try:
        described = await client.get_workflow_handle(wid).describe()
    except RPCError:
        return "was started already"
    if described.status == WorkflowExecutionStatus.RUNNING:
        return "is already running"
    return "has just finished: see lethe status"
