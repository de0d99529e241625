"""Record the stored histories of ``histories/`` that this module knows how to make.

    .venv/bin/python -m tests.workflows.record_histories [NAME ...]

Each is a real execution on the time-skipping test server, with the fake activities of
test_erasure_workflow and Temporal's default data converter (plain JSON: the replay test reads
the request id from the input, and replays without keys). No personal data: a made-up request
id and pseudonym. Record a history with the code *before* a change to a workflow's commands,
then make the change (behind ``workflow.patched``) and check the history still replays
(test_replay_histories.py).

The older histories of the directory were recorded the same way by earlier versions of this
procedure (their recipes are in the commits that added them).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities import SystemOutcome, SystemTask
from lethe.search_attributes import register_search_attributes
from workflows import (
    ControllerInstruction,
    ErasureWorkflow,
    OperatorApproval,
    SystemErasureWorkflow,
    system_erasure_id,
    workflow_id_for,
)
from workflows.search_attributes import initial_attributes

from .test_erasure_workflow import Fakes, fakes_worker, request

HISTORIES = Path(__file__).parent / "histories"
BIN = Path(sys.executable).parent


async def _approved_by_update(
    client: Client, task_queue: str, request_id: str, reason: str
) -> WorkflowHistory:
    """An operator-verified request (forum, crm) approved with the ``approve_identity``
    update while it waits, run to the end."""
    req = replace(request(("forum", "crm"), "operator"), request_id=request_id)
    fakes = Fakes()
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run, req, id=workflow_id_for(req.request_id), task_queue=task_queue
        )
        await handle.execute_update(
            ErasureWorkflow.approve_identity, OperatorApproval("kim", reason)
        )
        result = await handle.result()
        assert result.status == "completed", result
        return await handle.fetch_history()


async def operator_approved_by_update(client: Client, task_queue: str) -> WorkflowHistory:
    """An operator-verified request approved with the ``approve_identity`` update."""
    return await _approved_by_update(
        client, task_queue, "er-0a1b2c3d4e5f", "called back, ticket 12"
    )


async def search_attributes_kept_current(client: Client, task_queue: str) -> WorkflowHistory:
    """An operator-verified request started with Lethe's search attributes (as intake starts
    one where the namespace has them): its upserts, behind ``lethe-search-attributes``."""
    req = replace(
        request(("forum", "crm"), "operator"),
        request_id="er-5a1e5a1e5a1e",
        search_attributes=True,
    )
    attrs = initial_attributes(
        status="received",
        jurisdiction=req.jurisdiction,
        verification=req.verification_method,
        due_at=req.due_at,
        systems=req.systems,
    )
    fakes = Fakes()
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run,
            req,
            id=workflow_id_for(req.request_id),
            task_queue=task_queue,
            search_attributes=attrs,
        )
        await handle.execute_update(
            ErasureWorkflow.approve_identity, OperatorApproval("kim", "called back, ticket 12")
        )
        result = await handle.result()
        assert result.status == "completed", result
        return await handle.fetch_history()


async def referral_instructed_by_update(client: Client, task_queue: str) -> WorkflowHistory:
    """A processor-held system's erasure (the child workflow), referred to its controller and
    instructed to erase with the ``instruct`` update."""
    req = replace(request(("lms",), "preverified"), request_id="er-5f4e3d2c1b0a")
    fakes = Fakes(processors={"lms": "acme-university"})
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run, req, id=workflow_id_for(req.request_id), task_queue=task_queue
        )
        child = client.get_workflow_handle_for(
            SystemErasureWorkflow.run, system_erasure_id(req.request_id, "lms", 0)
        )
        for _ in range(200):
            if fakes.notices:
                break
            await asyncio.sleep(0.05)
        await child.execute_update(
            SystemErasureWorkflow.instruct,
            ControllerInstruction("erase", "kim", "acme's DPO asked us to erase (ticket 4411)"),
        )
        result = await handle.result()
        assert result.status == "completed", result
        return await child.fetch_history()


async def systems_at_once_and_a_pending_child(client: Client, task_queue: str) -> WorkflowHistory:
    """The request's own history after ``systems-at-once``: the forum erased and verified by
    the request's workflow itself, the processor pending and handed, with that answer, to a
    child that polls it to the end."""
    req = replace(request(("forum", "processor"), "preverified"), request_id="er-6a7b8c9d0e1f")

    def pending(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(task.system, "pending", ticket="t-1", poll_after_seconds=3600)

    fakes = Fakes(scripts={"processor": pending})
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run, req, id=workflow_id_for(req.request_id), task_queue=task_queue
        )
        result = await handle.result()
        assert result.status == "completed", result
        assert fakes.erase_rounds.count(("processor", 0)) == 1, fakes.erase_rounds
        return await handle.fetch_history()


async def _escalated_referral(client: Client, task_queue: str) -> tuple[WorkflowHistory, ...]:
    """A processor-held system referred to a controller that does not answer within its
    second: escalated to an operator, who instructs erasure with the ``instruct`` update. The
    request carries Lethe's search attributes. (The request's history, the child's.)"""
    req = replace(
        request(("lms",), "preverified"), request_id="er-e5ca1a7ed0e5", search_attributes=True
    )
    attrs = initial_attributes(
        status="received",
        jurisdiction=req.jurisdiction,
        verification=req.verification_method,
        due_at=req.due_at,
        systems=req.systems,
    )
    fakes = Fakes(processors={"lms": "acme-university"}, answer_within_seconds=1)
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run,
            req,
            id=workflow_id_for(req.request_id),
            task_queue=task_queue,
            search_attributes=attrs,
        )
        child = client.get_workflow_handle_for(
            SystemErasureWorkflow.run, system_erasure_id(req.request_id, "lms", 0)
        )
        for _ in range(400):
            if fakes.escalations:
                break
            await asyncio.sleep(0.05)
        assert fakes.escalations, "not escalated"
        await asyncio.sleep(0.5)  # the signal to the request's workflow, where there is one
        await child.execute_update(
            SystemErasureWorkflow.instruct,
            ControllerInstruction("erase", "kim", "acme's DPO did not answer; erase (ticket 9)"),
        )
        result = await handle.result()
        assert result.status == "completed", result
        return await handle.fetch_history(), await child.fetch_history()


