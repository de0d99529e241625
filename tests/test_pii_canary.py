"""The record holds no personal data: canary identifiers go in, and come out nowhere.

Two people with unique, never-seen-before identifiers are seeded into the demo systems and
erased end to end (real worker, real activities, real connectors, real ledger; Temporal's
time-skipping server). Then every ledger table, the ledger's database files, certificates
(JSON and HTML), exports (CSV and JSON Lines), the auditor's views and every log line are
searched for the canaries, in plain text (any case) and in common encodings.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger.models import Base
from lethe.demo.systems import seed_demo_systems
from lethe.intake import submit_request
from lethe.keys import Keyring
from lethe.logs import configure_logging
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, TemporalSettings, build_connectors
from tests.support.canary import Canary, find
from tests.support.portal import portal_verification, preverified_draft
from workflows import ErasurePolicy, ErasureWorkflow

pytestmark = [pytest.mark.slow]

LETHE = str(Path(sys.executable).parent / "lethe")
FAST = ErasurePolicy(retry_initial_seconds=0.5, retry_max_interval_seconds=1)


def plant(root: Path, people: list[Canary]) -> None:
    """Put the canaries into the forum, CRM (contacts, notes, invoices), newsletter, and a
    nightly backup copy of the CRM."""
    with sqlite3.connect(root / "forum.db") as db:
        for n, p in enumerate(people):
            uid = 900 + n
            db.execute(
                "INSERT INTO phpbb_users VALUES (?, ?, ?, ?, '192.0.2.99', 0)",
                (uid, p.name, p.name.lower(), p.email),
            )
            db.execute(
                "INSERT INTO phpbb_posts VALUES (?, 1, 1, ?, '192.0.2.99', ?, ?, 0, 0)",
                (9000 + n, uid, p.name, f"hello from {p.name}"),
            )
    with sqlite3.connect(root / "crm.db") as db:
        for n, p in enumerate(people):
            cid = 900 + n
            db.execute(
                "INSERT INTO contacts VALUES (?, ?, ?, '+1 555 0100', '2025-01-01')",
                (cid, p.email, p.name),
            )
            db.execute("INSERT INTO notes VALUES (?, ?, ?)", (9000 + n, cid, f"{p.name} rang"))
            db.execute(
                "INSERT INTO invoices VALUES (?, ?, ?, 1200, '2025-02-01')",
                (9000 + n, p.email, p.name),
            )
    shutil.copyfile(root / "crm.db", root / "backups" / "crm-nightly-canary.db")
    with sqlite3.connect(root / "newsletter.db") as db:
        for n, p in enumerate(people):
            db.execute(
                "INSERT INTO subscribers VALUES (?, ?, '2025-01-01', 'active')", (900 + n, p.email)
            )
            db.execute("INSERT INTO deliveries VALUES (?, ?, 'spring')", (9000 + n, 900 + n))


def lethe_env(settings: Settings, keys: Keyring, signing_seed: bytes) -> dict[str, str]:
    b64 = base64.b64encode
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(settings.home),
        "LETHE_DATABASE_URL": settings.database_url,
        "LETHE_PSEUDONYM_KEY": b64(keys.pseudonym).decode(),
        "LETHE_VAULT_KEY": b64(keys.vault).decode(),
        "LETHE_PAYLOAD_KEY": b64(keys.payload).decode(),
        "LETHE_SIGNING_KEY": b64(signing_seed).decode(),
        "LETHE_LOG_LEVEL": "DEBUG",
    }


async def test_no_canary_anywhere_in_the_record(
    time_skipping_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    people = [Canary.new(), Canary.new()]
    demo = seed_demo_systems(tmp_path / "systems")
    plant(demo.root, people)
    # The scanner works, and the canaries really are in the systems before the erasure.
    assert find(people, "crm.db", (demo.root / "crm.db").read_bytes())

    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / '.lethe' / 'lethe.db'}",
        temporal=TemporalSettings(task_queue=task_queue),
        systems=demo.systems,
        verification=portal_verification(),
    )
    signing_key = Ed25519PrivateKey.generate()
    seed = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    configure_logging(level="DEBUG")
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    client = time_skipping_env.client
    request_ids = []
    try:
        async with worker_module.build_worker(
            client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            heartbeat_every=0.5,
            signing_key=signing_key,
        ):
            for person in people:
                draft = preverified_draft(
                    settings, person.email.upper(), extra_identifiers={"name": person.name}
                )
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                result = await handle.result()
                assert result.status == "completed_with_exceptions", result
                request_ids.append(done.request_id)
        # Every table of the ledger, every row, every column.
        dump: list[str] = []
        async with ledger.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in await conn.execute(sa.select(table)):
                    dump.append(f"{table.name}: {tuple(row)!r}")
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
    assert any(line.startswith("proof_leaves:") for line in dump)  # sealed, so it is scanned

    # The auditor's outputs, through the command line, from the same ledger.
    out = tmp_path / "out"
    env = lethe_env(settings, keys, seed)
    cli_output = []
    for rid in request_ids:
        for args in (
            [
                "audit",
                "certificate",
                rid,
                "-o",
                str(out / f"{rid}.json"),
                "-o",
                str(out / f"{rid}.html"),
            ],
            ["audit", "show", rid, "--json"],
            ["status", rid, "--json", "--events"],
        ):
            done_cli = subprocess.run(
                [LETHE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
            )
            assert done_cli.returncode == 0, done_cli.stderr
            cli_output.append((f"lethe {args[0]} {args[1]}", done_cli.stdout + done_cli.stderr))
    for args in (
        ["audit", "export", "--format", "csv", "-o", str(out / "export.csv")],
        ["audit", "export", "--format", "jsonl", "-o", str(out / "export.jsonl")],
        ["audit", "list", "--json"],
        ["list", "--json"],
        ["audit", "verify", "--log"],
    ):
        done_cli = subprocess.run(
            [LETHE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done_cli.returncode == 0, done_cli.stderr
        cli_output.append((f"lethe {' '.join(args[:2])}", done_cli.stdout + done_cli.stderr))

    logs = capfd.readouterr()
    hits: list[str] = []
    hits += find(people, "ledger tables", "\n".join(dump))
    for path in sorted((tmp_path / ".lethe").glob("lethe.db*")):
        hits += find(people, path.name, path.read_bytes())
    for path in sorted(out.iterdir()):
        hits += find(people, path.name, path.read_bytes())
    for where, text in cli_output:
        hits += find(people, where, text)
    hits += find(people, "log lines (stdout)", logs.out)
    hits += find(people, "log lines (stderr)", logs.err)
    assert hits == []

    # What was scanned is not empty: the outputs exist and say what they should.
    assert len(list(out.glob("*.html"))) == 2 and (out / "export.csv").read_text().count("\n") == 3
    assert "request.sealed" in logs.err  # the worker's log lines were captured


def test_the_scanner_sees_through_encodings() -> None:
    """The scan above can fail: each form a leak might take is found."""
    person = Canary.new()
    email, name = person.email.encode(), person.name.encode("utf-8")
    leaks = {
        "upper case": person.email.upper().encode(),
        "base64, any offset": base64.b64encode(b"id=" + email + b";"),
        "urlsafe base64": base64.urlsafe_b64encode(b"x" + name),
        "url-encoded": b"?q=" + person.email.replace("@", "%40").encode(),
        "json escape": b'{"n": "' + person.name.encode("ascii", "backslashreplace") + b'"}',
        "hex": email.hex().encode(),
        "surname alone": person.name.split()[-1].upper().encode(),
    }
    for what, blob in leaks.items():
        assert find([person], what, b"..." + blob + b"..."), what
    assert find([person], "clean", b"ps_0123 er-abc [email redacted]") == []
