"""Histories of workflows under way replay on the code that follows them.

``histories/erasure_partially_failed_before_status_from_ledger.json`` was recorded with the
code of commit 809b55b (before the ``status-from-ledger`` patch), with the default data
converter: an operator-approved request whose crm failed, answered ``partially_failed``.
"""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities import SystemOutcome, SystemTask
from lethe.worker import workflow_runner
from workflows import ALL_WORKFLOWS, STATUS_FROM_LEDGER, CancelOrder, ErasureWorkflow
from workflows.erasure import LEDGER_STEPS_LOCAL, SYSTEMS_AT_ONCE

from .test_erasure_workflow import Fakes, fakes_worker, request, run, start

HISTORIES = Path(__file__).parent / "histories"


def _activities(history: WorkflowHistory) -> list[str]:
    """The activities the history scheduled (activity tasks on the server), in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def _local_activities(history: WorkflowHistory) -> list[str]:
    """The local activities the history recorded (one marker each, written by the worker that
    ran them within a workflow task), in order."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


async def test_a_history_from_before_the_status_patch_still_replays() -> None:
    path = HISTORIES / "erasure_partially_failed_before_status_from_ledger.json"
    history = WorkflowHistory.from_json("erasure/er-fd70dd852b08", path.read_text())
    # Recorded by the old code: its answer was record_status, computed in the workflow; its
    # ledger steps were activity tasks (before ``ledger-steps-local``).
    assert "record_answer" not in _activities(history)
    assert _activities(history)[-2:] == ["record_status", "seal_request"]
    assert _local_activities(history) == []
    result = await Replayer(
        workflows=ALL_WORKFLOWS, workflow_runner=workflow_runner()
    ).replay_workflow(history)
    assert result.replay_failure is None


def _fails(task: SystemTask, _: int) -> SystemOutcome:
    raise ApplicationError("the CRM refused", type="PermanentError", non_retryable=True)


async def test_a_history_of_this_code_replays_and_carries_the_patch(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Fakes(scripts={"crm": _fails})
    result = await run(env, fakes, request(("forum", "crm")), task_queue)
    assert result.status == "partially_failed"
    handle = env.client.get_workflow_handle(f"erasure/{result.request_id}")
    history = await handle.fetch_history()
    # The ledger steps ran as local activities (``ledger-steps-local``): markers, in order,
    # and no activity task of theirs; the connector calls are still activity tasks.
    assert _local_activities(history) == [
        "record_status",  # awaiting verification
        "record_status",  # verified: erasing
        "plan_erasure",
        "record_answer",
        "seal_request",
    ]
    ledger_steps = {"record_status", "plan_erasure", "record_answer", "seal_request"}
    assert not ledger_steps & set(_activities(history))
    patches = [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert [p["id"] for p in patches] == [LEDGER_STEPS_LOCAL, SYSTEMS_AT_ONCE, STATUS_FROM_LEDGER]
    # Both systems answered at once: erased, verified or failed by the request's workflow
    # itself, with no child workflow.
    assert not [
        e
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert _activities(history).count("erase_in_system") == 2
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=env.client.data_converter,
    )
    assert (await replayer.replay_workflow(history)).replay_failure is None


async def test_a_task_that_delivered_an_update_does_not_close_the_request(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A cancellation sent as the request starts is answered in the task that delivered it,
    and the request closes in a later task: were the update's task to fail as it closed the
    execution, Temporal would fail the update though the request was cancelled."""
    env = time_skipping_env
    req = request(("forum",), "operator")
    async with fakes_worker(env.client, Fakes(), task_queue):
        handle = await start(env.client, req, task_queue)
        said = await handle.execute_update(
            ErasureWorkflow.cancel_request, CancelOrder("kim", "filed twice")
        )
        assert said.startswith("cancelled before verification")
        assert (await handle.result()).status == "cancelled"
        kinds = [e.event_type for e in (await handle.fetch_history()).events]
    accepted = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    closed = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[accepted:closed]
