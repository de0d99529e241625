"""Stored histories of ErasureWorkflow (and of a system's SystemErasureWorkflow) replay without
nondeterminism on today's code.

Each file in ``histories/`` is a real execution (time-skipping server, the fake activities
of test_erasure_workflow, no personal data: a made-up request id and pseudonym) recorded
before a change to the workflow's command sequence. A workflow still running when a new
worker is deployed replays its history on the new code; if the new code would issue other
commands for the same events, the worker fails the task and the request stalls. Whenever a
change alters the workflow's commands, record a history with the code before it and add it
here (and guard the change with ``workflow.patched``). ``record_histories.py`` records the
newer ones (``python -m tests.workflows.record_histories NAME``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from lethe.worker import workflow_runner
from workflows import ALL_WORKFLOWS, system_erasure_id, workflow_id_for

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 8
    names = {p.stem for p in HISTORIES}
    # The update paths that replaced the approve and controller_instruction signals.
    assert {"operator_approved_by_update", "referral_instructed_by_update"} <= names
    # A request that keeps Lethe's search attributes current (its upserts are commands).
    assert "search_attributes_kept_current" in names
    # An escalated referral, before and after the child tells the request's workflow.
    assert {
        "referral_escalated_child",
        "referral_escalated_request",
        "referral_escalated_child_before_escalation_to_request",
        "referral_escalated_request_before_escalation_to_request",
    } <= names
    # A processor's promise waited on, and the processor_answered signal that ended it.
    assert "processor_answered_by_callback" in names
    # The request's ledger steps as local activities (``ledger-steps-local``), an update
    # answered between them.
    assert "ledger_steps_local" in names


def _workflow_id(raw: str) -> str:
    """The recorded workflow's id, from its input (recorded with the default converter): a
    child's id is derived from its parent's, so the replay must use the same one."""
    started = json.loads(raw)["events"][0]["workflowExecutionStartedEventAttributes"]
    job = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    if started["workflowType"]["name"] == "SystemErasureWorkflow":
        return system_erasure_id(job["request_id"], job["system"], job["round"])
    return workflow_id_for(job["request_id"])


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_stored_history_replays(path: Path) -> None:
    raw = path.read_text()
    history = WorkflowHistory.from_json(_workflow_id(raw), raw)
    result = await Replayer(
        workflows=ALL_WORKFLOWS, workflow_runner=workflow_runner()
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
