"""A request that is not progressing says so, with the reason, and nobody waits for a deadline
to find out.

- A rolling deploy: a worker without a system takes its task. The system is not failed; the
  task is retried until a worker that has the system runs it; the ledger and the operators
  are told once; status says which system waits (real worker and ledger).
- No worker polls the queue; a workflow task fails on every attempt; an activity is retried
  with an error that quotes the person (scrubbed); Temporal is unreachable: each is a line of
  ``lethe status`` and, where it is a stall, an hourly ``request_stalled`` alert (dev server).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio import activity, workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as worker_module
from activities import Alerter, ConsoleAlerts, ProgressActivities, StallQuery, SystemTask, holdups
from ledger import ErasureRequestRecord, Ledger, RequestEvent
from lethe.demo.systems import SUBJECT, seed_demo_systems
from lethe.intake import submit_request
from lethe.keys import Keyring
from lethe.operations.workflow_calls import NoWorker, ensure_served
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, SystemConfig, TemporalSettings, build_connectors
from lethe.worker import workflow_runner
from tests.support.portal import portal_verification, preverified_draft
from workflows import ALL_WORKFLOWS, ErasurePolicy, ErasureWorkflow, OperatorApproval

from .workflows.test_erasure_workflow import Fakes, fakes_worker, request

FAST = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=1, attempt_limit=3)
#: Retries every second for a minute: the worker without the system keeps being asked (and
#: keeps handing it on) until the one with it arrives, however long the machine takes between.
PATIENT = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=1, attempt_limit=60)


def settings_for(tmp_path: Path, task_queue: str, systems: dict[str, SystemConfig]) -> Settings:
    return Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=task_queue),
        systems=systems,
        verification=portal_verification(),
    )


async def events_of(ledger: Ledger, rid: str, kind: str) -> list[RequestEvent]:
    for _ in range(600):
        found = [e for e in await ledger.events(rid) if e.kind == kind]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: no {kind} event")


async def test_a_worker_without_the_system_hands_it_on_and_never_fails_it(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    env = dev_server_env
    demo = seed_demo_systems(tmp_path / "systems")
    settings = settings_for(tmp_path, task_queue, dict(demo.systems))
    ledger = await open_ledger(settings, keys)
    every = build_connectors(settings.systems, load_registry())
    printed = ConsoleAlerts(lambda _text: None)
    old = {name: c for name, c in every.items() if name != "crm"}  # deployed before crm
    try:
        async with worker_module.build_worker(
            env.client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=old,
            signing_key=Ed25519PrivateKey.generate(),
            alerts=[printed],
        ):
            draft = preverified_draft(settings, SUBJECT.email, systems=["crm", "forum"])
            done = await submit_request(
                draft,
                settings=settings,
                ledger=ledger,
                client=env.client,
                keys=keys,
                policy=PATIENT,
            )
            rid = done.request_id
            [unserved] = await events_of(ledger, rid, "system_unserved")
            assert unserved.detail["system"] == "crm" and unserved.detail["round"] == 0
            assert "crm" not in unserved.detail["worker_has"]
            rec = await ledger.require_request(rid)
            found = await holdups(env.client, ledger, rec, check_pollers=False)
            [waiting] = [h for h in found if h.system == "crm"]
            assert waiting.kind == "system_unserved"
            assert waiting.what.startswith("crm waits for a worker that has it configured")
            assert "[systems.crm]" in waiting.fix

            async def alerted() -> list[object]:
                return list(printed.printed)

            # The alert follows the event, in the same attempt: leave before it and the
            # worker's shutdown may cancel that attempt between the two.
            await wait_for(alerted, "the operators alerted")
        # The new worker, with crm, arrives; the old one is gone.
        async with worker_module.build_worker(
            env.client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=every,
            signing_key=Ed25519PrivateKey.generate(),
            alerts=[printed],
        ):
            handle = env.client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            result = await asyncio.wait_for(handle.result(), timeout=60)
        outcomes = {o.system: o.outcome for o in await ledger.outcomes(rid)}
        kinds = [e.kind for e in await ledger.events(rid)]
    finally:
        await worker_module.close_connectors(every)
        await ledger.dispose()
    assert outcomes == {"crm": "retained", "forum": "erased"}  # crm keeps invoices (basis)
    assert result.status == "completed_with_exceptions"
    assert "system_failed" not in kinds and kinds.count("system_unserved") == 1
    assert [a.event for a in printed.printed] == ["system_unserved"]  # alerted once
    assert printed.printed[0].system == "crm"


# -- on the dev server: what describe and the task queue tell ---------------------------------


def record_of(rid: str, task_queue: str) -> ErasureRequestRecord:
    return ErasureRequestRecord(
        request_id=rid,
        workflow_id=f"erasure/{rid}",
        status="erasing",
        subject_ref="ps_0",
        jurisdiction="gdpr",
        due_at=datetime.now(UTC) + timedelta(days=20),
        completed_at=None,
        systems=["crm"],
    )


@workflow.defn(name="ErasureWorkflow", sandboxed=False)
class BrokenErasure:
    """What a worker that cannot run the request looks like from outside: every workflow
    task fails (a plain exception fails the task, not the workflow)."""

    @workflow.run
    async def run(self, request: RawValue) -> None:
        raise RuntimeError("cannot replay this history")


async def wait_for(check: object, what: str, timeout: float = 60.0) -> list[object]:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while loop.time() < until:
        found = await check()  # type: ignore[operator]
        if found:
            return found  # type: ignore[no-any-return]
        await asyncio.sleep(0.25)
    raise AssertionError(f"never: {what}")


async def test_no_worker_and_a_failing_workflow_task_are_named_and_alerted(
    dev_server_env: WorkflowEnvironment, sqlite_ledger: Ledger, task_queue: str
) -> None:
    client = dev_server_env.client
    req = request(("crm",))
    await client.start_workflow(
        ErasureWorkflow.run, req, id=f"erasure/{req.request_id}", task_queue=task_queue
    )
    rec = record_of(req.request_id, task_queue)
    [nobody] = await holdups(client, sqlite_ledger, rec)
    assert nobody.kind == "no_worker" and f"no worker polls the task queue {task_queue!r}" in (
        nobody.what
    )
    assert nobody.fix == f"start one: lethe worker (LETHE_TASK_QUEUE={task_queue})"

    async with Worker(client, task_queue=task_queue, workflows=[BrokenErasure]):

        async def failing() -> list[object]:
            found = await holdups(client, sqlite_ledger, rec)
            return [h for h in found if h.kind == "workflow_task_failing"]

        [failing_task] = await wait_for(failing, "a failing workflow task")
        assert "fails on every worker that runs it" in failing_task.what  # type: ignore[attr-defined]
        # The hourly check finds it and tells the operators, once.
        await sqlite_ledger.open_request(
            request_id=rec.request_id,
            subject_ref="ps_" + "0" * 32,
            jurisdiction="gdpr",
            verification_method="operator",
            channel="cli",
            systems=["crm"],
            workflow_id=rec.workflow_id,
            received_at=datetime.now(UTC),
            due_at=rec.due_at,
            sealed=sqlite_ledger.vault.seal(rec.request_id, {"email": "ada@example.org"}),
            actor="cli",
        )
        await sqlite_ledger.set_status(rec.request_id, "erasing", at=datetime.now(UTC), actor="x")
        printed = ConsoleAlerts(lambda _text: None)
        check = ProgressActivities(sqlite_ledger, client, Alerter(sqlite_ledger, [printed]))
        for _ in range(2):
            report = await check.find_stalled_requests(StallQuery(datetime.now(UTC).isoformat()))
            assert report.stalled == (rec.request_id,)
    stalled = [e for e in await sqlite_ledger.events(rec.request_id) if e.kind == "request_stalled"]
    assert [e.detail["kind"] for e in stalled] == ["workflow_task_failing"]  # recorded once
    assert [a.event for a in printed.printed] == ["request_stalled"]  # alerted once
    await client.get_workflow_handle(rec.workflow_id).terminate("test over")


async def test_a_retried_system_is_named_with_its_last_error_scrubbed(
    dev_server_env: WorkflowEnvironment, sqlite_ledger: Ledger, task_queue: str
) -> None:
    client = dev_server_env.client
    fakes = Fakes()

    @activity.defn(name="erase_in_system")
    async def erase_in_system(task: SystemTask) -> None:
        raise ApplicationError(
            "crm database refused the query for ada@example.org: connection reset",
            type="TransientError",
        )

    slow = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=1, attempt_limit=50)
    req = request(("crm",), method="preverified")
    req = type(req)(**{**req.__dict__, "policy": slow})
    activities = [a for a in fakes.all() if getattr(a, "__name__", "") != "erase_in_system"]
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[*activities, erase_in_system],
    ):
        await client.start_workflow(
            ErasureWorkflow.run, req, id=f"erasure/{req.request_id}", task_queue=task_queue
        )
        rec = record_of(req.request_id, task_queue)

        async def retrying() -> list[object]:
            found = await holdups(client, sqlite_ledger, rec)
            return [h for h in found if h.kind == "activity_retrying"]

        [retried] = await wait_for(retrying, "crm retried three times")
        await client.get_workflow_handle(rec.workflow_id).terminate("test over")
    what = retried.what  # type: ignore[attr-defined]
    assert what.startswith("crm: erase_in_system is being retried (attempt ")
    assert "crm database refused the query for [email redacted]" in what or "[redacted]" in what
    assert "ada@example.org" not in what
    assert retried.system == "crm"  # type: ignore[attr-defined]


@pytest.mark.parametrize("as_json", [False, True])
def test_status_says_when_temporal_cannot_be_asked(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """An open request, Temporal unreachable: never "the systems are being erased"."""
    from tests.lethe.test_cli import CONFIG
    from tests.lethe.test_operator_cli import seed
    from tests.support.cli import lethe

    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    seed(lethe_home, "er-open", status="erasing", due_in=timedelta(days=9))
    assert lethe("status", "er-open", *(["--json"] if as_json else [])) == 0
    out = capsys.readouterr().out
    if as_json:
        progress = json.loads(out)["progress"]
        assert progress["checked"] is False and progress["holdups"] == []
        assert "cannot reach Temporal at 127.0.0.1:9" in progress["unchecked_because"]
    else:
        flat = " ".join(out.split())
        assert "Progress unknown: cannot reach Temporal at 127.0.0.1:9" in flat
        assert "cannot be told from here" in flat and "nothing from you" not in flat


async def test_an_operator_update_is_not_sent_when_no_worker_would_answer_it(
    dev_server_env: WorkflowEnvironment, task_queue: str
) -> None:
    """``lethe approve``, ``cancel``, ``extend`` … ask the workflow and wait for its answer: with
    nobody polling its queue they would wait for ever, the operator unsure whether it counted.
    Nothing is sent (NoWorker, exit 69); once a worker polls, the same call goes through."""
    client = dev_server_env.client
    req = request(("crm",))
    handle = await client.start_workflow(
        ErasureWorkflow.run, req, id=f"erasure/{req.request_id}", task_queue=task_queue
    )
    with pytest.raises(NoWorker) as nobody:
        await ensure_served(client, handle, req.request_id)
    assert str(nobody.value) == (
        f"{req.request_id}: no worker polls the task queue {task_queue!r}, so nothing was sent;"
        " start one (lethe worker) and try again"
    )
    assert nobody.value.exit_code == 69
    fakes = Fakes()
    async with fakes_worker(client, fakes, task_queue):

        async def served() -> bool:
            try:
                await ensure_served(client, handle, req.request_id)
            except NoWorker:
                return False
            return True

        await wait_for(served, "the worker's poll to be seen")
        await handle.execute_update(
            ErasureWorkflow.approve_identity, OperatorApproval("kim", "called back")
        )
        assert (await handle.result()).status == "completed"
    # A closed workflow is left to the update to refuse (as before): no worker check.
    await ensure_served(client, handle, req.request_id)