async def referral_escalated_request(client: Client, task_queue: str) -> WorkflowHistory:
    """The request's history of :func:`_escalated_referral` (``escalation-to-request``: the
    ``system_escalated`` signals and its search attribute's upserts)."""
    return (await _escalated_referral(client, task_queue))[0]


async def referral_escalated_child(client: Client, task_queue: str) -> WorkflowHistory:
    """The system's child history of :func:`_escalated_referral` (``escalation-to-request``:
    its signals to the request's workflow)."""
    return (await _escalated_referral(client, task_queue))[1]


async def ledger_steps_local(client: Client, task_queue: str) -> WorkflowHistory:
    """An operator-verified request after ``ledger-steps-local``: its status, plan, answer
    and seal as local activities (markers), approved with the ``approve_identity`` update
    while it waits, both systems erased at once."""
    return await _approved_by_update(
        client, task_queue, "er-10ca15de7e95", "called back, ticket 31"
    )


async def processor_answered_by_callback(client: Client, task_queue: str) -> WorkflowHistory:
    """A system's history after ``await-processor-answer``: its processor promised a time,
    the child waited on a timer, and the ``processor_answered`` signal woke it first."""
    from .test_processor_wait import answered_by_callback

    _, _, child = await answered_by_callback(client, task_queue, "er-8d9e0f1a2b3c")
    return await child.fetch_history()


RECIPES: dict[str, Callable[[Client, str], Awaitable[WorkflowHistory]]] = {
    "ledger_steps_local": ledger_steps_local,
    "processor_answered_by_callback": processor_answered_by_callback,
    "operator_approved_by_update": operator_approved_by_update,
    "referral_escalated_child": referral_escalated_child,
    "referral_escalated_request": referral_escalated_request,
    "referral_instructed_by_update": referral_instructed_by_update,
    "search_attributes_kept_current": search_attributes_kept_current,
    "systems_at_once_and_a_pending_child": systems_at_once_and_a_pending_child,
}


#: Recipes that need the dev server (the time-skipping one refuses custom search attributes).
ON_DEV_SERVER = {
    "search_attributes_kept_current",
    "referral_escalated_child",
    "referral_escalated_request",
}


async def main(names: list[str]) -> None:
    for name in names or list(RECIPES):
        if name in ON_DEV_SERVER:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(BIN / "temporal"), dev_server_log_level="error"
            )
            await register_search_attributes(env.client, env.client.namespace)
        else:
            env = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=str(BIN / "temporal-test-server")
            )
        try:
            history = await RECIPES[name](env.client, f"capture-{name}")
            text = json.dumps(json.loads(history.to_json()), indent=2) + "\n"
            (HISTORIES / f"{name}.json").write_text(text)
            print(f"recorded {name}: {len(history.events)} events")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
