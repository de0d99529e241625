"""Activities of a manual task: a system no API reaches is erased by a person.

    open_manual_task       record the task (instructions, assignee, when it is due) as an
                           event of the request, alert the operators; say how long to wait
    escalate_manual_task   not done in time: record it, alert (``manual_task_overdue``)
    record_manual_answer   done (``erased``) or kept under a basis (``retained``): the event
                           with who and what they said, and the system's outcome

The task holds nothing of the person: the instructions come from the configuration
(``connectors.manual``), the assignee reads who it is from the vault (``lethe task show``).
What the operator typed as evidence is scrubbed of the person's identifiers before it reaches
the workflow (``lethe.free_text``) and is kept with the task's event; the outcome sealed into
the proof log says only that a person did it, and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors import Connector
from connectors.manual import ManualConnector, ManualOptions
from ledger import Ledger, OutcomeEntry, RetentionRuleError
from vocabulary import AlertEvent, OutcomeKind

from .alerts import Alerter
from .erasure import outcome_from_record
from .types import SystemOutcome, SystemTask

__all__ = [
    "MANUAL_TASK_EVENTS",
    "ManualTaskActivities",
    "ManualTaskEscalation",
    "ManualTaskOpened",
    "TaskAnswer",
    "manual_systems",
]

log = structlog.get_logger("lethe.activities")

#: The events a manual task leaves in the request's record.
OPENED, OVERDUE, DONE, RETAINED = (
    "manual_task_opened",
    "manual_task_overdue",
    "manual_task_done",
    "manual_task_retained",
)
MANUAL_TASK_EVENTS = (OPENED, OVERDUE, DONE, RETAINED)


@dataclass(frozen=True)
class ManualTaskOpened:
    """How long the workflow waits before the task is overdue (zero: overdue already)."""

    wait_seconds: float
    assignee: str
    due_at: str


@dataclass(frozen=True)
class ManualTaskEscalation:
    request_id: str
    system: str
    round: int
    reason: str


@dataclass(frozen=True)
class TaskAnswer:
    """An operator's answer to a manual task (the ``answer_task`` update): ``done`` with
    ``evidence``, or ``retain`` with ``legal_basis`` and exactly one of ``retained_until`` /
    ``review_on`` (ISO dates) and ``evidence`` saying why. Texts are scrubbed already."""

    action: str
    operator: str
    evidence: str
    legal_basis: str | None = None
    retained_until: str | None = None
    review_on: str | None = None


@dataclass(frozen=True)
class ManualAnswerRecord:
    request_id: str
    system: str
    round: int
    answer: TaskAnswer


def manual_systems(connectors: Mapping[str, Connector]) -> dict[str, ManualOptions]:
    """The configured systems a person works, with their task options."""
    return {
        name: c.options
        for name, c in connectors.items()
        if isinstance(c, ManualConnector) and getattr(type(c), "worked_by_a_person", False)
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _key(what: str, system: str, round_: int) -> str:
    return f"{what}/{system}/{round_}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ManualTaskActivities:
    """``tasks``: each manual system's options (:func:`manual_systems`)."""

    def __init__(
        self,
        ledger: Ledger,
        tasks: Mapping[str, ManualOptions],
        *,
        alerter: Alerter | None = None,
    ) -> None:
        self._ledger = ledger
        self._tasks = dict(tasks)
        self._alerter = alerter

    def _options(self, system: str) -> ManualOptions:
        options = self._tasks.get(system)
        if options is None:
            raise ApplicationError(
                f"system {system!r} is not a manual system on this worker",
                type="SystemNotOnThisWorker",
            )
        return options

    @activity.defn(name="open_manual_task")
    async def open_manual_task(self, task: SystemTask) -> ManualTaskOpened:
        options = self._options(task.system)
        request = await self._ledger.require_request(task.request_id)
        key = _key("manual", task.system, task.round)
        opened = await self._ledger.written(task.request_id, key)
        if opened is not None:  # a retried activity: the task is open already
            due_at = datetime.fromisoformat(str(opened.detail["due_at"]))
        else:
            now = _now()
            due_at = now + timedelta(days=options.due_within_days)
            if request.due_at is not None:
                latest = _aware(request.due_at) - timedelta(
                    days=options.escalate_days_before_deadline
                )
                due_at = min(due_at, max(latest, now))
            await self._ledger.add_event(
                task.request_id,
                OPENED,
                at=now,
                actor="lethe",
                detail={
                    "system": task.system,
                    "round": task.round,
                    "assignee": options.assignee,
                    "instructions": options.instructions,
                    "due_at": due_at.isoformat(),
                    "workflow_id": activity.info().workflow_id or "",
                },
                write_key=key,
            )
            log.info("manual_task.opened", request_id=task.request_id, system=task.system)
        if self._alerter is not None:
            await self._alerter.alert(
                task.request_id,
                AlertEvent.MANUAL_TASK_OPENED,
                system=task.system,
                round_=task.round,
                detail=(
                    f"for {options.assignee}, due {due_at:%Y-%m-%d %H:%M} UTC:"
                    f" {options.instructions}; who: lethe task show {task.request_id}"
                    f" --system {task.system}; then lethe task done {task.request_id}"
                    f" --system {task.system} --evidence '…'"
                ),
            )
        left = max((due_at - _now()).total_seconds(), 0.0)
        return ManualTaskOpened(left, options.assignee, due_at.isoformat())

    @activity.defn(name="escalate_manual_task")
    async def escalate_manual_task(self, escalation: ManualTaskEscalation) -> None:
        await self._ledger.add_event(
            escalation.request_id,
            OVERDUE,
            at=_now(),
            actor="lethe",
            detail={
                "system": escalation.system,
                "round": escalation.round,
                "reason": escalation.reason,
            },
            write_key=_key("manual-overdue", escalation.system, escalation.round),
        )
        log.warning(
            "manual_task.overdue", request_id=escalation.request_id, system=escalation.system
        )
        if self._alerter is not None:
            await self._alerter.alert(
                escalation.request_id,
                AlertEvent.MANUAL_TASK_OVERDUE,
                system=escalation.system,
                round_=escalation.round,
                detail=escalation.reason,
            )

    @activity.defn(name="record_manual_answer")
    async def record_manual_answer(self, record: ManualAnswerRecord) -> SystemOutcome:
        answer = record.answer
        now = _now()
        done = answer.action == "done"
        detail: dict[str, Any] = {
            "system": record.system,
            "round": record.round,
            "evidence": answer.evidence,
        }
        if not done:
            detail |= {
                "legal_basis": answer.legal_basis,
                "retained_until": answer.retained_until,
                "review_on": answer.review_on,
            }
        await self._ledger.add_event(
            record.request_id,
            DONE if done else RETAINED,
            at=now,
            actor=f"operator:{answer.operator}",
            detail=detail,
            write_key=_key("manual-answer", record.system, record.round),
        )
        # Who did it and their words stay with the task's event: the outcome is sealed into
        # the append-only proof log, where no name or free text may go.
        evidence = {"manual_task": True, "answered_at": now.isoformat()}
        if done:
            entry = OutcomeEntry(OutcomeKind.ERASED, counts={"tasks.done": 1}, evidence=evidence)
        else:
            entry = OutcomeEntry(
                OutcomeKind.RETAINED,
                retained_counts={"tasks.retained": 1},
                legal_basis=answer.legal_basis,
                basis_note=(
                    "kept on an operator's answer to the manual task (their reason is kept"
                    " with the task's event)"
                ),
                retained_until=date.fromisoformat(answer.retained_until)
                if answer.retained_until
                else None,
                review_on=date.fromisoformat(answer.review_on) if answer.review_on else None,
                evidence=evidence,
            )
        try:
            rec = await self._ledger.finish_system(
                record.request_id, record.system, record.round, entry, at=now
            )
        except RetentionRuleError as exc:
            raise ApplicationError(
                f"the answer cannot be recorded: {exc}", type="PermanentError", non_retryable=True
            ) from None
        return outcome_from_record(rec)
