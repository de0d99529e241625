"""Verification and deadlines as an operator meets them: the `lethe` command against a real
Temporal dev server, the real worker and ledger, and a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import SmtpConfig, SmtpMailer
from ledger import Ledger
from lethe.demo.run import write_demo_config
from lethe.demo.systems import SUBJECT, check_bystanders, seed_demo_systems
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, TemporalSettings, build_connectors
from tests.support.cli import Lethe
from tests.support.smtp import Inbox, smtp_server

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def cli_env(
    tmp_path: Path, settings: Settings, keys: Keyring, extra: dict[str, str]
) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(settings.home),
        "LETHE_CONFIG": str(tmp_path / "lethe.toml"),
        "LETHE_DATABASE_URL": settings.database_url,
        "LETHE_TEMPORAL_ADDRESS": settings.temporal.address,
        "LETHE_TASK_QUEUE": settings.temporal.task_queue,
        "LETHE_PSEUDONYM_KEY": base64.b64encode(keys.pseudonym).decode(),
        "LETHE_VAULT_KEY": base64.b64encode(keys.vault).decode(),
        "LETHE_PAYLOAD_KEY": base64.b64encode(keys.payload).decode(),
        "LETHE_OPERATOR": "kim",
        **extra,
    }


async def finished(ledger: Ledger, request_id: str, within: float = 60) -> str:
    for _ in range(int(within / 0.2)):
        rec = await ledger.require_request(request_id)
        if rec.completed_at is not None:
            return rec.status
        await asyncio.sleep(0.2)
    raise AssertionError(f"{request_id} did not finish")


async def recorded(ledger: Ledger, request_id: str, kind: str, within: float = 60) -> list[str]:
    """The request's event kinds once one of ``kind`` is among them."""
    for _ in range(int(within / 0.2)):
        kinds = [e.kind for e in await ledger.events(request_id)]
        if kind in kinds:
            return kinds
        await asyncio.sleep(0.2)
    raise AssertionError(f"{request_id}: no {kind} event")


async def test_an_operator_verifies_extends_and_lists_from_the_command_line(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    write_demo_config(tmp_path / "lethe.toml", dict(demo.systems))
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(
            address=dev_server_env.client.service_client.config.target_host,
            task_queue=task_queue,
        ),
        systems=demo.systems,
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    base = cli_env(tmp_path, settings, keys, {})
    portal_key = (await Lethe(base, tmp_path).ok("dev-assertion", "--public-key"))["public_key"]
    # Every command runs in this process (tests/support/cli.py) but the first: a real `lethe`
    # program, given a namespace the server does not have, says the server's refusal in one
    # line and exits 69, without a traceback.
    lethe = Lethe({**base, "LETHE_PORTAL_PUBLIC_KEYS": portal_key}, tmp_path)
    elsewhere = Lethe(
        {**base, "LETHE_TEMPORAL_NAMESPACE": "no-such-namespace"}, tmp_path, process=True
    )
    refused = await elsewhere.refused("sweeper", "install", code=69)
    assert "Temporal refused: Namespace no-such-namespace is not found" in refused
    try:
        with smtp_server() as inbox:
            mailer = SmtpMailer(SmtpConfig("127.0.0.1", inbox.port, security="none"))
            async with worker_module.build_worker(
                dev_server_env.client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=Ed25519PrivateKey.generate(),
                mailer=mailer,
            ):
                await _email_code_path(lethe, ledger, inbox, dev_server_env)
                await _portal_assertion_path(lethe, ledger)
                await _cancel_path(lethe, ledger)
                await _resend_path(lethe, ledger, inbox)
                await _acknowledge_path(lethe, ledger, inbox)
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
    assert check_bystanders(demo)[1] == []


async def _first_try(lethe: Lethe, rid: str, code: str) -> str:
    """The refusal of the first code entered once the mail is in the inbox. The mail arrives
    before the activity that sent it has answered the workflow; until it has, the workflow says
    so (no try counted), and the requester, like this test, tries again."""
    for _ in range(100):
        said = await lethe.refused("verify", rid, "--code", code)
        if "no code has been sent for this request yet; try again shortly" not in said:
            return said
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: the code was never recorded as sent")


async def _email_code_path(
    lethe: Lethe, ledger: Ledger, inbox: object, env: WorkflowEnvironment
) -> None:
    submitted = await lethe.ok("submit", SUBJECT.email, "--verification", "email")
    rid = submitted["request_id"]  # type: ignore[index]
    received = datetime.fromisoformat(submitted["received_at"])  # type: ignore[index]
    [message] = await inbox.wait_for(1)  # type: ignore[attr-defined]
    assert message["To"] == SUBJECT.email
    code = inbox.code_in(message)  # type: ignore[attr-defined]
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)

    assert "wrong code (4 attempt(s) left)" in await _first_try(lethe, rid, wrong)
    assert "8 digits" in await lethe.refused("verify", rid, "--code", "123")
    # With --json the answer is on stdout, and the refusal still one line on stderr.
    got, out, err = await lethe("verify", rid, "--code", wrong, "--json")
    assert got == 1 and json.loads(out)["outcome"] == "wrong_code"
    said = f"lethe: error: {rid}: code refused: wrong code (3 attempt(s) left)"
    assert err.splitlines() == [said]
    assert await ledger.outcomes(rid) == []  # nothing erased before verification

    assert [r["request_id"] for r in await lethe.ok("list", "--due-within", "40d")] == [rid]  # type: ignore[attr-defined,index]
    assert await lethe.ok("list", "--overdue") == []
    assert "cannot read '7x' as a duration" in await lethe.refused("list", "--due-within", "7x")

    extended = await lethe.ok("extend", rid, "--reason", "fourteen systems to search")
    assert extended["extended_by"] == "operator:kim"  # type: ignore[index]
    assert datetime.fromisoformat(extended["due_at"]) == received + timedelta(days=45)  # type: ignore[index]
    again = await lethe.refused("extend", rid, "--reason", "still more")
    assert "already extended" in again

    accepted = await lethe.ok("verify", rid, "--code", code)
    assert accepted["accepted"] and accepted["outcome"] == "accepted"  # type: ignore[index]
    assert await finished(ledger, rid) == "completed_with_exceptions"
    assert "the request is closed" in await lethe.refused("verify", rid, "--code", code)

    record = await lethe.ok("status", rid)
    events = [e["kind"] for e in record["events"]]  # type: ignore[index]
    actors = {e["kind"]: e["actor"] for e in record["events"]}  # type: ignore[index]
    assert actors["deadline_extended"] == "operator:kim"  # as every operator's act is recorded
    assert events.count("verification_code_refused") == 4
    for kind in (
        "verification_code_sent",
        "acknowledged",
        "verification_code_accepted",
        "deadline_extended",
        "extension_notice_sent",
        "verified",
    ):
        assert kind in events, kind
    assert SUBJECT.email not in json.dumps(record) and code not in json.dumps(record)
    notice = inbox.messages[-1]  # type: ignore[attr-defined]
    assert "fourteen systems to search" in notice.get_content()
    history = await env.client.get_workflow_handle(record["workflow_id"]).fetch_history()  # type: ignore[index]
    assert SUBJECT.email.encode() not in history.to_json().encode()


