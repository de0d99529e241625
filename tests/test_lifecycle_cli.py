"""The operator's verbs for what comes after a request's first pass, as an operator types them,
against the real dev server, the real worker and a local controller webhook:
``sweeper install|run-once``, ``controller-instruction``, ``retry`` (also ``--identifier``, for
a system not searched for want of one), ``backups replay``."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger import ControllerReferrals, ErasureRounds, Ledger, ProofLog
from lethe.assertions import mint_assertion, public_key_text
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import build_connectors, load_settings
from lethe.sweeper import schedule_id
from tests.support.cli import Lethe
from tests.support.controller_receiver import controller_receiver
from tests.support.portal import PORTAL
from workflows import ErasureWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

SECRET = "acme-shared-secret"
EMAIL = "ada@example.org"

CONFIG = """
[systems.lms]
connector = "sql"
role = "processor"
controller = "acme-university"
url = "sqlite+aiosqlite:///{root}/lms.db"
[[systems.lms.tables]]
table = "learners"
key = "email"
identifier = "email"
action = "delete"

[systems.mailer]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/mailer.db"
[[systems.mailer.tables]]
table = "recipients"
key = "email"
identifier = "email"
action = "delete"

[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "customers"
key = "customer_no"
identifier = "customer_id"
action = "delete"

[controllers.acme-university]
webhook_url_env = "ACME_DSR_URL"
secret_env = "ACME_DSR_SECRET"
answer_within_days = 14

[retention]
install_schedule = false
"""


def seed(path: Path, table: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        conn.executemany(
            f"INSERT INTO {table} (email) VALUES (?)", [(EMAIL,), ("grace@example.org",)]
        )


def seed_customers(path: Path) -> None:
    """A CRM that knows people by customer number only: the address cannot find them."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT)")
        conn.executemany(
            "INSERT INTO customers (customer_no) VALUES (?)", [("C-1815",), ("C-2024",)]
        )


