"""``lethe task show|done|retain`` against a workflow waiting on a manual task: the task is
opened by the real activities over the real ledger (its event holds no identifier), the
operator's answer reaches the waiting workflow as an update, a refusal is one line that
changes nothing, and a task not done in time is escalated with an alert.

In process, against the time-skipping test server; the other activities are the fakes of
tests/workflows (as in tests/lethe/test_approval_cli.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import Alerter, ConsoleAlerts, ManualTaskActivities, activity_methods
from connectors.manual import ManualOptions
from ledger import Ledger
from lethe.worker import workflow_runner
from tests.lethe.test_approval_cli import _lethe, _recorded, _started, _state
from tests.lethe.test_approval_cli import client as client
from tests.lethe.test_approval_cli import ledger as ledger
from tests.support.canary import names_mailbox
from tests.support.cli import one_line_error
from tests.workflows.test_erasure_workflow import Fakes
from workflows import ALL_WORKFLOWS

INSTRUCTIONS = "Shred the paper application in cabinet B; note the folder number."
FAKED = {"open_manual_task", "escalate_manual_task", "record_manual_answer"}


def worker(
    client: Client, fakes: Fakes, ledger: Ledger, queue: str, **options: Any
) -> tuple[Worker, ConsoleAlerts]:
    """The fakes' activities, but the manual tasks' are the real ones, over the real ledger."""
    console = ConsoleAlerts(write=lambda _: None)
    manual = ManualTaskActivities(
        ledger,
        {"paper": ManualOptions(instructions=INSTRUCTIONS, assignee="records team", **options)},
        alerter=Alerter(ledger, [console]),
    )
    fake: list[Callable[..., Any]] = [
        a for a in fakes.all() if getattr(a, "__temporal_activity_definition").name not in FAKED
    ]
    return (
        Worker(
            client,
            task_queue=queue,
            workflows=ALL_WORKFLOWS,
            workflow_runner=workflow_runner(),
            activities=[*fake, *activity_methods(manual)],
        ),
        console,
    )


async def _alerted(console: ConsoleAlerts, n: int) -> list[str]:
    """The events of the alerts printed, once ``n`` are (the activity alerts after it writes)."""
    for _ in range(400):
        if len(console.printed) >= n:
            break
        await asyncio.sleep(0.05)
    return [a.event for a in console.printed]


def _json(out: str) -> Any:
    """The JSON a command printed (the worker's log lines in this process may precede it)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line[:1] in ("{", "["))
    return json.loads("\n".join(lines[start:]))


async def _opened(ledger: Ledger, rid: str, kind: str = "manual_task_opened") -> dict[str, Any]:
    for _ in range(400):
        for event in await ledger.events(rid):
            if event.kind == kind:
                return dict(event.detail)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} event")


