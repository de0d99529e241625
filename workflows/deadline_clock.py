"""A request's deadline timers, running alongside the identity gate and the erasure.

    acknowledge_by          ─▶ acknowledgement_overdue   (only if not acknowledged by then)
    answer_by - reminder    ─▶ deadline_reminder
    answer_by               ─▶ deadline_overdue          (the escalation)

Each is one durable timer and, when it fires, one activity that records the event in the
ledger: a request's history grows by a handful of events, never by a polling loop. An
extension moves the answer deadline: the waiting timer is cancelled and the next one set
for the new date (the reminder goes out again before it). When the request finishes, the
workflow completes without waiting for the clock: the timers that have not fired go with the
execution (a finished request needs no reminder; one finished late was recorded as overdue
when it became so), and ``stop()`` keeps a clock that wakes at that moment from recording.

The ledger stays the authority on the deadline: if a timer fires for a date the ledger has
since moved (an extension recorded while the workflow did not hear of it), the activity
says so and the clock re-arms for the date in force.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import DeadlineActivities, DeadlineEvent
    from vocabulary import AlertEvent

    from .types import ErasureRequest

from .activity_options import LEDGER

__all__ = ["DeadlineClock"]

_ACKNOWLEDGEMENT = AlertEvent.ACKNOWLEDGEMENT_OVERDUE
_REMINDER = AlertEvent.DEADLINE_REMINDER
_OVERDUE = AlertEvent.DEADLINE_OVERDUE


class DeadlineClock:
    def __init__(
        self, request: ErasureRequest, on_change: Callable[[], None] | None = None
    ) -> None:
        """``on_change``: called when the answer deadline passes (recorded as overdue) or
        moves (an extension): the workflow keeps its search attributes current."""
        self.request_id = request.request_id
        self._on_change = on_change
        self.answer_by = request.due_at
        self.acknowledge_by = request.acknowledge_by
        self.reminder_lead = timedelta(seconds=request.policy.reminder_lead_seconds)
        self.acknowledged = False
        self.extended = False
        self.fired: list[str] = []
        self._closing = False
        self._version = 0

    # -- what the workflow tells the clock -------------------------------------------------

    def acknowledge(self) -> None:
        self.acknowledged = True
        self._version += 1

    def move(self, answer_by: datetime) -> None:
        """A new answer deadline: the reminder and the escalation are due again before it."""
        self.answer_by = answer_by
        self.extended = True
        self.fired = [k for k in self.fired if k == _ACKNOWLEDGEMENT]
        self._version += 1
        if self._on_change is not None:
            self._on_change()

    def stop(self) -> None:
        """Record nothing more (a timer firing as the request finishes stays quiet)."""
        self._closing = True

    # -- the timers -------------------------------------------------------------------------

    def next_event(self) -> tuple[str, datetime] | None:
        due: list[tuple[datetime, str]] = []
        if (
            self.acknowledge_by is not None
            and not self.acknowledged
            and _ACKNOWLEDGEMENT not in self.fired
        ):
            due.append((self.acknowledge_by, _ACKNOWLEDGEMENT))
        if self.reminder_lead > timedelta(0) and _REMINDER not in self.fired:
            due.append((self.answer_by - self.reminder_lead, _REMINDER))
        if _OVERDUE not in self.fired:
            due.append((self.answer_by, _OVERDUE))
        if not due:
            return None
        at, kind = min(due)
        return kind, at

    def _changed_since(self, version: int) -> Callable[[], bool]:
        # Not ``_closing``: stopping must not wake the clock, whose timer would then be
        # cancelled in the very task that completes the workflow (see the module's doc).
        return lambda: self._version != version

    async def run(self) -> None:
        """Until ``stop()``: wait for the next deadline (or a change), record it, repeat."""
        while not self._closing:
            upcoming = self.next_event()
            changed = self._changed_since(self._version)
            if upcoming is None:
                await workflow.wait_condition(changed)
                continue
            kind, at = upcoming
            delay = at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(changed, timeout=delay)
                    continue  # stopped, moved or acknowledged: look again
                except TimeoutError:
                    pass
            if self._closing:
                return
            self.fired.append(kind)
            deadline = at if kind == _ACKNOWLEDGEMENT else self.answer_by
            current = await workflow.execute_activity_method(
                DeadlineActivities.record_deadline_event,
                DeadlineEvent(self.request_id, kind, deadline),
                **LEDGER,
            )
            if kind != _ACKNOWLEDGEMENT and current > self.answer_by:
                self.move(current)
            elif kind == _OVERDUE and self._on_change is not None:
                self._on_change()
