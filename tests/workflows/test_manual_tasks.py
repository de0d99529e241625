"""Systems a person erases (``manual``): a task is opened, the workflow waits durably for the
operator's answer, and a task not done in time is escalated; on the time-skipping server with
the fakes of test_erasure_workflow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import TaskAnswer
from workflows import SystemErasureWorkflow

from .test_erasure_workflow import Fakes, fakes_worker, request, start

TWO_DAYS = 2 * 86400.0


async def test_a_task_done_in_time_erases_the_system_without_calling_a_connector(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(manual={"paper": TWO_DAYS})
    req = request(("forum", "paper"), "preverified")
    async with fakes_worker(time_skipping_env.client, fakes, task_queue):
        handle = await start(time_skipping_env.client, req, task_queue)
        await time_skipping_env.sleep(timedelta(hours=5))
        child = time_skipping_env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{req.request_id}/paper/0"
        )
        stage = await child.query(SystemErasureWorkflow.stage)
        said = await child.execute_update(
            SystemErasureWorkflow.answer_task,
            TaskAnswer("done", "kim", "shredded folder 12 of cabinet B"),
        )
        result = await handle.result()
    assert stage == "manual_task"
    assert said == "done: recorded"
    assert [(t.system, t.round) for t in fakes.tasks_opened] == [("paper", 0)]
    assert fakes.tasks_overdue == []
    [answer] = fakes.task_answers
    assert answer.answer.evidence == "shredded folder 12 of cabinet B"
    assert dict(fakes.erase_calls) == {"forum": 1}  # the paper system's connector: never
    assert {o.system: o.outcome for o in result.systems} == {"forum": "erased", "paper": "erased"}
    assert result.status == "completed"


async def test_a_task_not_done_in_time_is_escalated_and_may_be_kept_under_a_basis(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(manual={"paper": TWO_DAYS})
    req = request(("paper",), "preverified")
    async with fakes_worker(time_skipping_env.client, fakes, task_queue):
        handle = await start(time_skipping_env.client, req, task_queue)
        child = time_skipping_env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{req.request_id}/paper/0"
        )
        await time_skipping_env.sleep(timedelta(days=1))
        before = await child.query(SystemErasureWorkflow.stage)
        await time_skipping_env.sleep(timedelta(days=2))
        after = await child.query(SystemErasureWorkflow.stage)
        # Escalated, it still waits (no timer): days later the answer is taken.
        await time_skipping_env.sleep(timedelta(days=5))
        await child.execute_update(
            SystemErasureWorkflow.answer_task,
            TaskAnswer(
                "retain",
                "kim",
                "the signed paper contract is kept for the tax office",
                legal_basis="gdpr-17-3-b",
                retained_until="2036-12-31",
            ),
        )
        result = await handle.result()
    assert (before, after) == ("manual_task", "manual_task_overdue")
    [overdue] = fakes.tasks_overdue
    assert (overdue.system, overdue.round) == ("paper", 0) and "records team" in overdue.reason
    [outcome] = result.systems
    assert outcome.outcome == "retained" and outcome.legal_basis == "gdpr-17-3-b"
    assert outcome.retained_until == "2036-12-31"
    assert result.status == "completed_with_exceptions"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (TaskAnswer("retain", "kim", "kept"), "legal basis"),
        (TaskAnswer("retain", "kim", "kept", legal_basis="gdpr-17-3-b"), "exactly one"),
        (TaskAnswer("done", "kim", "done", legal_basis="gdpr-17-3-b"), "go with retain"),
        (TaskAnswer("maybe", "kim", "hmm"), "done or retain"),
        (TaskAnswer("done", " ", "done"), "who gives it"),
        (TaskAnswer("done", "kim", " "), "who gives it"),
    ],
)
async def test_an_answer_that_cannot_be_recorded_is_refused_and_the_task_waits_on(
    time_skipping_env: WorkflowEnvironment, task_queue: str, answer: TaskAnswer, says: str
) -> None:
    fakes = Fakes(manual={"paper": TWO_DAYS})
    req = request(("paper",), "preverified")
    async with fakes_worker(time_skipping_env.client, fakes, task_queue):
        handle = await start(time_skipping_env.client, req, task_queue)
        await time_skipping_env.sleep(timedelta(hours=1))
        child = time_skipping_env.client.get_workflow_handle_for(
            SystemErasureWorkflow.run, f"erasure/{req.request_id}/paper/0"
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await child.execute_update(SystemErasureWorkflow.answer_task, answer)
        assert says in str(err.value.cause)
        assert await child.query(SystemErasureWorkflow.stage) == "manual_task"
        await child.execute_update(
            SystemErasureWorkflow.answer_task, TaskAnswer("done", "kim", "done after all")
        )
        # A second answer is refused: by the validator while the workflow runs, or by the
        # server once it has finished.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await child.execute_update(
                SystemErasureWorkflow.answer_task, TaskAnswer("done", "lee", "me too")
            )
        result = await handle.result()
    assert [a.answer.operator for a in fakes.task_answers] == ["kim"]
    assert result.systems[0].outcome == "erased"
