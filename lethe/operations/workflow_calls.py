"""Asking a request's workflow (or one of its systems') to do something (a Temporal update),
and what its answer means.

A refusal by the workflow (its validator, or the activity behind the update) comes back as
:class:`UpdateRefused` with the innermost message; a workflow that cannot be reached (closed,
or Temporal said no) as :class:`WorkflowUnreachable`. Each operation words its own refusal
("cannot extend …", "… not cancelled: …") around ``because``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.workflow import UpdateMethodMultiParam

from ledger import ErasureRequestRecord
from workflows import ErasureWorkflow

from ..errors import LetheError
from ..runtime import Runtime

__all__ = [
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


async def update_request(
    rt: Runtime,
    rec: ErasureRequestRecord,
    update: UpdateMethodMultiParam[[ErasureWorkflow, A], R],
    arg: A,
) -> R:
    """``update(arg)`` on the workflow of ``rec``, and its answer."""
    client = await rt.client()
    handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
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
    return await _answer(handle.execute_update(update, arg), request_id)


async def _answer(call: Awaitable[R], request_id: str) -> R:
    try:
        return await call
    except WorkflowUpdateFailedError as exc:
        raise UpdateRefused(failure_text(exc)) from None
    except RPCError as exc:
        raise WorkflowUnreachable(request_id, exc) from None
