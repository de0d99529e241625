"""Nobody without the payload key steers a request: starts, signals and updates whose payload
is not encrypted under it are refused, never applied, and never wedge the workflow.

A "keyless" client here is one with Temporal's default data converter (plain JSON, as the
``temporal`` CLI sends); one with "other keys" encrypts under a different payload key. The
real CLI against the dev server is in tests/test_refusals_end_to_end.py.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import RefusedSignal
from lethe.keys import Keyring
from lethe.temporal import data_converter
from workflows import CancelOrder, ErasureWorkflow, OperatorApproval
from workflows.refusals import RECORDED_AT_MOST

from .test_erasure_workflow import Fakes, fakes_worker, request, start


def keyless(client: Client) -> Client:
    return Client(client.service_client, namespace=client.namespace)


def other_keys(client: Client) -> Client:
    keys = Keyring(*(secrets.token_bytes(32) for _ in range(3)))
    return Client(
        client.service_client, namespace=client.namespace, data_converter=data_converter(keys)
    )


class Recorder(Fakes):
    def __init__(self) -> None:
        super().__init__()
        self.refused: list[RefusedSignal] = []

    @activity.defn(name="record_refused_signal")
    async def record_refused_signal(self, refused: RefusedSignal) -> None:
        self.refused.append(refused)

    def all(self) -> list[object]:
        return [*super().all(), self.record_refused_signal]


@pytest.mark.parametrize("sender", [keyless, other_keys], ids=["plain", "other-keys"])
async def test_a_signal_or_update_without_the_key_changes_nothing_and_is_recorded(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sender: object
) -> None:
    env = time_skipping_env
    fakes = Recorder()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        intruder = sender(env.client)  # type: ignore[operator]
        theirs = intruder.get_workflow_handle(handle.id)
        for _ in range(RECORDED_AT_MOST + 2):
            await theirs.signal("approve", OperatorApproval("mallory", "trust me"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await theirs.execute_update("cancel_request", CancelOrder("mallory", "gone"))
        await env.sleep(timedelta(hours=1))
        progress = await handle.query(ErasureWorkflow.progress)
        assert progress.stage == "awaiting_verification"
        assert progress.refused_signals == RECORDED_AT_MOST + 2
        assert fakes.erase_calls == {} and fakes.plans == []
        # The first few are recorded (the ledger's payload_refused events), the rest counted.
        assert sorted(r.number for r in fakes.refused) == list(range(1, RECORDED_AT_MOST + 1))
        first = min(fakes.refused, key=lambda r: r.number)
        assert (first.request_id, first.signal, first.number) == (
            handle.id.split("/")[1],
            "approve",
            1,
        )
        assert first.workflow_id == handle.id and first.reason.startswith("refused: the payload")
        # The update was rejected before its validator, in words the refused caller can read.
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "PayloadRefused"
        assert "payload key" in cause.message and "nothing was changed" in cause.message
        # The workflow is not wedged: the operator's own approval still goes through.
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed"


async def test_a_malformed_signal_from_a_key_holder_is_refused_too(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Recorder()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        await handle.signal("approve", {"operator": "kim"})  # no reason
        await handle.signal("approve", ["kim", "called back"])
        await env.sleep(timedelta(minutes=5))
        assert [r.reason for r in fakes.refused] == [
            "refused: the payload is not a well-formed 'approve' signal"
        ] * 2
        assert fakes.erase_calls == {}
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed"


async def test_a_start_without_the_key_fails_at_once_with_the_reason(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    fakes = Recorder()
    req = request(("forum",))
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await keyless(env.client).start_workflow(
            "ErasureWorkflow", req, id=f"erasure/{req.request_id}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PayloadRefused"
    assert cause.message.startswith("refused: the payload is not encrypted")
    assert fakes.statuses == [] and fakes.erase_calls == {}


async def test_a_signal_read_raw_keeps_its_typed_argument_for_key_holders(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The handler takes a RawValue; a key holder's client sends the dataclass as before."""
    env = time_skipping_env
    fakes = Recorder()
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        await handle.signal("approve", OperatorApproval(" kim ", " called back "))
        result = await handle.result()
    assert result.status == "completed" and fakes.refused == []
    assert fakes.statuses[1].actor == "operator:kim"


async def test_a_payload_copied_from_another_request_s_history_is_refused(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Whoever can read histories (API access, no key) holds ciphertexts: an approval sent to
    one request, replayed into another, must not approve it. Payloads are bound to their
    workflow's id."""
    env = time_skipping_env
    fakes = Recorder()
    async with fakes_worker(env.client, fakes, task_queue):
        approved = await start(env.client, request(("forum",)), task_queue)
        await approved.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await approved.result()).status == "completed"
        # Started only now: waiting for a result lets the test server skip time, which would
        # carry a request started earlier past its verification deadline (rejected).
        target = await start(env.client, request(("forum",)), task_queue)
        history = await approved.fetch_history()
        [copied] = [
            e.workflow_execution_signaled_event_attributes.input.payloads[0]
            for e in history.events
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert copied.metadata["encoding"] == b"binary/encrypted"  # a real, keyed approval
        await keyless(env.client).get_workflow_handle(target.id).signal("approve", RawValue(copied))
        await env.sleep(timedelta(hours=1))
        assert (await target.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        [refused] = fakes.refused
        assert refused.workflow_id == target.id
        assert f"is bound to another workflow ({approved.id})" in refused.reason
        await target.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await target.result()).status == "completed"
