"""A request that came by post 40 days ago, entered now with the person's username: the
`lethe` command against a real Temporal dev server, the real worker and ledger, an SQL system
keyed on usernames, and a real SMTP server on loopback.

The clock counts from the receipt, not from the entry: the answer is overdue the moment it is
entered, the acknowledgement goes out at once and is recorded as late, ``list --overdue``
finds it, the CCPA-style export dates it by its receipt; the entry is an event of its own. The
username reaches the connector from the vault (its row is deleted, a bystander's is not) and
is in no output.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import json
import os
import sqlite3
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import SmtpConfig, SmtpMailer
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import build_connectors, load_settings
from tests.support.cli import Lethe
from tests.support.smtp import smtp_server

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

EMAIL = "ada@example.org"
USERNAME = "adal_1815"  # in no email, so only the --identifier can find her row

CONFIG = """
[systems.accounts]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/accounts.db"
max_rows = 5
[[systems.accounts.tables]]
table = "logins"
key = "username"
identifier = "username"
action = "delete"
"""


def usernames(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(r[0] for r in db.execute("SELECT username FROM logins"))


def one_month_after(day: datetime) -> datetime:
    """GDPR Art. 12(3): the same day of the next month (its last day if shorter), here
    counted independently of lethe.deadlines."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


async def test_a_request_received_by_post_40_days_ago(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    with sqlite3.connect(tmp_path / "accounts.db") as db:
        db.execute("CREATE TABLE logins (id INTEGER PRIMARY KEY, username TEXT NOT NULL)")
        db.executemany("INSERT INTO logins (username) VALUES (?)", [(USERNAME,), ("grace_h",)])
    (tmp_path / "lethe.toml").write_text(CONFIG.format(root=tmp_path))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(tmp_path / ".lethe"),
        "LETHE_CONFIG": str(tmp_path / "lethe.toml"),
        "LETHE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        "LETHE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_PSEUDONYM_KEY": base64.b64encode(keys.pseudonym).decode(),
        "LETHE_VAULT_KEY": base64.b64encode(keys.vault).decode(),
        "LETHE_PAYLOAD_KEY": base64.b64encode(keys.payload).decode(),
        "LETHE_OPERATOR": "kim",
    }

    # The commands run in this process (tests/support/cli.py); the first, which reads the
    # username from its stdin, as the real `lethe` program.
    lethe = Lethe(env, tmp_path)
    program = Lethe(env, tmp_path, process=True)

    settings = load_settings(env)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    posted = (datetime.now(UTC) - timedelta(days=40)).date()
    received = datetime.combine(posted, time(0), tzinfo=UTC)  # [deadlines] timezone: UTC
    try:
        with smtp_server() as inbox:
            async with worker_module.build_worker(
                dev_server_env.client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=Ed25519PrivateKey.generate(),
                mailer=SmtpMailer(SmtpConfig("127.0.0.1", inbox.port, security="none")),
            ):
                code, out, err = await program(
                    "submit", EMAIL, "--identifier", "username=-", "--verification", "operator",
                    "--channel", "mail", "--received-at", posted.isoformat(), "--json",
                    stdin=USERNAME + "\n",
                )  # fmt: skip
                assert code == 0, err
                done = json.loads(out)
                rid = done["request_id"]
                # GDPR's month is stricter than the policy's 45 days; the policy's 24 hours
                # set the acknowledgement. Both counted from the receipt, both long past.
                assert datetime.fromisoformat(done["received_at"]) == received
                due = one_month_after(received)
                assert datetime.fromisoformat(done["due_at"]) == due
                # 40 days ago, a month of 28 to 31 days: overdue by 9 to 12 days at entry.
                assert timedelta(days=9) <= datetime.now(UTC) - due < timedelta(days=13)
                acknowledge_by = received + timedelta(hours=24)
                assert datetime.fromisoformat(done["acknowledge_by"]) == acknowledge_by
                entered_at = datetime.fromisoformat(done["entered_at"])
                assert entered_at - received >= timedelta(days=40)

                # The acknowledgement went out at once, as soon as the worker had the request.
                [ack] = await inbox.wait_for(1)
                assert ack["To"] == EMAIL and rid in ack["Subject"]
                kinds: list[str] = []
                for _ in range(300):
                    kinds = [e.kind for e in await ledger.events(rid)]
                    if {"acknowledged", "deadline_overdue", "awaiting_verification"} <= set(kinds):
                        break
                    await asyncio.sleep(0.1)
                events = {e.kind: e for e in await ledger.events(rid)}
                assert kinds[:2] == ["received", "entered"], kinds
                assert events["received"].at == received
                assert events["entered"].at == entered_at
                assert events["entered"].actor == "operator:kim"
                assert events["entered"].detail["received_at"] == received.isoformat()
                assert events["acknowledged"].detail["on_time"] is False
                assert events["acknowledged"].at > acknowledge_by
                assert events["deadline_overdue"].detail["due"] == due.isoformat()

                code, out, err = await lethe("list", "--overdue", "--json")
                assert code == 0, err
                assert [r["request_id"] for r in json.loads(out)] == [rid]
                code, out, _ = await lethe("status", rid)
                assert code == 0
                assert "received by mail, entered" in out and "by operator:kim" in out
                assert "OVERDUE by" in out and "(LATE)" in out

                code, _, err = await lethe("approve", rid, "--reason", "signed letter, ref 88")
                assert code == 0, err
                for _ in range(300):
                    rec = await ledger.require_request(rid)
                    if rec.completed_at is not None:
                        break
                    await asyncio.sleep(0.1)
                assert rec.status == "completed"
                # The connector had the username from the vault: her row went, Grace's stayed.
                assert usernames(tmp_path / "accounts.db") == ["grace_h"]

                export = tmp_path / "export.jsonl"
                code, _, err = await lethe(
                    "audit", "export", "--format", "jsonl", "-o", str(export)
                )
                assert code == 0, err
                [row] = [json.loads(line) for line in export.read_text().splitlines()]
                assert row["date_of_request"] == received.isoformat()
                assert row["manner_of_request"] == "mail" and row["deadline"] == "missed"
                code, out, _ = await lethe("status", rid, "--json", "--events")
                assert USERNAME not in out and EMAIL not in out and USERNAME not in json.dumps(row)
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