def customers(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT customer_no FROM customers"))


def rows(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute(f"SELECT email FROM {table}"))


async def wait_until_notified(ledger: Ledger, request_id: str) -> None:
    for _ in range(300):
        ref = await ControllerReferrals(ledger).waiting(request_id, "lms")
        if ref is not None and ref.notified_at is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the controller was never notified")


async def wait_until_failed(
    ledger: Ledger, request_id: str, system: str, outcome: str = "failed"
) -> None:
    for _ in range(300):
        latest = await ErasureRounds(ledger).latest_outcomes(request_id)
        if system in latest and latest[system].outcome == outcome:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{system} never {outcome}")


async def test_the_operator_verbs_after_the_first_pass(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    seed(tmp_path / "lms.db", "learners")
    seed_customers(tmp_path / "crm.db")
    (tmp_path / "lethe.toml").write_text(CONFIG.format(root=tmp_path))
    with controller_receiver(SECRET.encode()) as receiver:
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
            "LETHE_PORTAL_PUBLIC_KEYS": public_key_text(PORTAL.public_key()),
            "ACME_DSR_URL": receiver.url,
            "ACME_DSR_SECRET": SECRET,
        }

        # The operator's machine holds none of the controller's secrets: only the worker reads
        # them, so every verb below runs without them.
        operator_env = {k: v for k, v in env.items() if not k.startswith("ACME_DSR_")}

        # The commands run in this process (tests/support/cli.py); the first one as the real
        # `lethe` program.
        lethe = Lethe(operator_env, tmp_path)

        signing_key = Ed25519PrivateKey.generate()
        settings = load_settings(env)
        ledger = await open_ledger(settings, keys)
        connectors = build_connectors(settings.systems, load_registry())
        client = dev_server_env.client
        try:
            async with worker_module.build_worker(
                client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=signing_key,
                processors=worker_module.processor_systems(settings),
                controllers=worker_module.controller_endpoints(settings),
                shred_grace_days=settings.retention.shred_grace_days,
            ):
                # The sweeper's Schedule: created, then brought up to date (idempotent).
                program = Lethe(operator_env, tmp_path, process=True)
                code, out, _ = await program("sweeper", "install", "--json")
                assert code == 0 and json.loads(out)["result"] == "created"
                code, out, _ = await lethe("sweeper", "install", "--json")
                assert code == 0 and json.loads(out)["result"] == "updated"
                schedule = client.get_schedule_handle(schedule_id(task_queue))
                described = await schedule.describe()
                assert described.schedule.spec.intervals[0].every.total_seconds() == 3600

                token = mint_assertion(PORTAL, EMAIL, audience="lethe")
                code, out, err = await lethe("submit", EMAIL, "--assertion", token, "--json")
                assert code == 0, err
                rid = json.loads(out)["request_id"]
                await wait_until_notified(ledger, rid)
                # The controller got a signed notice naming the request and the pseudonym only.
                [notice] = receiver.accepted
                assert receiver.rejected == [] and notice["subject_request_id"] == rid
                assert EMAIL not in json.dumps(notice)
                assert rows(tmp_path / "lms.db", "learners") == sorted([EMAIL, "grace@example.org"])

                # lms's own erasure waits for the controller: nothing to retry there yet.
                code, _, err = await lethe("retry", rid, "--system", "lms", "--reason", "x")
                assert code == 1 and len(err.strip().splitlines()) == 1
                assert "lms of " + rid + " has no final outcome yet (round 0 is referred)" in err
                code, _, err = await lethe(
                    "backups", "replay", "--request", rid, "--systems", "lms", "--reason", "x"
                )
                assert code == 1 and "no final outcome yet in lms" in err
                code, _, err = await lethe(
                    "controller-instruction", rid, "--system", "mailer", "--erase", "--reason", "x"
                )
                assert code == 1 and "not waiting for a controller's instruction" in err

                # mailer had no table yet: failed, while the request stays open for lms.
                await wait_until_failed(ledger, rid, "mailer")
                waiting = (await ledger.require_request(rid)).status
                seed(tmp_path / "mailer.db", "recipients")
                code, out, err = await lethe(
                    "retry",
                    rid,
                    "--system",
                    "mailer",
                    "--reason",
                    "table restored",
                    "--wait",
                    "--json",
                )
                assert code == 0, err
                retried = json.loads(out)
                assert (retried["round"], retried["outcome"]) == (1, "erased")
                assert rows(tmp_path / "mailer.db", "recipients") == ["grace@example.org"]
                # The round recorded its outcome and left the open request's status alone.
                open_rec = await ledger.require_request(rid)
                assert open_rec.completed_at is None and open_rec.status == waiting
                code, _, err = await lethe("retry", rid, "--system", "mailer", "--reason", "again")
                assert code == 1 and "did not fail" in err and len(err.splitlines()) == 1

                # crm knows people by customer number, which the request did not carry: not
                # searched (never "not found"), and the operator is told how to add it.
                await wait_until_failed(ledger, rid, "crm", "not_searched")
                code, out, _ = await lethe("status", rid)
                out = " ".join(out.split())
                assert code == 0 and "NOT SEARCHED: the request has no" in out, out
                assert f"lethe retry {rid} --system crm --identifier customer_id=-" in out, out
                code, out, err = await lethe(
                    "retry",
                    rid,
                    "--system",
                    "crm",
                    "--identifier",
                    "customer_id=-",
                    "--reason",
                    "customer number from the signed form",
                    "--wait",
                    "--json",
                    stdin="C-1815\n",
                )
                assert code == 0, err
                found = json.loads(out)
                assert found["identifiers_added"] == ["customer_id"]
                assert (found["round"], found["outcome"]) == (1, "erased")
                assert customers(tmp_path / "crm.db") == ["C-2024"]
                assert "C-1815" not in out + err

                code, out, err = await lethe(
                    "controller-instruction",
                    rid,
                    "--system",
                    "lms",
                    "--erase",
                    "--reason",
                    f"acme DPO, ticket 4411 (about {EMAIL})",  # kept without the address
                )
                assert code == 0, err
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, f"erasure/{rid}")
                result = await asyncio.wait_for(handle.result(), timeout=60)
                # lms: erased on the controller's word. mailer: failed in the first pass, and
                # crm was not searched, but the retries erased both before the request was
                # answered: the answer counts them.
                assert result.status == "completed"
                assert rows(tmp_path / "lms.db", "learners") == ["grace@example.org"]
                assert (await ledger.require_request(rid)).status == "completed"

                code, out, _ = await lethe("sweeper", "run-once", "--wait", "--json")
                assert code == 0
                assert json.loads(out)["started"] == [] and json.loads(out)["shredded"] == []

                # A restore of the mailer brings the person back; replay erases them again.
                with sqlite3.connect(tmp_path / "mailer.db") as conn:
                    conn.execute("INSERT INTO recipients (email) VALUES (?)", (EMAIL,))
                code, out, err = await lethe(
                    "backups",
                    "replay",
                    "--request",
                    rid,
                    "--systems",
                    "mailer",
                    "--reason",
                    f"mailer restored from the 1 March backup, {EMAIL} is back",
                    "--wait",
                    "--json",
                )
                assert code == 0, err
                [replayed] = json.loads(out)["started"]
                assert (replayed["round"], replayed["outcome"]) == (2, "erased")
                assert rows(tmp_path / "mailer.db", "recipients") == ["grace@example.org"]

                code, out, _ = await lethe("status", rid, "--json")
                record = json.loads(out)
                # Rounds sealed while the request was open, then its answer: nothing drifted.
                check = await ProofLog(ledger).verify([signing_key.public_key()])
                assert check.ok, check.problems
                await schedule.delete()
        finally:
            await worker_module.close_connectors(connectors)
            await ledger.dispose()

    # The customer number added at the retry is in the vault only, encrypted (read once the
    # ledger is closed: opening its file beside a live connection drops SQLite's locks).
    assert b"C-1815" not in (tmp_path / "ledger.db").read_bytes()
    assert EMAIL not in out  # the reasons that named the person are kept without them
    assert "ticket 4411 (about [redacted])" in out and "backup, [redacted] is back" in out
    assert record["status"] == "completed"
    assert [(o["system"], o["round"], o["outcome"]) for o in record["outcomes"]] == [
        ("crm", 0, "not_searched"),
        ("lms", 0, "referred"),
        ("mailer", 0, "failed"),
        ("crm", 1, "erased"),
        ("lms", 1, "erased"),
        ("mailer", 1, "erased"),
        ("mailer", 2, "erased"),
    ]
    crm = record["outcomes"][0]
    assert crm["missing_identifiers"] == ["customer_id"] and crm["counts"] == {}
    kinds = [e["kind"] for e in record["events"]]
    assert "controller_notified" in kinds and "controller_instruction" in kinds
    # Each round ends by recording the status, then sealing its receipt into the proof log.
    assert kinds.count("round_started") == 3 and kinds[-2:] == ["status_after_round", "sealed"]
    assert kinds.count("identifiers_added") == 1