async def _portal_assertion_path(lethe: Lethe, ledger: Ledger) -> None:
    email = "katherine@example.com"  # in none of the demo systems
    token = (await lethe.ok("dev-assertion", email))["assertion"]  # type: ignore[index]
    first = await lethe.ok("submit", email, "--assertion", token, "--allow-duplicate")
    assert first["verification_method"] == "preverified"  # type: ignore[index]
    before = len(await lethe.ok("list"))  # type: ignore[arg-type]
    replay = await lethe.refused("submit", email, "--assertion", token, "--allow-duplicate")
    assert "already used" in replay
    other = await lethe.refused(
        "submit", "mallory@example.org", "--assertion", token, "--allow-duplicate"
    )
    assert "someone else" in other
    assert len(await lethe.ok("list")) == before  # type: ignore[arg-type]  # nothing half-written
    rid = first["request_id"]  # type: ignore[index]
    assert await finished(ledger, rid) == "completed"  # found nowhere: nothing kept
    verified = [e for e in await ledger.events(rid) if e.kind == "verified"]
    assert verified and verified[0].actor == "portal:dev-portal"


async def _cancel_path(lethe: Lethe, ledger: Ledger) -> None:
    """Withdrawn before verification: cancelled, sealed, nothing touched; then refusals."""
    made = await lethe.ok(
        "submit", "carol@example.org", "--verification", "operator", "--channel", "phone"
    )
    rid = made["request_id"]  # type: ignore[index]
    record = await ledger.get_request(rid)
    assert record is not None and record.channel == "phone"  # the manner the record keeps
    assert "'fax' is not one of" in await lethe.refused(
        "submit", "dan@example.org", "--channel", "fax", code=2
    )
    # Cancelled once the receipt is acknowledged (the record then ends: cancelled, sealed).
    await recorded(ledger, rid, "acknowledged")
    done = await lethe.ok("cancel", rid, "--reason", "filed twice by mistake")
    assert done == {"request_id": rid, "status": "cancelled", "cancelled_by": "kim"}
    assert await finished(ledger, rid) == "cancelled"
    assert await ledger.outcomes(rid) == []
    kinds = await recorded(ledger, rid, "sealed")  # sealing follows the completion
    assert kinds[-2:] == ["cancelled", "sealed"]
    again = await lethe.refused("cancel", rid, "--reason", "again")
    assert "has already finished (cancelled)" in again
    assert "no erasure request" in await lethe.refused("cancel", "er-nope", "--reason", "x", code=4)
    assert "Missing option '--reason'" in await lethe.refused("cancel", rid, code=2)


