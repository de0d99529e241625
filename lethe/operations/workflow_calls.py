"""Asking a request's workflow (or one of its systems') to do something (a Temporal update),
and what its answer means.

A refusal by the workflow (its validator, or the activity behind the update) comes back as
:class:`UpdateRefused` with the innermost message; a workflow that cannot be reached (closed,
or Temporal said no) as :class:`WorkflowUnreachable`. Each operation words its own refusal
("cannot extend …", "… not cancelled: …") around ``because``.

An update is answered by the workflow, so by a worker: when no worker polls the workflow's task
queue, the update is not sent at all (:class:`NoWorker`), instead of the command waiting with
nobody to answer and the operator left unsure whether it counted.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from activities.progress import polled
from ledger import ErasureRequestRecord
from workflows import ErasureWorkflow

from ..errors import LetheError, UnreachableError
from ..runtime import Runtime

__all__ = [
    "NoWorker",
    "UpdateRefused",
    "WorkflowUnreachable",
    "failure_text",
    "update_request",
    "update_workflow",
]

A = TypeVar("A")
R = TypeVar("R")


def failure_text(exc: BaseException) -> str:
    """The innermost message of a Temporal failure chain (validator, activity, application)."""
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause  # type: ignore[attr-defined]
    return getattr(exc, "message", None) or str(exc)


class UpdateRefused(LetheError):
    """The request's workflow refused the update; ``because`` says why, in its words."""

    def __init__(self, because: str) -> None:
        super().__init__(because)
        self.because = because


class WorkflowUnreachable(LetheError):
    """The request's workflow could not be reached."""

    def __init__(self, request_id: str, exc: RPCError) -> None:
        super().__init__(f"could not reach {request_id}'s workflow: {exc}")


class NoWorker(UnreachableError):
    """No worker polls the task queue of the workflow that would answer: nothing was sent."""

    def __init__(self, request_id: str, queue: str) -> None:
        super().__init__(
            f"{request_id}: no worker polls the task queue {queue!r}, so nothing was sent;"
            f" start one (lethe worker) and try again"
        )


async def ensure_served(client: Client, handle: WorkflowHandle[Any, Any], request_id: str) -> None:
    """Refuse (:class:`NoWorker`) unless a worker polls the task queue of ``handle``. A closed
    workflow is left to the update itself to refuse, as it always has."""
    try:
        described = await handle.describe()
    except RPCError as exc:
        raise WorkflowUnreachable(request_id, exc) from None
    if described.status != WorkflowExecutionStatus.RUNNING:
        return
    queue = described.raw_description.execution_config.task_queue.name
    try:
        served = await polled(client, queue, datetime.now(UTC))
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:
            return  # a server that cannot tell (Temporal's time-skipping test server): ask
        raise WorkflowUnreachable(request_id, exc) from None
    if not served:
        raise NoWorker(request_id, queue)


async def update_request(
    rt: Runtime,
    rec: ErasureRequestRecord,
    update: UpdateMethodMultiParam[[ErasureWorkflow, A], R],
    arg: A,
) -> R:
    """``update(arg)`` on the workflow of ``rec``, and its answer."""
    client = await rt.client()
    handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
    await ensure_served(client, handle, rec.request_id)
    return await _answer(handle.execute_update(update, arg), rec.request_id)


async def update_workflow(
    rt: Runtime,
    workflow_id: str,
    request_id: str,
    update: UpdateMethodMultiParam[[Any, A], R],
    arg: A,
) -> R:
    """``update(arg)`` on the workflow ``workflow_id`` of request ``request_id`` (one of its
    systems', say), and its answer."""
    client = await rt.client()
    handle = client.get_workflow_handle(workflow_id)
    await ensure_served(client, handle, request_id)
    return await _answer(handle.execute_update(update, arg), request_id)


async def _answer(call: Awaitable[R], request_id: str) -> R:
    try:
        return await call
    except WorkflowUpdateFailedError as exc:
        raise UpdateRefused(failure_text(exc)) from None
    except RPCError as exc:
        raise WorkflowUnreachable(request_id, exc) from None
