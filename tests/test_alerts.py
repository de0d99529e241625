"""Operator alerts, end to end: the real worker, activities and SQLite ledger on the
time-skipping Temporal test server, a real SMTP server (aiosmtpd) and a real HTTP receiver on
loopback that checks the HMAC signature as docs/controller-webhook.md describes.

An overdue request alerts once, by mail and by webhook, with what an operator needs and
nothing about the person; a controller that refuses a referral alerts; alert channels that
fail (HTTP 500, a refused mailbox) are recorded as ``alert_failed`` and change nothing about
the request's outcome.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import (
    ControllerEndpoint,
    DeadlineActivities,
    DeadlineEvent,
    MailAlerts,
    SmtpConfig,
    SmtpMailer,
    WebhookAlerts,
)
from activities.alerts import Alerter
from ledger import Ledger, RequestEvent
from lethe.demo.systems import SUBJECT, seed_demo_systems
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, SystemConfig, TemporalSettings, build_connectors
from tests.support.controller_receiver import controller_receiver
from tests.support.portal import portal_verification, preverified_draft
from tests.support.smtp import smtp_server
from workflows import (
    CancelOrder,
    ControllerInstruction,
    ErasurePolicy,
    ErasureWorkflow,
    SystemErasureWorkflow,
)

pytestmark = [pytest.mark.slow]

OPS = "privacy-team@example.org"
ALERT_SECRET = b"alert-secret"
FAST = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=2, attempt_limit=2)


async def events_of(ledger: Ledger, rid: str, kind: str, count: int) -> list[RequestEvent]:
    """Wait (on the ledger, not the clock) until ``count`` events of ``kind`` are recorded."""
    found: list[RequestEvent] = []
    for _ in range(600):
        found = [e for e in await ledger.events(rid) if e.kind == kind]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: expected {count} {kind} event(s), got {len(found)}")


def settings_for(tmp_path: Path, task_queue: str, systems: dict[str, SystemConfig]) -> Settings:
    return Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=task_queue),
        systems=systems,
        verification=portal_verification(),
    )


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(SmtpConfig("127.0.0.1", port, sender="lethe@example.org", security="none"))


async def test_an_overdue_request_alerts_the_operators_once(
    time_skipping_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = settings_for(tmp_path, task_queue, dict(demo.systems))
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    try:
        with smtp_server() as inbox, controller_receiver(ALERT_SECRET) as hook:
            smtp = mailer(inbox.port)
            alerts = [MailAlerts(smtp, [OPS]), WebhookAlerts(hook.url, ALERT_SECRET)]
            async with worker_module.build_worker(
                client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=Ed25519PrivateKey.generate(),
                mailer=smtp,
                alerts=alerts,
                alert_on=["deadline_overdue"],
            ):
                # Received by post 40 days ago: the answer (one month) is overdue at entry;
                # the reminder fires too, but only deadline_overdue is chosen to alert.
                draft = validate_request(
                    settings,
                    email=SUBJECT.email,
                    verification="operator",
                    received_at=datetime.now(UTC) - timedelta(days=40),
                )
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys
                )
                rid = done.request_id
                sent = await events_of(ledger, rid, "alert_sent", 2)
                [overdue] = await events_of(ledger, rid, "deadline_overdue", 1)
                await events_of(ledger, rid, "deadline_reminder", 1)
                due = datetime.fromisoformat(overdue.detail["due"])
                key = f"{rid}/deadline_overdue/{due.isoformat()}"
                assert sorted(e.detail["channel"] for e in sent) == ["mail", "webhook"]
                assert {e.detail["key"] for e in sent} == {key}

                # By mail, to the operators: what, when, and the command to run.
                [alert] = [m for m in inbox.messages if m["To"] == OPS]
                body = alert.get_content()
                assert alert["Subject"] == f"[lethe] deadline overdue: {rid}"
                assert str(alert["X-Lethe-Alert"]).strip() == key
                rec = await ledger.require_request(rid)
                assert f"Request {rid} (GDPR, subject {rec.subject_ref})" in body
                assert "OVERDUE" in body and f"Deadline: {due:%Y-%m-%d %H:%M} UTC" in body
                assert f"Next: an operator confirms who asks: lethe approve {rid}" in body
                assert f"lethe extend {rid} --reason" in body
                assert "@" not in body and SUBJECT.email not in alert.as_string()
                assert SUBJECT.name not in alert.as_string()

                # By webhook: signed (the receiver checks), the key as its delivery id.
                assert hook.rejected == [] and hook.deliveries == [key]
                [payload] = hook.accepted
                assert payload["event"] == "deadline_overdue"
                assert payload["alert_id"] == key and payload["request_id"] == rid
                assert payload["subject_ref"] == rec.subject_ref
                assert payload["jurisdiction"] == "gdpr"
                assert payload["deadline"] == due.isoformat()
                assert any(f"lethe approve {rid}" in step for step in payload["next"])
                assert "@" not in json.dumps(payload)

                # The activity retried (a worker crash after the alert went out): not again.
                again = DeadlineActivities(
                    ledger, smtp, Alerter(ledger, alerts, on=["deadline_overdue"])
                )
                await again.record_deadline_event(DeadlineEvent(rid, "deadline_overdue", due))
                assert len([m for m in inbox.messages if m["To"] == OPS]) == 1
                assert len(hook.accepted) == 1
                assert len([e for e in await ledger.events(rid) if e.kind == "alert_sent"]) == 2

                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                await handle.execute_update(
                    ErasureWorkflow.cancel_request, CancelOrder("kim", "test done")
                )
                assert (await handle.result()).status == "cancelled"
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()


async def test_a_referral_escalation_alerts(
    time_skipping_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    systems = {
        "lms": SystemConfig(
            "lms",
            "tests.support.tripwire:TripwireConnector",
            {},
            role="processor",
            controller="acme-university",
        )
    }
    settings = settings_for(tmp_path, task_queue, systems)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    try:
        with (
            controller_receiver(b"acme-secret") as acme,
            controller_receiver(ALERT_SECRET) as hook,
        ):
            acme.answer = 400  # the controller refuses the notice: escalated at once
            async with worker_module.build_worker(
                client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=Ed25519PrivateKey.generate(),
                processors={"lms": "acme-university"},
                controllers={
                    "acme-university": ControllerEndpoint(
                        "acme-university", acme.url, b"acme-secret"
                    )
                },
                alerts=[WebhookAlerts(hook.url, ALERT_SECRET)],
                alert_on=["referral_escalated"],
            ):
                draft = preverified_draft(settings, SUBJECT.email)
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                rid = done.request_id
                [sent] = await events_of(ledger, rid, "alert_sent", 1)
                assert (await ledger.require_request(rid)).status == "escalated"
                key = f"{rid}/referral_escalated/lms/0"
                assert sent.detail == {
                    "key": key,
                    "event": "referral_escalated",
                    "channel": "webhook",
                }
                [payload] = hook.accepted
                assert hook.deliveries == [key]
                assert payload["event"] == "referral_escalated" and payload["system"] == "lms"
                assert "acme-university" in payload["what"] and "HTTP 400" in payload["what"]
                assert any(
                    f"lethe controller-instruction {rid} --system lms" in step
                    for step in payload["next"]
                )
                assert "@" not in json.dumps(payload)
                # End it the way an operator would (a terminated request would leave its
                # referral's timers on the shared test server and stop time skipping there).
                child = client.get_workflow_handle_for(
                    SystemErasureWorkflow.run, f"{done.workflow_id}/lms/0"
                )
                await child.signal(
                    SystemErasureWorkflow.controller_instruction,
                    ControllerInstruction(
                        "retain",
                        "kim",
                        "test done",
                        legal_basis="gdpr-17-3-b",
                        retained_until="2031-07-31",
                    ),
                )
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                assert (await handle.result()).status == "completed_with_exceptions"
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()


async def test_alerts_that_cannot_be_delivered_change_nothing_about_the_request(
    time_skipping_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    with sqlite3.connect(tmp_path / "payroll.db") as db:
        db.execute("CREATE TABLE other (id INTEGER PRIMARY KEY)")  # no "staff" table: fails
    payroll: dict[str, Any] = {
        "url": f"sqlite+aiosqlite:///{tmp_path / 'payroll.db'}",
        "tables": [{"table": "staff", "key": "email", "identifier": "email", "action": "delete"}],
    }
    systems = {**demo.systems, "payroll": SystemConfig("payroll", "sql", payroll)}
    settings = settings_for(tmp_path, task_queue, systems)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    try:
        with smtp_server() as inbox, controller_receiver(ALERT_SECRET) as hook:
            hook.answer = 500  # retried, then given up
            inbox.refuse.add(OPS)  # refused for good: not retried
            async with worker_module.build_worker(
                client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=Ed25519PrivateKey.generate(),
                alerts=[
                    MailAlerts(mailer(inbox.port), [OPS]),
                    WebhookAlerts(hook.url, ALERT_SECRET),
                ],
                alert_on=["system_failed"],
                alert_backoff_seconds=0.05,
            ):
                draft = preverified_draft(settings, SUBJECT.email)
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                result = await handle.result()
                rid = done.request_id
        assert result.status == "partially_failed"
        outcomes = {o.system: o.outcome for o in await ledger.outcomes(rid)}
        assert outcomes == {
            "forum": "erased",
            "crm": "retained",
            "newsletter": "erased",
            "backups": "retained",
            "payroll": "failed",
        }
        events = await ledger.events(rid)
        failed = {e.detail["channel"]: e for e in events if e.kind == "alert_failed"}
        assert not [e for e in events if e.kind == "alert_sent"]
        assert set(failed) == {"mail", "webhook"}
        assert failed["webhook"].detail["key"] == f"{rid}/system_failed/payroll/0"
        assert "HTTP 500" in failed["webhook"].detail["reason"]
        assert "(3 attempts)" in failed["webhook"].detail["reason"]
        assert len(hook.deliveries) == 3  # every attempt reached it, signed
        assert "refused" in failed["mail"].detail["reason"]
        assert OPS not in json.dumps([e.detail for e in events])  # not even the operators'
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
