"""Later rounds and the retention sweep, on the time-skipping server with fake activities."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities import DueRound
from ledger import Ledger, OutcomeEntry
from lethe.keys import Keyring
from lethe.settings import Settings, TemporalSettings
from lethe.sweeper import RoundRefused, start_round
from tests.support.clock import own_time_skipping_env
from tests.support.requests import finished_request
from workflows import (
    ControllerInstruction,
    RetentionSweepWorkflow,
    StartedRound,
    Sweep,
    SystemErasureWorkflow,
    SystemRound,
    SystemRoundWorkflow,
    round_workflow_id,
)

from .test_erasure_workflow import FAST, Fakes, fakes_worker


def a_round(system: str = "crm", round_: int = 1, trigger: str = "retry") -> SystemRound:
    return SystemRound(
        f"er-{uuid.uuid4().hex[:12]}",
        system,
        round_,
        trigger,
        "operator:kim",
        "the CRM was back up",
        policy=FAST,
    )


async def test_a_round_erases_and_settles_the_request(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Fakes(latest={"crm": "erased", "forum": "erased", "backups": "retained"})
    job = a_round()
    async with fakes_worker(env.client, fakes, task_queue):
        out = await env.client.execute_workflow(
            SystemRoundWorkflow.run,
            job,
            id=round_workflow_id(job.request_id, job.system, job.round),
            task_queue=task_queue,
        )
    assert out.outcome == "erased"
    assert fakes.erase_rounds == [("crm", 1)]
    [opened] = fakes.rounds_opened
    assert (opened.round, opened.trigger, opened.actor) == (1, "retry", "operator:kim")
    assert [p.round for p in fakes.plans] == [1]  # holds are checked again for every round
    assert len(fakes.rounds_closed) == 1
    # The request's status is settled after the round closed (the ledger computes it:
    # tests/ledger/test_request_status.py).
    [status] = fakes.round_statuses
    assert (status.request_id, status.system, status.round, status.trigger) == (
        job.request_id,
        "crm",
        1,
        "retry",
    )


async def test_a_round_on_a_still_held_system_calls_no_connector(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Fakes(holds={"crm": "lh-2"}, latest={"crm": "retained"})
    job = a_round(trigger="retention_expired")
    async with fakes_worker(env.client, fakes, task_queue):
        out = await env.client.execute_workflow(
            SystemRoundWorkflow.run, job, id=f"round-{uuid.uuid4()}", task_queue=task_queue
        )
    assert out.outcome == "retained" and fakes.erase_calls == {}
    assert [s.system for s in fakes.round_statuses] == ["crm"]


async def test_a_sweep_starts_due_rounds_and_does_not_wait_for_them(
    keys: Keyring, task_queue: str
) -> None:
    async with own_time_skipping_env(keys) as env:  # abandoned children: see tests/support/clock
        await _sweep_starts_due_rounds(env, task_queue)


async def _sweep_starts_due_rounds(env: WorkflowEnvironment, task_queue: str) -> None:
    rid = f"er-{uuid.uuid4().hex[:12]}"
    fakes = Fakes(
        processors={"lms": "acme-university"},
        latest={"crm": "erased", "lms": "erased"},
        due=[
            DueRound(rid, "crm", 1, "hold_released", "legal hold lh-1 was released", 7),
            DueRound(rid, "lms", 2, "retention_expired", "retained until 2026-01-01", 8),
        ],
        shred=("er-old",),
    )
    async with fakes_worker(env.client, fakes, task_queue):
        first = await env.client.execute_workflow(
            RetentionSweepWorkflow.run,
            Sweep(policy=FAST),
            id=f"sweep-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        assert [(s.system, s.round, s.trigger) for s in first.started] == [
            ("crm", 1, "hold_released"),
            ("lms", 2, "retention_expired"),
        ]
        assert first.shredded == ("er-old",)
        # crm's round finished on its own; lms's round waits for the controller, and the
        # sweep that started it is already over.
        crm = env.client.get_workflow_handle_for(
            SystemRoundWorkflow.run, first.started[0].workflow_id
        )
        assert (await crm.result()).outcome == "erased"
        lms = env.client.get_workflow_handle_for(
            SystemRoundWorkflow.run, first.started[1].workflow_id
        )
        assert (await lms.describe()).status == WorkflowExecutionStatus.RUNNING

        # A second sweep finds lms due again: the running round is the guard, no second one.
        fakes.due = fakes.due[1:]
        second = await env.client.execute_workflow(
            RetentionSweepWorkflow.run,
            Sweep(policy=FAST, shred=False),
            id=f"sweep-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        assert second.started == () and second.already_running == (first.started[1].workflow_id,)

        child = env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{rid}/lms/2"
        )
        await child.signal(
            SystemErasureWorkflow.controller_instruction,
            ControllerInstruction("erase", "kim", "acme said erase"),
        )
        assert (await lms.result()).outcome == "erased"
    assert ("lms", 3) in fakes.erase_rounds  # the instruction is carried out in the next round
    assert {r.trigger for r in fakes.rounds_opened} == {"hold_released", "retention_expired"}


async def test_a_sweep_with_nothing_due_is_short(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await env.client.start_workflow(
            RetentionSweepWorkflow.run,
            Sweep(policy=FAST),
            id=f"sweep-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.started == () and result.shredded == ()
    assert len(fakes.stall_checks) == 1  # and it looked for requests nobody serves
    # Three activities and nothing else: no timers, nothing that grows with waiting.
    assert len(history.events) <= 26
    assert not any(e.HasField("timer_started_event_attributes") for e in history.events)


async def test_a_round_number_is_started_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    """Two operators retrying the same system at once, or one who counted the rounds before
    the other's ended: the server refuses the second start of the same round."""
    env = time_skipping_env
    rid = f"er-{uuid.uuid4().hex[:12]}"
    await finished_request(sqlite_ledger, rid, {"lms": OutcomeEntry("failed", error="down")})
    settings = Settings(
        home=tmp_path, database_url="sqlite://", temporal=TemporalSettings(task_queue=task_queue)
    )
    # lms is processor-held: its round waits for the controller, so it is still running.
    fakes = Fakes(processors={"lms": "acme-university"})

    async def retry() -> StartedRound:
        return await start_round(
            env.client,
            settings,
            sqlite_ledger,
            request_id=rid,
            system="lms",
            trigger="retry",
            actor="operator:kim",
            reason="fixed",
        )

    async with fakes_worker(env.client, fakes, task_queue):
        first = await retry()
        assert first.round == 1
        with pytest.raises(RoundRefused, match=r"round 1 of lms for er-\w+ is already running"):
            await retry()
        await env.sleep(timedelta(hours=1))
        child = env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{rid}/lms/1"
        )
        await child.signal(
            SystemErasureWorkflow.controller_instruction,
            ControllerInstruction("erase", "kim", "acme said erase"),
        )
        handle = env.client.get_workflow_handle_for(SystemRoundWorkflow.run, first.workflow_id)
        assert (await handle.result()).outcome == "erased"
        # The fakes wrote nothing to the ledger: it still counts round 1 as the next one.
        with pytest.raises(RoundRefused, match=r"round 1 of lms .* has just finished"):
            await retry()
    assert len(fakes.rounds_opened) == 1
