"""Manual tasks: what a system no API reaches asks of a person, and the person's answer.

The request's events say which of its systems waits on a task (``manual_task_opened``, not
answered yet) and which workflow waits with it; the answer goes to that workflow as an update
(``answer_task``), whose validator says whether it can be recorded. Its refusal comes back to
the operator as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from activities import MANUAL_TASK_EVENTS, TaskAnswer
from ledger import RequestEvent
from workflows import SystemErasureWorkflow

from ..errors import LetheError
from ..free_text import PersonText, Rewritten
from ..runtime import Runtime
from .lookups import find_request
from .workflow_calls import UpdateRefused, update_workflow

__all__ = ["OpenTask", "TaskOrder", "answer_task", "open_task", "open_tasks"]

_OPENED, _OVERDUE, _DONE, _RETAINED = MANUAL_TASK_EVENTS


@dataclass(frozen=True)
class OpenTask:
    """A task waiting for its answer, as its events record it."""

    request_id: str
    system: str
    round: int
    assignee: str
    instructions: str
    due_at: str
    overdue: bool
    workflow_id: str
    #: The person's identifiers, only when asked for (``reveal``): never stored or logged.
    identifiers: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "request_id": self.request_id,
            "system": self.system,
            "round": self.round,
            "assignee": self.assignee,
            "instructions": self.instructions,
            "due_at": self.due_at,
            "overdue": self.overdue,
        }
        if self.identifiers is not None:
            out["identifiers"] = dict(self.identifiers)
        return out


@dataclass(frozen=True)
class TaskOrder:
    """What the operator enters: ``done`` with evidence, or ``retain`` with a basis and one
    of ``retained_until`` / ``review_on`` and the reason as evidence."""

    action: str
    evidence: str
    operator: str
    legal_basis: str | None = None
    retained_until: date | None = None
    review_on: date | None = None


def _waiting(events: list[RequestEvent], system: str) -> RequestEvent | None:
    opened = [e for e in events if e.kind == _OPENED and e.detail.get("system") == system]
    if not opened:
        return None
    last = opened[-1]
    answered = any(
        e.kind in (_DONE, _RETAINED)
        and e.detail.get("system") == system
        and e.detail.get("round") == last.detail.get("round")
        for e in events
    )
    return None if answered else last


async def open_task(rt: Runtime, request_id: str, system: str, *, reveal: bool = False) -> OpenTask:
    """The task ``system`` of ``request_id`` waits on, or a one-line refusal."""
    rec = await find_request(rt.ledger, request_id)
    if system not in rec.systems:
        raise LetheError(
            f"{request_id} has no system {system!r} (its systems: {', '.join(rec.systems)})"
        )
    events = await rt.ledger.events(request_id)
    opened = _waiting(events, system)
    if opened is None:
        raise LetheError(f"{system} of {request_id} is not waiting for a manual task")
    round_ = int(opened.detail.get("round", 0))
    overdue = any(
        e.kind == _OVERDUE and e.detail.get("system") == system and e.detail.get("round") == round_
        for e in events
    )
    identifiers = None
    if reveal:
        _, identifiers = await rt.ledger.read_identifiers(request_id)
    return OpenTask(
        request_id,
        system,
        round_,
        str(opened.detail.get("assignee", "")),
        str(opened.detail.get("instructions", "")),
        str(opened.detail.get("due_at", "")),
        overdue,
        str(opened.detail.get("workflow_id", "")),
        identifiers,
    )


async def open_tasks(rt: Runtime) -> list[OpenTask]:
    """Every manual task still waiting for its answer, oldest first."""
    events = await rt.ledger.events_of_kinds(MANUAL_TASK_EVENTS)
    by_request: dict[str, list[RequestEvent]] = {}
    for e in events:
        by_request.setdefault(e.request_id, []).append(e)
    out = []
    for request_id, mine in by_request.items():
        systems = dict.fromkeys(str(e.detail.get("system")) for e in mine if e.kind == _OPENED)
        for system in systems:
            if _waiting(mine, system) is not None:
                out.append(await open_task(rt, request_id, system))
    return sorted(out, key=lambda t: t.due_at)


async def answer_task(
    rt: Runtime,
    request_id: str,
    system: str,
    order: TaskOrder,
    *,
    rewritten: Rewritten | None = None,
) -> OpenTask:
    """Hand the operator's answer to the workflow waiting for it; the task it answered."""
    task = await open_task(rt, request_id, system)
    person = await PersonText.for_request(rt.ledger, request_id)
    evidence, by = person.kept(order.evidence, order.operator, rewritten=rewritten)
    answer = TaskAnswer(
        order.action,
        by,
        evidence,
        legal_basis=order.legal_basis,
        retained_until=order.retained_until.isoformat() if order.retained_until else None,
        review_on=order.review_on.isoformat() if order.review_on else None,
    )
    try:
        await update_workflow(
            rt, task.workflow_id, request_id, SystemErasureWorkflow.answer_task, answer
        )
    except UpdateRefused as exc:
        raise LetheError(f"{system} of {request_id}: answer refused: {exc.because}") from None
    return task
