"""``lethe approve`` and ``lethe controller-instruction`` call the workflow's updates: a refusal
is the workflow's reason, one line on stderr, exit 1, and nothing changes in the ledger.

In process (the command runs in a thread, as its own event loop), against the time-skipping
test server; the workflows' activities are the fakes of tests/workflows, so what the ledger
holds is what the command line itself wrote.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ledger import ControllerReferrals, Ledger, SubjectVault, create_ledger_engine, upgrade_schema
from lethe.keys import load_keyring
from lethe.temporal import data_converter
from tests.support.cli import lethe, one_line_error
from tests.workflows.test_approval_and_instruction_updates import pending_for_days
from tests.workflows.test_erasure_workflow import Fakes, fakes_worker, request
from workflows import (
    CancelOrder,
    ErasureResult,
    ErasureWorkflow,
    system_erasure_id,
    workflow_id_for,
)


@pytest.fixture
async def ledger(lethe_home: Path) -> AsyncIterator[Ledger]:
    """The ledger ``lethe`` opens (``lethe init``'s), for the test to seed and read."""
    keys = load_keyring(lethe_home)
    engine = create_ledger_engine(f"sqlite+aiosqlite:///{lethe_home / 'lethe.db'}")
    await upgrade_schema(engine)
    ledger = Ledger(engine, SubjectVault(keys.vault))
    try:
        yield ledger
    finally:
        await ledger.dispose()


@pytest.fixture
def client(
    lethe_home: Path, time_skipping_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> Client:
    """A client with ``lethe init``'s keys (the command line's), on the test server."""
    server = time_skipping_env.client
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", server.service_client.config.target_host)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    return Client(
        server.service_client,
        namespace=server.namespace,
        data_converter=data_converter(load_keyring(lethe_home)),
    )


async def _recorded(ledger: Ledger, method: str, systems: tuple[str, ...]) -> str:
    """A request as intake records it; its id."""
    req = request(systems, method)
    assert ledger.vault is not None
    await ledger.open_request(
        request_id=req.request_id,
        subject_ref=f"ps_{uuid.uuid4().hex}",  # a person of their own
        jurisdiction="gdpr",
        verification_method=method,
        channel="cli",
        systems=list(systems),
        workflow_id=workflow_id_for(req.request_id),
        received_at=datetime.now(UTC),
        due_at=datetime.now(UTC) + timedelta(days=28),
        sealed=ledger.vault.seal(req.request_id, {"email": "ada@example.org"}),
        actor="cli",
    )
    return req.request_id


async def _started(
    client: Client, rid: str, method: str, systems: tuple[str, ...], queue: str
) -> WorkflowHandle[ErasureWorkflow, ErasureResult]:
    """The request's workflow (``rid`` as recorded)."""
    req = replace(request(systems, method), request_id=rid)
    return await client.start_workflow(
        ErasureWorkflow.run, req, id=workflow_id_for(rid), task_queue=queue
    )


async def _state(ledger: Ledger, rid: str) -> tuple[str, list[tuple[str, str | None]]]:
    """What a refused command must leave as it was: the status and the events."""
    rec = await ledger.require_request(rid)
    return rec.status, [(e.kind, e.actor) for e in await ledger.events(rid)]


async def _lethe(*args: str) -> int:
    return await asyncio.to_thread(lethe, *args)


async def test_a_refused_approval_is_one_line_and_changes_nothing(
    ledger: Ledger,
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fakes = Fakes(scripts={"crm": pending_for_days}, polls_until_done=10)
    async with fakes_worker(client, fakes, task_queue):
        # Verified by an emailed code: an operator's approval does not count.
        by_code = await _recorded(ledger, "email", ("crm",))
        waiting = await _started(client, by_code, "email", ("crm",), task_queue)
        before = await _state(ledger, by_code)
        assert await _lethe("approve", by_code, "--reason", "called back") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: {by_code}: not approved:"
            " this request is verified by email, not by an operator"
        )
        assert await _state(ledger, by_code) == before

        # Approved once (the update answers), then again: the second is refused.
        rid = await _recorded(ledger, "operator", ("crm",))
        handle = await _started(client, rid, "operator", ("crm",), task_queue)
        assert await _lethe("approve", rid, "--reason", "called back, ticket 7", "--json") == 0
        approved = json.loads(capsys.readouterr().out)
        assert approved == {
            "request_id": rid,
            "approved_by": "kim",
            "reason": "called back, ticket 7",
        }
        before = await _state(ledger, rid)
        assert await _lethe("approve", rid, "--reason", "me too", "--operator", "lee") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: {rid}: not approved: identity is already approved (by kim)"
        )
        assert await _state(ledger, rid) == before
        # Polled hourly: skip the test server's clock ahead (this client does not).
        await time_skipping_env.sleep(timedelta(hours=12))
        await handle.result()
        # Leave no workflow behind on the shared test server: one whose timers fire with no
        # worker polling holds a workflow task open, and the server then skips no time.
        await waiting.execute_update(ErasureWorkflow.cancel_request, CancelOrder("kim", "done"))
        await waiting.result()
    verified = [s for s in fakes.statuses if s.event == "verified"]
    assert [(s.request_id, s.actor) for s in verified] == [(rid, "operator:kim")]


async def test_a_refused_instruction_is_one_line_and_changes_nothing(
    ledger: Ledger,
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # lms: processor-held; once instructed, erased in round 1, where it stays pending a while.
    fakes = Fakes(
        processors={"lms": "acme-university"},
        scripts={"lms": pending_for_days},
        polls_until_done=10,
    )
    async with fakes_worker(client, fakes, task_queue):
        rid = await _recorded(ledger, "preverified", ("lms",))
        handle = await _started(client, rid, "preverified", ("lms",), task_queue)
        for _ in range(200):  # the child waits for the controller
            if fakes.notices:
                break
            await asyncio.sleep(0.05)
        # The ledger's referral (the fakes keep none): which workflow waits.
        await ControllerReferrals(ledger).open(
            request_id=rid,
            system="lms",
            round_=0,
            controller="acme-university",
            workflow_id=system_erasure_id(rid, "lms", 0),
            answer_by=datetime.now(UTC) + timedelta(days=14),
            connector_called=False,
            at=datetime.now(UTC),
        )
        erase = ("controller-instruction", rid, "--system", "lms", "--erase")
        assert await _lethe(*erase, "--reason", "acme said erase (ticket 4411)") == 0
        assert "erasing on acme-university's instruction (round 1)" in capsys.readouterr().out
        before = await _state(ledger, rid)
        assert await _lethe(*erase, "--reason", "again", "--operator", "lee") == 1
        assert one_line_error(capsys) == (
            f"lethe: error: lms of {rid}: instruction refused:"
            " an instruction was already given (erase, by kim)"
        )
        assert await _state(ledger, rid) == before
        assert (await ControllerReferrals(ledger).waiting(rid, "lms")) is not None
        # Polled hourly: skip the test server's clock ahead (this client does not).
        await time_skipping_env.sleep(timedelta(hours=12))
        await handle.result()
    assert [(r.instruction, r.operator) for r in fakes.instructions] == [("erase", "kim")]
