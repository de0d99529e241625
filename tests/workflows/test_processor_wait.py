"""A pending system whose processor promised a time (the ``webhook`` connector): the child
workflow waits durably until then, woken early by the ``processor_answered`` signal (a
verified callback), and escalates when the promise passes. Time-skipping server, fake
activities (tests/test_processor_callbacks.py runs the real ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import ProcessorOverdue, SystemOutcome, SystemTask
from workflows import ErasureWorkflow, SystemErasureWorkflow, system_erasure_id, workflow_id_for

from .test_erasure_workflow import Fakes, erased, fakes_worker, request

TICKET = "webhook1:0b3c6a5e-2f41-4c1e-9b2d-7a8e1f0c4d3a:0:0:0::er-1"


@dataclass
class ProcessorFakes(Fakes):
    """The processor answers pending with a promise until ``answered``; then erased."""

    promise: timedelta = timedelta(days=2)
    answered: bool = False
    promised: str | None = None
    overdue: list[ProcessorOverdue] = field(default_factory=list)

    def _pending(self, task: SystemTask) -> SystemOutcome:
        return SystemOutcome(
            task.system,
            "pending",
            ticket=TICKET,
            poll_after_seconds=3600,
            answer_by=self.promised,
        )

    @activity.defn(name="erase_in_system")
    async def erase_in_system(self, task: SystemTask) -> SystemOutcome:
        self.erase_calls[task.system] += 1
        self.erase_rounds.append((task.system, task.round))
        if task.system != "processor":
            return erased(task, self.erase_calls[task.system])
        # The test server's time (skipped ahead by earlier tests), not this machine's; and a
        # processor that moves its promise on each poll is held to the first one.
        now = activity.info().current_attempt_scheduled_time
        self.promised = (now + self.promise).isoformat()
        return self._pending(task)

    def _moved(self) -> None:
        assert self.promised is not None
        later = datetime.fromisoformat(self.promised) + timedelta(days=1)
        self.promised = later.isoformat()

    @activity.defn(name="poll_system")
    async def poll_system(self, task: SystemTask) -> SystemOutcome:
        self.polls[task.system] += 1
        if self.answered:
            return SystemOutcome(task.system, "erased", counts={"records.deleted": 1})
        self._moved()
        return self._pending(task)

    @activity.defn(name="escalate_pending")
    async def escalate_pending(self, overdue: ProcessorOverdue) -> None:
        self.overdue.append(overdue)

    def all(self) -> list[object]:
        return [*super().all(), self.escalate_pending]


async def answered_by_callback(
    client: Client, task_queue: str, request_id: str = "er-7c8d9e0f1a2b"
) -> tuple[ProcessorFakes, WorkflowHandle[ErasureWorkflow, object], WorkflowHandle]:  # type: ignore[type-arg]
    """The processor answers pending; once the child waits, its callback arrives (the
    answer in the ledger, then the signal). The request's and the child's handles."""
    from dataclasses import replace

    req = replace(request(("processor",), "preverified"), request_id=request_id)
    fakes = ProcessorFakes()
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run, req, id=workflow_id_for(request_id), task_queue=task_queue
        )
        child = client.get_workflow_handle_for(
            SystemErasureWorkflow.run, system_erasure_id(request_id, "processor", 0)
        )
        import asyncio

        for _ in range(600):
            try:
                if await child.query(SystemErasureWorkflow.stage) == "pending":
                    break
            except Exception:  # not started yet
                pass
            await asyncio.sleep(0.05)
        fakes.answered = True
        await child.signal(SystemErasureWorkflow.processor_answered)
        await handle.result()
    return fakes, handle, child  # type: ignore[return-value]


async def test_a_callback_wakes_the_waiting_system_before_its_next_poll(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes, handle, child = await answered_by_callback(time_skipping_env.client, task_queue)
    result = await handle.result()
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert fakes.polls["processor"] == 1 and fakes.overdue == []
    history = await child.fetch_history()
    kinds = [e.event_type for e in history.events]
    # Asked at once when signalled: the poll timer never fired.
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds
    assert EventType.EVENT_TYPE_TIMER_FIRED not in kinds
    assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds  # the await-processor-answer patch


async def test_a_processor_silent_past_its_promise_is_escalated_once_and_fails(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = ProcessorFakes(promise=timedelta(days=2))
    req = request(("processor", "forum"), "preverified")
    client = time_skipping_env.client
    async with fakes_worker(client, fakes, task_queue):
        handle = await client.start_workflow(
            ErasureWorkflow.run, req, id=workflow_id_for(req.request_id), task_queue=task_queue
        )
        result = await handle.result()
    processor = next(o for o in result.systems if o.system == "processor")
    assert result.status == "partially_failed"
    assert processor.outcome == "failed" and "escalated to the operators" in (processor.error or "")
    [overdue] = fakes.overdue
    assert (overdue.system, overdue.round, overdue.ticket) == ("processor", 0, TICKET)
    # Held to its first promise, though every poll moved it a day on.
    assert fakes.promised is not None and overdue.answer_by < fakes.promised
    # Polled on the hour (this fake asks for it) until the promise, not past it.
    assert 2 <= fakes.polls["processor"] <= 49