async def _resend_path(lethe: Lethe, ledger: Ledger, inbox: Inbox) -> None:
    """A lost code, through the real stack: a new one is mailed and replaces the old one, a
    wrong try still counts, and the resend is recorded. (The limit, the lock and the usage
    refusals are in tests/workflows/test_identity_and_deadlines.py and
    tests/lethe/test_cli_verification.py.)"""
    email = "erin@example.org"
    rid = (await lethe.ok("submit", email, "--verification", "email"))["request_id"]  # type: ignore[index]
    mailed = len(await inbox.wait_for(len(inbox.messages) + 1))
    first = inbox.code_in(inbox.messages[-1])
    wrong = first[:-1] + str((int(first[-1]) + 1) % 10)
    assert "4 attempt(s) left" in await _first_try(lethe, rid, wrong)

    resent = await lethe.ok("verify", rid, "--resend", "--reason", "lost in spam, ticket 881")
    assert resent["resent_by"] == "operator:kim"  # type: ignore[index]
    assert (resent["resends_left"], resent["attempts_left"]) == (2, 4)  # type: ignore[index]
    [message] = (await inbox.wait_for(mailed + 1))[mailed:]
    assert message["To"] == email and "(new code)" in message["Subject"]
    second = inbox.code_in(message)
    assert second != first
    # The old code is dead at once, and a wrong try still counts.
    assert "wrong code (3 attempt(s) left)" in await lethe.refused("verify", rid, "--code", first)
    accepted = await lethe.ok("verify", rid, "--code", second)
    assert accepted["accepted"]  # type: ignore[index]
    assert await finished(ledger, rid) == "completed"  # in none of the demo systems
    assert "the request is closed" in await lethe.refused("verify", rid, "--resend")
    events = await ledger.events(rid)
    [event] = [e for e in events if e.kind == "verification_code_resent"]
    assert event.actor == "operator:kim" and event.detail["reason"] == "lost in spam, ticket 881"
    assert first not in str([e.detail for e in events]) and second not in str(
        [e.detail for e in events]
    )


async def _acknowledge_path(lethe: Lethe, ledger: Ledger, inbox: Inbox) -> None:
    """The mail server refuses the address: an operator phones, and records it."""
    email = "hal@example.org"
    inbox.refuse.add(email)
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    made = await lethe.ok(
        "submit", email, "--verification", "operator", "--received-at", two_days_ago
    )
    rid = made["request_id"]  # type: ignore[index]
    for _ in range(150):  # the receipt mail is tried, and refused
        kinds = [e.kind for e in await ledger.events(rid)]
        if "acknowledgement_overdue" in kinds:
            break
        await asyncio.sleep(0.2)
    code, out, _ = await lethe("status", rid)
    out = " ".join(out.split())  # the console wraps long lines
    assert code == 0 and f"lethe acknowledge {rid} --channel" in out, out
    assert "receipt not acknowledged yet" in out
    done = await lethe.ok(
        "acknowledge", rid, "--channel", "phone", "--reason", "called +44 20 7946 0958, log 7"
    )
    assert done["on_time"] is False and done["channel"] == "phone"  # type: ignore[index]
    assert done["acknowledged_by"] == "operator:kim"  # type: ignore[index]
    assert done["reason"] == "called [phone redacted], log 7"  # type: ignore[index]
    again = await lethe.refused("acknowledge", rid, "--channel", "mail", "--reason", "letter")
    assert "already acknowledged on" in again and "phone, by operator:kim" in again

    code, out, _ = await lethe("status", rid)
    out = " ".join(out.split())
    assert "by phone, operator:kim (LATE)" in out and "lethe acknowledge" not in out, out
    record = await lethe.ok("status", rid)
    assert record["clock"]["acknowledged_at"] == done["acknowledged_at"]  # type: ignore[index]
    [event] = [e for e in record["events"] if e["kind"] == "acknowledged"]  # type: ignore[index]
    assert event["actor"] == "operator:kim"
    code, out, _ = await lethe("audit", "export", "--format", "jsonl")
    [row] = [json.loads(line) for line in out.splitlines() if rid in line]
    assert row["date_acknowledged"] == done["acknowledged_at"]  # type: ignore[index]

    late = await lethe.ok("submit", email, "--verification", "operator", "--allow-duplicate")
    lid = late["request_id"]  # type: ignore[index]
    await lethe.ok("cancel", lid, "--reason", "filed twice")
    assert "has finished (cancelled)" in await lethe.refused(
        "acknowledge", lid, "--channel", "phone", "--reason", "x"
    )
    await lethe.ok("approve", rid, "--reason", "called back, ticket 9")
    await finished(ledger, rid)
