"""Processors that answer later (GDPR Art. 19), end to end: the real worker, activities and
SQLite ledger on the time-skipping Temporal test server, a local OpenDSR processor
(connectors/testing/fakes/opendsr.py) and ``lethe serve``'s callback endpoint in this process.

A processor that answers ``pending`` and calls back three simulated days later completes the
request, without the workflow asking it again; one that never answers is escalated to the
operators (a ``processor_overdue`` event and alert) at the time it promised, and the system
fails saying so: not a hang. Callbacks with a bad signature, an old timestamp or a replayed
webhook-id are refused with the reason recorded.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import WebhookAlerts
from connectors.testing.fakes.opendsr import FakeProcessor
from connectors.testing.fakes.server import serve
from connectors.webhook import decode_ticket
from connectors.webhook_signing import new_secret
from ledger import Ledger
from ledger.processor_callbacks import ProcessorCallbacks
from lethe.attention import progress_lines
from lethe.demo.systems import SUBJECT
from lethe.intake import submit_request
from lethe.keys import Keyring
from lethe.runtime import Runtime, load_registry, open_ledger
from lethe.settings import Settings, SystemConfig, TemporalSettings, build_connectors
from lethe.web.app import create_app
from tests.support.controller_receiver import controller_receiver
from tests.support.portal import portal_verification, preverified_draft
from workflows import ErasurePolicy, ErasureWorkflow

pytestmark = [pytest.mark.slow]

SECRET = new_secret()
ALERT_SECRET = b"alert-secret"
FAST = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=2, attempt_limit=2)
CALLBACK = "http://lethe/v1/callbacks/webhook/payroll"


def settings_for(tmp_path: Path, task_queue: str, url: str) -> Settings:
    options = {
        "url": f"{url}/opendsr",
        "secret_env": "LETHE_TEST_PAYROLL_SECRET",
        "callback_url": CALLBACK,
        "poll_after_seconds": 3600,
        "max_poll_after_seconds": 86400,
        "backoff_seconds": 0.01,
    }
    return Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=task_queue),
        systems={"payroll": SystemConfig("payroll", "webhook", options)},
        verification=portal_verification(),
    )


@pytest.fixture
async def processor(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[FakeProcessor]:
    # The processor keeps the test server's time (shared by the session, and skipped ahead
    # by earlier tests), so its promise of a week is a week of the workflow's time.
    ahead = await time_skipping_env.get_current_time() - datetime.now(UTC)
    with serve(FakeProcessor(SECRET, answer="never", promise=timedelta(days=7))) as fake:
        fake.clock = lambda: datetime.now(UTC) + ahead
        fake.add(SUBJECT.email, SUBJECT.name)
        fake.add("ada@example.org.uk", "Ada B")  # a bystander whose address contains hers
        yield fake
        assert not fake.violations, fake.violations


async def pending_srid(ledger: Ledger, rid: str) -> str:
    """Wait (on the ledger, not the clock) for the system to be pending; its request id at
    the processor."""
    for _ in range(600):
        for rec in await ledger.outcomes(rid):
            if rec.outcome == "pending" and rec.ticket:
                return str(decode_ticket(rec.ticket)["id"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: the processor's system never became pending")


@pytest.fixture
async def parts(
    time_skipping_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    processor: FakeProcessor,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Settings, Ledger, httpx.AsyncClient]]:
    monkeypatch.setenv("LETHE_TEST_PAYROLL_SECRET", SECRET)
    settings = settings_for(tmp_path, task_queue, processor.url)
    ledger = await open_ledger(settings, keys)
    runtime = Runtime(settings, keys, ledger)
    runtime._client = time_skipping_env.client  # the API signals through the test server
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as api:
            yield settings, ledger, api
    finally:
        await ledger.dispose()


def _worker(client: Client, task_queue: str, ledger: Ledger, connectors: Any, **more: Any) -> Any:
    return worker_module.build_worker(
        client,
        task_queue=task_queue,
        ledger=ledger,
        connectors=connectors,
        signing_key=Ed25519PrivateKey.generate(),
        **more,
    )


async def test_a_processor_calling_back_three_days_later_completes_the_request(
    time_skipping_env: WorkflowEnvironment,
    keys: Keyring,
    task_queue: str,
    processor: FakeProcessor,
    parts: tuple[Settings, Ledger, httpx.AsyncClient],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, ledger, api = parts
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    try:
        async with _worker(client, task_queue, ledger, connectors):
            draft = preverified_draft(settings, SUBJECT.email)
            done = await submit_request(
                draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
            )
            rid = done.request_id
            srid = await pending_srid(ledger, rid)
            await time_skipping_env.sleep(timedelta(days=3))
            polls = sum(line.startswith("GET") for line in processor.requests)
            assert polls >= 1  # it polled meanwhile, with back-off: the processor said pending
            processor.complete(srid)

            # Refused first: another secret, an old timestamp; nothing recorded for them.
            body, forged = processor.callback_message(srid, secret=new_secret())
            bad = await api.post("/v1/callbacks/webhook/payroll", content=body, headers=forged)
            assert bad.status_code == 401 and bad.json()["reason"] == "bad_signature"
            body, old = processor.callback_message(srid, at=int(time.time()) - 600)
            stale = await api.post("/v1/callbacks/webhook/payroll", content=body, headers=old)
            assert stale.status_code == 401 and stale.json()["reason"] == "old_timestamp"
            assert all(r.outcome == "pending" for r in await ledger.outcomes(rid))

            body, headers = processor.callback_message(srid)
            taken = await api.post("/v1/callbacks/webhook/payroll", content=body, headers=headers)
            assert taken.status_code == 200, taken.text
            assert taken.json()["result"] == "erased"
            again = await api.post("/v1/callbacks/webhook/payroll", content=body, headers=headers)
            assert again.status_code == 409 and again.json()["reason"] == "replayed_id"

            handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            result = await handle.result()
            # Woken by the callback: the answer came from the ledger, not another poll.
            assert sum(line.startswith("GET") for line in processor.requests) == polls
    finally:
        await worker_module.close_connectors(connectors)
    assert result.status == "completed"
    [payroll] = [o for o in result.systems if o.system == "payroll"]
    assert payroll.outcome == "erased" and payroll.counts == {"records.deleted": 1}
    assert [r["email"] for r in processor.records.values()] == ["ada@example.org.uk"]
    # Every callback is on record, with why; none of them with the person's address.
    seen = await ProcessorCallbacks(ledger).list("payroll")
    assert [(c.verdict, c.reason) for c in seen] == [
        ("refused", "bad_signature"),
        ("refused", "old_timestamp"),
        ("accepted", "erased"),
        ("refused", "replayed_id"),
    ]
    assert all(c.request_id in (None, rid) for c in seen)
    assert SUBJECT.email not in json.dumps([c.reason for c in seen])
    # The canary check, for what this adds: no table of the ledger, no log line, holds the
    # person's address in plain text (the processor got it, in the request body only).
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            rows = repr(db.execute(f'SELECT * FROM "{table}"').fetchall()).lower()
            assert SUBJECT.email not in rows, table
    out = capsys.readouterr()
    assert SUBJECT.email not in (out.out + out.err).lower()
    assert any(SUBJECT.email in json.dumps(b) for b in processor.bodies)


async def test_a_processor_that_never_answers_is_escalated_not_waited_for_forever(
    time_skipping_env: WorkflowEnvironment,
    keys: Keyring,
    task_queue: str,
    processor: FakeProcessor,
    parts: tuple[Settings, Ledger, httpx.AsyncClient],
) -> None:
    settings, ledger, _ = parts
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    try:
        with controller_receiver(ALERT_SECRET) as hook:
            async with _worker(
                client,
                task_queue,
                ledger,
                connectors,
                alerts=[WebhookAlerts(hook.url, ALERT_SECRET)],
                alert_on=["processor_overdue"],
            ):
                draft = preverified_draft(settings, SUBJECT.email)
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                await pending_srid(ledger, done.request_id)
                await time_skipping_env.sleep(timedelta(days=8))  # past the promised week
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                result = await handle.result()
            [payload] = hook.accepted
    finally:
        await worker_module.close_connectors(connectors)
    rid = done.request_id
    [payroll] = [o for o in result.systems if o.system == "payroll"]
    assert payroll.outcome == "failed"
    assert "promised an answer by" in (payroll.error or "") and "escalated" in (payroll.error or "")
    [overdue] = [e for e in await ledger.events(rid) if e.kind == "processor_overdue"]
    assert overdue.detail["system"] == "payroll" and overdue.detail["ticket"].startswith(
        "webhook1:"
    )
    assert payload["event"] == "processor_overdue" and payload["system"] == "payroll"
    # `lethe status` says so, with what to do.
    [line] = [x for x in progress_lines(None, await ledger.events(rid)) if "payroll" in x]
    assert line.startswith("Escalated: the processor of payroll did not answer by")
    assert f"lethe retry {rid} --system payroll" in line
    assert "@" not in json.dumps(payload) and "@" not in json.dumps(overdue.detail)
    # It was polled meanwhile, with back-off (not every hour for seven days), and the
    # person's record is still there: nothing was claimed that did not happen.
    polls = sum(line.startswith("GET") for line in processor.requests)
    assert 3 <= polls <= 14  # 1, 2, 4, 8, 16 hours, then daily: not hourly (168)
    assert SUBJECT.email in [r["email"] for r in processor.records.values()]


@pytest.fixture
async def local_api(
    keys: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Ledger, httpx.AsyncClient]]:
    """The API in this process with no Temporal behind it: what is refused is refused before
    anything would be signalled."""
    monkeypatch.setenv("LETHE_TEST_PAYROLL_SECRET", SECRET)
    settings = settings_for(tmp_path, "unused", "http://127.0.0.1:9")
    ledger = await open_ledger(settings, keys)
    app = create_app(settings, runtime=Runtime(settings, keys, ledger))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as api:
            yield ledger, api
    finally:
        await ledger.dispose()


def _signed(body: Any, *, secret: str = SECRET, msg_id: str = "msg_1") -> tuple[bytes, Any]:
    from connectors.webhook_signing import signed_headers

    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return raw, {**signed_headers(secret, msg_id, raw), "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("payroll", b"not json", 400, "bad_body"),
        ("payroll", {"request_status": "completed"}, 400, "bad_body"),
        (
            "payroll",
            {"subject_request_id": "0b3c6a5e-2f41-4c1e-9b2d-7a8e1f0c4d3a", "request_status": "x"},
            404,
            "unknown_request",
        ),
        ("nosuch", {"subject_request_id": "x"}, 404, "unknown_system"),
    ],
)
async def test_callbacks_that_cannot_be_taken_are_refused_in_one_line_and_recorded(
    local_api: tuple[Ledger, httpx.AsyncClient], path: str, body: Any, status: int, reason: str
) -> None:
    ledger, api = local_api
    raw, headers = _signed(body)
    answer = await api.post(f"/v1/callbacks/webhook/{path}", content=raw, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["reason"] == reason and "\n" not in answer.json()["error"]
    [kept] = await ProcessorCallbacks(ledger).list()
    assert (kept.system, kept.verdict, kept.reason) == (path, "refused", reason)


async def test_a_callback_without_signature_headers_is_refused(
    local_api: tuple[Ledger, httpx.AsyncClient],
) -> None:
    ledger, api = local_api
    answer = await api.post("/v1/callbacks/webhook/payroll", json={"subject_request_id": "x"})
    assert answer.status_code == 401 and answer.json()["reason"] == "missing_header"
    assert [c.reason for c in await ProcessorCallbacks(ledger).list()] == ["missing_header"]
