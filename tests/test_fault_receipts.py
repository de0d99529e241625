"""The record tells the truth when workers die: SIGKILL at random points, on real servers.

Ten requests, each erased from three systems: ``sql`` on PostgreSQL, ``sql`` on MariaDB and
``redis``. The worker is a real ``lethe worker`` process; for some requests it is SIGKILLed
while the systems are being erased (before a change, inside it, or after the commit and before
the ledger heard of it) and a new one is started. Then the ledger is compared with what the
systems themselves saw: triggers in both databases write one audit row per row changed, and
Redis is counted before and after.

Every count in the record must match reality (a crash after the commit is where the record
used to say "nothing left"), nothing may be changed twice, no bystander may change, no event
is recorded twice, and ``earlier_attempt_interrupted`` is on exactly the outcomes whose
connector replayed the receipt of an attempt that changed something.

Kills land while erase activities run: that is where a connector changes a system. (A worker
killed during a ledger-only activity is the write keys' business, ``ledger/write_keys.py``,
tested on their own; here each such kill would cost the activity's 60 s start-to-close
timeout.) The seed is printed; ``LETHE_FAULT_SEED=<seed>`` runs the same kills again.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

from connectors.redis import glob_escape
from ledger import Ledger, RequestEvent
from ledger.tables import ProofLeaf
from lethe.assertions import mint_assertion, public_key_text
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import open_ledger
from lethe.settings import Settings, SystemConfig, TemporalSettings, VerificationSettings
from tests.conftest import REDIS_URL, require_service
from tests.connectors.databases import SystemDatabase, provision
from tests.support.workers import start_worker
from workflows import ErasurePolicy, ErasureWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow, pytest.mark.services]

REQUESTS = 10
KILLED_REQUESTS = 5
#: How long the connectors pause before and after each change: the window a kill lands in.
PAUSE = 0.25
PORTAL = Ed25519PrivateKey.generate()
FAST = ErasurePolicy(
    heartbeat_timeout_seconds=2, retry_initial_seconds=0.2, retry_max_interval_seconds=1
)
#: What a trigger's row means, in the connector's count keys.
ACTIONS = {
    ("users", "DELETE"): "users.deleted",
    ("posts", "UPDATE"): "posts.anonymized",
    ("sessions", "DELETE"): "sessions.deleted",
}


@dataclass
class Person:
    email: str
    rows: dict[str, list[int]] = field(default_factory=dict)  # table -> ids, same in both DBs
    keys: dict[str, list[str]] = field(default_factory=dict)  # template -> Redis keys


def schema(db: SystemDatabase) -> sa.MetaData:
    md = sa.MetaData(schema=db.schema)
    sa.Table(
        "users",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(255), nullable=False),
    )
    sa.Table(
        "posts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("author_id", sa.Integer, nullable=True),
        sa.Column("body", sa.String(255), nullable=False),
    )
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, nullable=False),
    )
    sa.Table(
        "audit",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tbl", sa.String(32), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("pk", sa.Integer, nullable=False),
    )
    return md


def triggers(db: SystemDatabase) -> list[str]:
    """One audit row per row updated or deleted, written by the database itself."""
    tables = ("users", "posts", "sessions")
    if db.backend == "postgresql":
        s = f'"{db.schema}"'
        return [
            f"CREATE FUNCTION {s}.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" INSERT INTO {s}.audit (tbl, op, pk) VALUES (TG_TABLE_NAME, TG_OP, OLD.id);"
            " RETURN NULL; END $$",
            *(
                f"CREATE TRIGGER audit_{t} AFTER UPDATE OR DELETE ON {s}.{t}"
                f" FOR EACH ROW EXECUTE FUNCTION {s}.audit_row()"
                for t in tables
            ),
        ]
    return [
        f"CREATE TRIGGER audit_{t}_{op[0].lower()} AFTER {op} ON {t} FOR EACH ROW"
        f" INSERT INTO audit (tbl, op, pk) VALUES ('{t}', '{op}', OLD.id)"
        for t in tables
        for op in ("UPDATE", "DELETE")
    ]


def table_map(db: SystemDatabase) -> list[dict[str, Any]]:
    q = db.qualify
    users = f"{q('users')}.id"
    return [
        {"table": q("users"), "label": "users", "key": "email", "identifier": "email"}
        | {"action": "delete"},
        {"table": q("posts"), "label": "posts", "key": "author_id", "parent": users}
        | {"action": "anonymize", "nullify": ["author_id"]},
        {"table": q("sessions"), "label": "sessions", "key": "user_id", "parent": users}
        | {"action": "delete"},
    ]


def people(rng: random.Random, tag: str) -> tuple[list[Person], list[Person]]:
    """Ten subjects and their bystanders (look-alikes by substring and superstring, and
    strangers), each with a random number of rows and keys."""
    subjects = [Person(f"s{i}.{tag}@example.org") for i in range(REQUESTS)]
    bystanders = [Person(f"n{p.email}") for p in subjects]
    bystanders += [Person(p.email.replace("@example.org", "@example.org.uk")) for p in subjects]
    bystanders += [Person(f"stranger{i}.{tag}@example.net") for i in range(5)]
    ids = iter(range(1, 100_000))
    for p in (*subjects, *bystanders):
        p.rows = {
            "users": [next(ids)],
            "posts": [next(ids) for _ in range(rng.randint(0, 3))],
            "sessions": [next(ids) for _ in range(rng.randint(0, 2))],
        }
        p.keys = {
            "profile": [f"user:{p.email}"],
            "cart": [f"cart:{p.email}"] if rng.random() < 0.7 else [],
            "sessions": [f"sess:{p.email}:t{k}" for k in range(rng.randint(0, 2))],
        }
    return subjects, bystanders


def rows_of(everyone: list[Person]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {"users": [], "posts": [], "sessions": []}
    for p in everyone:
        [uid] = p.rows["users"]
        rows["users"].append({"id": uid, "email": p.email})
        rows["posts"] += [{"id": i, "author_id": uid, "body": "hello"} for i in p.rows["posts"]]
        rows["sessions"] += [{"id": i, "user_id": uid} for i in p.rows["sessions"]]
    return rows


def toml(systems: dict[str, SystemConfig]) -> str:
    lines: list[str] = []
    for name, cfg in systems.items():
        lines += [f"[systems.{name}]", f"connector = {json.dumps(cfg.connector)}"]
        options = dict(cfg.options)
        for key, value in options.items():
            if key not in ("tables", "keys"):
                lines.append(f"{key} = {json.dumps(value)}")
        if "keys" in options:
            lines.append(f"[systems.{name}.keys]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in options["keys"].items()]
        for table in options.get("tables", []):
            lines.append(f"[[systems.{name}.tables]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[SystemDatabase, SystemDatabase, Any]]:
    require_service("Redis", "127.0.0.1", 6379)
    async with AsyncExitStack() as stack:
        pg = await stack.enter_async_context(provision("postgresql", tmp_path))
        maria = await stack.enter_async_context(provision("mariadb", tmp_path))
        client = aioredis.Redis.from_url(REDIS_URL)
        stack.push_async_callback(client.aclose)
        yield pg, maria, client


async def kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10)


async def marker(markers: Path, pattern: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(markers.glob(pattern)):
        assert time.monotonic() < deadline, f"no marker {pattern} within {timeout}s"
        await asyncio.sleep(0.01)


async def test_the_record_matches_what_the_systems_saw_after_random_kills(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    key_environment: dict[str, str],
    tmp_path: Path,
    task_queue: str,
    servers: tuple[SystemDatabase, SystemDatabase, Any],
) -> None:
    seed = int(os.environ.get("LETHE_FAULT_SEED") or random.randrange(2**32))
    print(f"\nfault test seed: {seed} (LETHE_FAULT_SEED={seed} runs the same kills again)")
    rng = random.Random(seed)
    pg, maria, client = servers
    tag = f"{seed:08x}"
    prefix = f"t{tag}:"
    subjects, bystanders = people(rng, tag)
    everyone = [*subjects, *bystanders]

    # The systems, their triggers, their data.
    for db in (pg, maria):
        md = schema(db)
        await db.create(md)
        async with db.engine.begin() as conn:
            for statement in triggers(db):
                await conn.execute(sa.text(statement))
        await db.replace_rows(md, rows_of(everyone))
    for p in everyone:
        for template, keys_ in p.keys.items():
            for key in keys_:
                if template == "cart":
                    await client.rpush(prefix + key, "book")
                else:
                    await client.set(prefix + key, template)
    redis_before = {k async for k in client.scan_iter(match=glob_escape(prefix) + "*")}

    markers = tmp_path / "markers"
    markers.mkdir()
    window = {"pause_seconds": PAUSE, "marker_dir": str(markers)}
    systems = {
        name: SystemConfig(
            name=name,
            connector="tests.support.crash_window:PausingSqlConnector",
            options={"url": db.url, "tables": table_map(db), **window},
        )
        for name, db in (("pg", pg), ("maria", maria))
    }
    systems["cache"] = SystemConfig(
        name="cache",
        connector="tests.support.crash_window:PausingRedisConnector",
        options={
            "url": REDIS_URL,
            "keys": {
                "profile": f"{prefix}user:{{email}}",
                "cart": f"{prefix}cart:{{email}}",
                "sessions": f"{prefix}sess:{{email}}:*",
            },
            "receipt_prefix": f"{prefix}lethe:",
            **window,
        },
    )
    (tmp_path / "lethe.toml").write_text(toml(systems))
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(
            address=dev_server_env.client.service_client.config.target_host,
            task_queue=task_queue,
        ),
        systems=systems,
        verification=VerificationSettings(
            portal_public_keys=(public_key_text(PORTAL.public_key()),)
        ),
    )
    ledger = await open_ledger(settings, keys)
    log = tmp_path / "worker.log"
    worker = start_worker(tmp_path, settings, key_environment, log, cached=False)
    killed = sorted(rng.sample(range(REQUESTS), KILLED_REQUESTS))
    kills: list[str] = []
    requests: dict[str, Person] = {}
    try:
        for i, person in enumerate(subjects):
            draft = validate_request(
                settings,
                email=person.email,
                assertion=mint_assertion(PORTAL, person.email, audience="lethe"),
            )
            done = await submit_request(
                draft,
                settings=settings,
                ledger=ledger,
                client=dev_server_env.client,
                keys=keys,
                policy=FAST,
            )
            requests[done.request_id] = person
            if i in killed:
                # After a commit (the window the record used to get wrong), or anywhere
                # from the first start to past the last commit.
                if rng.random() < 0.6:
                    await marker(markers, f"*.{done.request_id}.committed")
                    await asyncio.sleep(rng.uniform(0, PAUSE * 0.6))
                    kills.append(f"{done.request_id}: after a commit")
                else:
                    await marker(markers, f"*.{done.request_id}.started")
                    await asyncio.sleep(rng.uniform(0, 2 * PAUSE + 0.3))
                    kills.append(f"{done.request_id}: anywhere")
                await kill(worker)
                worker = start_worker(tmp_path, settings, key_environment, log, cached=False)
            handle = dev_server_env.client.get_workflow_handle_for(
                ErasureWorkflow.run, done.workflow_id
            )
            result = await asyncio.wait_for(handle.result(), timeout=90)
            assert result.status == "completed", (seed, kills, log.read_text()[-3000:])
        print("kills:", "; ".join(kills))
        problems, replays = await check_record(
            ledger, requests, bystanders, (pg, maria, client), prefix, redis_before
        )
        print(f"outcomes replayed from a receipt: {replays}")
        assert not problems, f"seed {seed}: the record disagrees with the systems:\n" + "\n".join(
            problems
        )
        # Each kill after a commit left at least one outcome only a receipt could tell.
        after_commit = sum(1 for k in kills if k.endswith("after a commit"))
        assert replays >= after_commit, f"{replays} replays for {after_commit} kills after commits"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            await asyncio.to_thread(worker.wait, 15)
        await ledger.dispose()
        mine = [k async for k in client.scan_iter(match=glob_escape(prefix) + "*")]
        if mine:
            await client.delete(*mine)


async def audit_of(db: SystemDatabase) -> list[tuple[str, str, int]]:
    async with db.engine.connect() as conn:
        q = f"SELECT tbl, op, pk FROM {db.qualify('audit')} ORDER BY id"
        return [(str(t), str(o), int(k)) for t, o, k in await conn.execute(sa.text(q))]


async def check_record(
    ledger: Ledger,
    requests: dict[str, Person],
    bystanders: list[Person],
    servers: tuple[SystemDatabase, SystemDatabase, Any],
    prefix: str,
    redis_before: set[bytes],
) -> tuple[list[str], int]:
    """Every way the record and the systems disagree (empty: none), and how many outcomes
    were replayed from a receipt."""
    pg, maria, client = servers
    problems: list[str] = []
    replays = 0
    owner = {
        (table, i): p for p in (*requests.values(), *bystanders) for table, ids in p.rows.items()
        for i in ids
    }  # fmt: skip
    subjects = {p.email for p in requests.values()}

    def compare(system: str, request_id: str, rec: Any, reality: dict[str, int]) -> None:
        nonlocal replays
        recorded = {k: v for k, v in rec.counts.items() if v}
        if (rec.outcome, recorded) != ("erased", reality):
            problems.append(
                f"{system} {request_id}: recorded {rec.outcome} {recorded}, the system saw"
                f" {reality} (attempts {rec.attempts}, evidence {rec.evidence})"
            )
        replayed = rec.evidence.get("replayed_from_receipt") is True
        replays += replayed
        if rec.evidence.get("earlier_attempt_interrupted", False) is not replayed:
            problems.append(f"{system} {request_id}: interrupted is not replayed: {rec.evidence}")
        if replayed and rec.attempts < 2:
            problems.append(f"{system} {request_id}: replayed on its first attempt")

    for name, db in (("pg", pg), ("maria", maria)):
        seen = await audit_of(db)
        doubled = [row for row, n in Counter(seen).items() if n > 1]
        if doubled:
            problems.append(f"{name}: rows changed twice: {doubled[:5]}")
        if {owner[(t, pk)].email for t, _, pk in seen} - subjects:
            problems.append(f"{name}: a bystander's rows changed")
        for request_id, person in requests.items():
            reality = Counter(ACTIONS[(t, op)] for t, op, pk in seen if owner[(t, pk)] is person)
            [rec] = [o for o in await ledger.outcomes(request_id) if o.system == name]
            compare(name, request_id, rec, dict(reality))

    redis_after = {k async for k in client.scan_iter(match=glob_escape(prefix) + "*")}
    receipts = {k for k in redis_after if k.startswith(f"{prefix}lethe:".encode())}
    gone = redis_before - redis_after
    if redis_after - receipts - redis_before:
        problems.append("cache: keys appeared")
    spared = {f"{prefix}{k}".encode() for p in bystanders for ks in p.keys.values() for k in ks}
    if spared & gone:
        problems.append("cache: a bystander's key went")
    for request_id, person in requests.items():
        theirs = {f"{prefix}{k}".encode() for ks in person.keys.values() for k in ks}
        if theirs - gone:
            problems.append(f"cache {request_id}: keys left")
        [rec] = [o for o in await ledger.outcomes(request_id) if o.system == "cache"]
        unlinked = {f"{t}.unlinked": len(ks) for t, ks in person.keys.items() if ks}
        compare("cache", request_id, rec, unlinked)

    # No event recorded twice, and every outcome sealed once.
    async with ledger.session() as s:
        events = (await s.scalars(sa.select(RequestEvent))).all()
        q = sa.select(ProofLeaf.request_id, ProofLeaf.system, ProofLeaf.round)
        leaves = (await s.execute(q.where(ProofLeaf.kind == "system_outcome"))).all()
    for request_id in requests:
        kinds = Counter(
            (e.kind, json.dumps(e.detail, sort_keys=True))
            for e in events
            if e.request_id == request_id
        )
        doubled_events = [k for k, n in kinds.items() if n > 1]
        if doubled_events:
            problems.append(f"{request_id}: events recorded twice: {doubled_events}")
        sealed = Counter((system, round_) for rid, system, round_ in leaves if rid == request_id)
        if sealed != {("pg", 0): 1, ("maria", 0): 1, ("cache", 0): 1}:
            problems.append(f"{request_id}: outcomes sealed {dict(sealed)}")
    return problems, replays
