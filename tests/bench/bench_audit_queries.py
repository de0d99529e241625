"""``lethe audit list`` on 100,000 requests in SQLite, against a primary-key lookup.

Seeds a ledger with 100,000 requests (400,000 system outcomes, their retained exceptions),
then times each filtered list (50 newest matches, the CLI's default) through the same code
the CLI uses. Baselines from the same run: fetching one request by id, and each list again
after dropping the auditors' indexes ``ledger.tables`` adds.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from ledger import Ledger, SubjectVault, create_ledger_engine, upgrade_schema
from ledger.queries import AuditFilter, audit_records, list_requests
from ledger.tables import Base
from tests.bench import Bench

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SYSTEMS = ("backups", "crm", "forum", "newsletter")
AUDIT_INDEXES = [
    ix.name
    for table in Base.metadata.tables.values()
    for ix in table.indexes
    if ix.name
    and ix.name
    in {
        "ix_erasure_requests_jurisdiction_received",
        "ix_system_outcomes_system_outcome_request",
        "ix_system_outcomes_outcome_request",
        "ix_retained_exceptions_open_until",
    }
]


def _ts(moment: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(path: Path, n: int) -> None:
    rng = random.Random(5)
    requests, outcomes, exceptions = [], [], []
    span = (NOW - START).total_seconds()
    outcome_id = 0
    for i in range(n):
        rid = f"er-{i:012d}"
        received = START + timedelta(seconds=span * i / n + rng.random())
        law = "gdpr" if rng.random() < 0.7 else "ccpa"
        due = received + timedelta(days=30 if law == "gdpr" else 45)
        roll = rng.random()
        if roll < 0.02 and received > NOW - timedelta(days=60):
            status, done = "erasing", None
        elif roll < 0.05:
            status, done = "rejected", received + timedelta(days=3)
        else:
            status, done = "completed", received + timedelta(days=rng.uniform(0.5, 33))
        kinds: dict[str, str] = {}
        if status != "rejected":
            kinds = {
                "forum": "erased",
                "crm": "retained" if rng.random() < 0.3 else "erased",
                "newsletter": "erased" if rng.random() < 0.6 else "not_found",
                "backups": "retained" if rng.random() < 0.5 else "not_found",
            }
            if rng.random() < 0.01:
                kinds[rng.choice(SYSTEMS)] = "failed"
            if "failed" in kinds.values():
                status = "partially_failed"
            elif "retained" in kinds.values() and status == "completed":
                status = "completed_with_exceptions"
        requests.append(
            (
                rid,
                "ps_" + secrets.token_hex(16),
                law,
                "operator",
                "cli",
                status,
                json.dumps(sorted(SYSTEMS)),
                f"erasure/{rid}",
                _ts(received),
                _ts(due),
                _ts(received + timedelta(hours=1)),
                _ts(done) if done else None,
            )
        )
        for system, kind in sorted(kinds.items()):
            outcome_id += 1
            until = (received + timedelta(days=rng.randint(30, 3650))).date()
            retained = kind == "retained"
            outcomes.append(
                (
                    outcome_id,
                    rid,
                    system,
                    "sql",
                    "1",
                    kind,
                    json.dumps({f"{system}.deleted": 1} if kind == "erased" else {}),
                    json.dumps({"rows.retained": 2} if retained else {}),
                    json.dumps({"rows_changed": 1}),
                    "gdpr-17-3-b" if retained else None,
                    "kept under tax law" if retained else None,
                    until.isoformat() if retained else None,
                    _ts(received + timedelta(hours=1)),
                    _ts(received + timedelta(hours=2)),
                )
            )
            if retained:
                state = "open" if until > NOW.date() else "released"
                exceptions.append(
                    (rid, system, outcome_id, "gdpr-17-3-b", "tax law", until.isoformat(), state)
                )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO erasure_requests (request_id, subject_ref, jurisdiction,"
            " verification_method, channel, status, systems, workflow_id, received_at, due_at,"
            " verified_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            requests,
        )
        conn.executemany(
            "INSERT INTO system_outcomes (id, request_id, system, round, connector,"
            " connector_version, outcome, counts, retained_counts, evidence, legal_basis,"
            " basis_note, retained_until, attempts, started_at, finished_at)"
            " VALUES (?,?,?,0,?,?,?,?,?,?,?,?,?,1,?,?)",
            outcomes,
        )
        conn.executemany(
            "INSERT INTO retained_exceptions (request_id, system, outcome_id, legal_basis,"
            " basis_note, retained_until, state) VALUES (?,?,?,?,?,?,?)",
            exceptions,
        )


FILTERS = {
    "list: newest 50, no filter": AuditFilter(),
    "list: ccpa, received in 2025": AuditFilter(
        jurisdiction="ccpa",
        received_from=datetime(2025, 1, 1, tzinfo=UTC),
        received_before=datetime(2026, 1, 1, tzinfo=UTC),
    ),
    "list: system crm, outcome retained": AuditFilter(system="crm", outcome="retained"),
    "list: outcome failed (rare)": AuditFilter(outcome="failed"),
    "list: overdue": AuditFilter(overdue=True),
    "list: exceptions expiring before 2026-03-01": AuditFilter(
        exceptions_expiring_before=date(2026, 3, 1)
    ),
    "list: gdpr + backups retained + 2025": AuditFilter(
        jurisdiction="gdpr",
        system="backups",
        outcome="retained",
        received_from=datetime(2025, 1, 1, tzinfo=UTC),
    ),
}


async def run(bench: Bench) -> None:
    n = bench.scaled(100_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_schema(engine)
        seed(path, n)
        ledger = Ledger(engine, SubjectVault(secrets.token_bytes(32)))
        try:
            async with engine.connect() as conn:
                outcomes = await conn.scalar(sa.text("SELECT count(*) FROM system_outcomes"))
            bench.notes.append(f"{n:,} requests, {outcomes:,} system outcomes, SQLite")
            some_id = f"er-{n // 2:012d}"
            base = "get one request by id (baseline)"
            await bench.measure(base, lambda: ledger.get_request(some_id))
            for label, f in FILTERS.items():
                await bench.measure(
                    label, lambda f=f: list_requests(ledger, f, now=NOW, limit=50), baseline=base
                )
            export = bench.scaled(5000)

            async def export_newest() -> None:
                n = 0
                async for _ in audit_records(ledger, AuditFilter(outcome="retained"), now=NOW):
                    n += 1
                    if n == export:
                        break

            await bench.measure(
                f"export: {export:,} newest records with outcome retained",
                export_newest,
                repeat=3,
                baseline=base,
            )
            async with engine.begin() as conn:
                for name in AUDIT_INDEXES:
                    await conn.execute(sa.text(f"DROP INDEX {name}"))
            for label, f in FILTERS.items():
                await bench.measure(
                    f"{label} [without the audit indexes]",
                    lambda f=f: list_requests(ledger, f, now=NOW, limit=50),
                    repeat=3,
                    baseline=label,
                )
        finally:
            await ledger.dispose()