async def test_an_operator_shows_and_answers_a_manual_task(
    ledger: Ledger,
    client: Client,
    task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fakes = Fakes(manual={"paper": 0.0})
    runner, console = worker(client, fakes, ledger, task_queue, due_within_days=10)
    async with runner:
        rid = await _recorded(ledger, "preverified", ("forum", "paper"))
        handle = await _started(client, rid, "preverified", ("forum", "paper"), task_queue)
        opened = await _opened(ledger, rid)
        assert opened["instructions"] == INSTRUCTIONS and opened["assignee"] == "records team"
        assert not names_mailbox(json.dumps(opened))
        assert await _alerted(console, 1) == ["manual_task_opened"]
        [alert] = console.printed
        assert alert.event == "manual_task_opened" and alert.system == "paper"
        assert "records team" in alert.what and "lethe task done" in alert.what

        assert await _lethe("task", "list", "--json") == 0
        [listed] = [t for t in _json(capsys.readouterr().out) if t["request_id"] == rid]
        assert listed["system"] == "paper" and listed["assignee"] == "records team"
        assert await _lethe("task", "show", rid, "--system", "paper", "--json") == 0
        shown = _json(capsys.readouterr().out)
        assert shown["instructions"] == INSTRUCTIONS and "identifiers" not in shown
        assert await _lethe("task", "show", rid, "--system", "paper", "--reveal") == 0
        assert "ada@example.org" in capsys.readouterr().out

        before = await _state(ledger, rid)
        assert await _lethe("task", "done", rid, "--system", "crm", "--evidence", "x") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: {rid} has no system 'crm' (its systems: forum, paper)"
        )
        assert await _lethe("task", "done", rid, "--system", "forum", "--evidence", "x") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: forum of {rid} is not waiting for a manual task"
        )
        retain = ("task", "retain", rid, "--system", "paper", "--basis", "gdpr-17-3-b")
        assert await _lethe(*retain, "--reason", "kept") == 1
        assert one_line_error(capsys) == (
            "lethe: error: task retain needs --until DATE or --review-on DATE"
        )
        assert await _lethe(*retain, "--until", "2020-01-01", "--reason", "kept") == 1
        assert "in the past" in one_line_error(capsys)
        assert await _lethe("task", "done", rid, "--system", "paper", "--evidence", " ") == 1
        assert one_line_error(capsys) == "lethe: error: --evidence must say what was done"
        assert await _state(ledger, rid) == before

        evidence = "shredded the folder of Ada@Example.org (ticket 12)"
        assert await _lethe("task", "done", rid, "--system", "paper", "--evidence", evidence) == 0
        out = capsys.readouterr()
        assert f"paper of {rid}: done, recorded as erased." in out.out
        result = await handle.result()
        assert await _lethe("task", "list", "--json") == 0
        assert [t for t in _json(capsys.readouterr().out) if t["request_id"] == rid] == []
        assert await _lethe("task", "done", rid, "--system", "paper", "--evidence", "again") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: paper of {rid} is not waiting for a manual task"
        )

    assert {o.system: o.outcome for o in result.systems} == {"forum": "erased", "paper": "erased"}
    [outcome] = [o for o in await ledger.outcomes(rid) if o.system == "paper"]
    assert outcome.outcome == "erased" and outcome.counts == {"tasks.done": 1}
    assert outcome.evidence["manual_task"] is True
    done = await _opened(ledger, rid, "manual_task_done")
    assert done["evidence"] == "shredded the folder of [redacted] (ticket 12)"
    for event in await ledger.events(rid):
        assert "ada@" not in json.dumps(event.detail).lower(), event.kind
    assert "ada@" not in json.dumps(outcome.evidence).lower()


async def test_a_task_not_done_in_time_is_escalated_with_an_alert_and_kept_on_answer(
    ledger: Ledger,
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fakes = Fakes(manual={"paper": 0.0})
    runner, console = worker(client, fakes, ledger, task_queue, due_within_days=2)
    async with runner:
        rid = await _recorded(ledger, "preverified", ("paper",))
        handle = await _started(client, rid, "preverified", ("paper",), task_queue)
        await _opened(ledger, rid)
        await time_skipping_env.sleep(timedelta(days=3))
        overdue = await _opened(ledger, rid, "manual_task_overdue")
        assert "records team" in overdue["reason"]
        assert await _alerted(console, 2) == ["manual_task_opened", "manual_task_overdue"]
        assert await _lethe("task", "show", rid, "--system", "paper") == 0
        assert "(OVERDUE)" in capsys.readouterr().out
        assert await _lethe("status", rid) == 0
        assert "Manual task: paper waits for records team (OVERDUE, due" in (
            capsys.readouterr().out
        )
        kept = ("task", "retain", rid, "--system", "paper", "--basis", "gdpr-17-3-b")
        reason = "signed paper contract, kept for the tax office (file 88)"
        assert await _lethe(*kept, "--until", "2036-12-31", "--reason", reason) == 0
        assert "retained under gdpr-17-3-b, until 2036-12-31" in capsys.readouterr().out
        result = await handle.result()
    assert result.status == "completed_with_exceptions"
    [outcome] = await ledger.outcomes(rid)
    assert outcome.outcome == "retained" and outcome.legal_basis == "gdpr-17-3-b"
    assert str(outcome.retained_until) == "2036-12-31"
    assert await _lethe("status", rid) == 0
    assert "Manual task:" not in capsys.readouterr().out
    retained = await _opened(ledger, rid, "manual_task_retained")
    assert retained["evidence"] == reason and retained["retained_until"] == "2036-12-31"
