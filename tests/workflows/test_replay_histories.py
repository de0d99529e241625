"""Stored histories of ErasureWorkflow replay without nondeterminism on today's code.

Each file in ``histories/`` is a real execution (time-skipping server, the fake activities
of test_erasure_workflow, no personal data: a made-up request id and pseudonym) recorded
before a change to the workflow's command sequence. A workflow still running when a new
worker is deployed replays its history on the new code; if the new code would issue other
commands for the same events, the worker fails the task and the request stalls. Add a
history here whenever the workflow changes (see docs/development.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_stored_history_replays(path: Path) -> None:
    # Recorded as request er-replay-<stem>: a child's id is derived from the parent's.
    workflow_id = f"erasure/er-replay-{path.stem.replace('_', '-')}"
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    result = await Replayer(workflows=ALL_WORKFLOWS).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
