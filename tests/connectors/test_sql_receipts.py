"""The sql connector's receipts, on SQLite, PostgreSQL and MariaDB: written in the erase's own
transaction, replayed exactly by a repeat, one erase when two attempts race, and a clear
refusal when the connection may not create the table."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from connectors import (
    REPLAYED_FROM_RECEIPT,
    BlastRadiusExceeded,
    ConnectorRegistry,
    NotFound,
    Outcome,
    PermanentError,
    Retained,
    Subject,
    TransientError,
)
from connectors.phpbb import PhpbbConnector
from connectors.sql import SqlConnector
from tests.conftest import POSTGRES_URL
from tests.connectors.databases import BACKENDS, SystemDatabase, provision

ADA = Subject(ref="ps_ada", email="ada@example.org", jurisdiction="gdpr")


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
        "invoices",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(255), nullable=False),
    )
    return md


ROWS: dict[str, list[dict[str, Any]]] = {
    "users": [{"id": 1, "email": "ada@example.org"}, {"id": 2, "email": "nada@example.org"}],
    "posts": [
        {"id": 10, "author_id": 1, "body": "hi"},
        {"id": 11, "author_id": 1, "body": "again"},
        {"id": 12, "author_id": 2, "body": "hello"},
    ],
    "invoices": [{"id": 5, "email": "ada@example.org"}],
}


def table_map(db: SystemDatabase) -> list[dict[str, Any]]:
    q = db.qualify
    return [
        {
            "table": q("users"),
            "label": "users",
            "key": "email",
            "identifier": "email",
            "action": "delete",
        },
        {
            "table": q("posts"),
            "label": "posts",
            "key": "author_id",
            "parent": f"{q('users')}.id",
            "action": "anonymize",
            "nullify": ["author_id"],
        },
        {
            "table": q("invoices"),
            "label": "invoices",
            "key": "email",
            "identifier": "email",
            "action": "retain",
            "legal_basis": "gdpr-17-3-b",
            "retain_days": 3650,
            "note": "tax law",
        },
    ]


@pytest.fixture(params=BACKENDS)
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SystemDatabase, sa.MetaData]]:
    async with provision(request.param, tmp_path) as db:
        md = schema(db)
        await db.create(md)
        await db.replace_rows(md, ROWS)
        yield db, md


def build(db: SystemDatabase, url: str | None = None, **options: Any) -> SqlConnector:
    c = ConnectorRegistry({"sql": SqlConnector}).build(
        "crm", "sql", {"url": url or db.url, "tables": table_map(db), **options}
    )
    assert isinstance(c, SqlConnector)
    return c


async def receipts(db: SystemDatabase) -> list[tuple[Any, ...]]:
    table = db.qualify("lethe_erasure_receipts")
    async with db.engine.connect() as conn:
        q = f"SELECT system, erase_key, outcome FROM {table} ORDER BY erase_key"
        return [tuple(r) for r in await conn.execute(sa.text(q))]


async def test_a_repeat_on_another_instance_replays_the_receipt_exactly(
    database: tuple[SystemDatabase, sa.MetaData],
) -> None:
    db, md = database
    first_worker, second_worker = build(db), build(db)
    try:
        first = await first_worker.erase(ADA, "er-1")
        after = await db.dump(md)
        again = await second_worker.erase(ADA, "er-1")
    finally:
        await first_worker.aclose()
        await second_worker.aclose()
    assert await db.dump(md) == after  # the repeat changed nothing
    assert isinstance(first, Retained) and isinstance(again, Retained)
    assert first.counts == again.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert (again.legal_basis, again.retained_until, again.note) == (
        first.legal_basis,
        first.retained_until,
        first.note,
    )
    assert again.retained_counts == first.retained_counts == {"invoices.retained": 1}
    # The evidence as committed; the check the first made after its commit is its own.
    committed = {k: v for k, v in first.evidence.items() if k != "remaining_after_commit"}
    assert first.evidence["remaining_after_commit"] == 0
    assert again.evidence == {**committed, REPLAYED_FROM_RECEIPT: True}
    [(system, key, stored)] = await receipts(db)
    assert (system, key) == ("crm", "er-1")
    assert "ada@example.org" not in stored and json.loads(stored)["kind"] == "retained"


async def test_the_receipt_commits_with_the_change_or_neither_does(
    database: tuple[SystemDatabase, sa.MetaData],
) -> None:
    db, md = database
    before = await db.dump(md)
    c = build(db)

    async def lost(conn: AsyncConnection, key: str, outcome: Outcome) -> None:
        raise ConnectionResetError("the connection dropped before the receipt was written")

    c._record = lost  # type: ignore[method-assign]
    try:
        with pytest.raises(TransientError):
            await c.erase(ADA, "er-1")
    finally:
        await c.aclose()
    assert await db.dump(md) == before and await receipts(db) == []
    # Refused by the blast-radius guard: the claim goes with the rest.
    tight = build(db, max_items=1)
    try:
        with pytest.raises(BlastRadiusExceeded):
            await tight.erase(ADA, "er-1")
    finally:
        await tight.aclose()
    assert await db.dump(md) == before and await receipts(db) == []
    # Nothing found: nothing to replay, no receipt.
    nobody = build(db)
    try:
        outcome = await nobody.erase(Subject(ref="ps_x", email="nobody@example.org"), "er-2")
    finally:
        await nobody.aclose()
    assert isinstance(outcome, NotFound) and await receipts(db) == []


async def test_two_attempts_at_once_erase_once(
    database: tuple[SystemDatabase, sa.MetaData],
) -> None:
    """A timed-out attempt still running beside its retry: the second waits on the first's
    receipt key, then replays what the first committed."""
    db, _ = database
    first, second = build(db), build(db)
    claimed = asyncio.Event()
    erase_in = first._erase_in

    async def slow(conn: AsyncConnection, subject: Subject, missing: tuple[str, ...]) -> Outcome:
        claimed.set()  # the key is inserted, uncommitted
        await asyncio.sleep(0.5)
        return await erase_in(conn, subject, missing)

    first._erase_in = slow  # type: ignore[method-assign]

    async def after_the_claim() -> Outcome:
        await claimed.wait()
        return await second.erase(ADA, "er-1")

    try:
        one, other = await asyncio.gather(first.erase(ADA, "er-1"), after_the_claim())
    finally:
        await first.aclose()
        await second.aclose()
    assert isinstance(one, Retained) and isinstance(other, Retained)
    assert one.counts == other.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert REPLAYED_FROM_RECEIPT not in one.evidence
    assert other.evidence[REPLAYED_FROM_RECEIPT] is True
    assert len(await receipts(db)) == 1


async def test_a_connection_that_may_not_create_the_table_says_so(tmp_path: Path) -> None:
    async with provision("sqlite", tmp_path) as db:
        md = schema(db)
        await db.create(md)
        await db.replace_rows(md, ROWS)
        before = await db.dump(md)
        read_only = f"sqlite+aiosqlite:///file:{tmp_path / 'system.db'}?mode=ro&uri=true"
        c = build(db, url=read_only)
        try:
            with pytest.raises(PermanentError) as err:
                await c.erase(ADA, "er-1")
            with pytest.raises(PermanentError) as checked:
                await c.check()
        finally:
            await c.aclose()
        assert await db.dump(md) == before
    message = str(err.value)
    assert "receipts table lethe_erasure_receipts is missing" in message
    assert "CREATE TABLE lethe_erasure_receipts" in message and "nothing was changed" in message
    assert "\n" not in message and str(checked.value) == message


async def test_a_receipts_table_another_worker_made_meanwhile_is_used(
    database: tuple[SystemDatabase, sa.MetaData], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers' first erases on a fresh system both find no receipts table; one CREATE
    wins and the other's fails ("already exists"). The loser uses the winner's table at once,
    instead of failing as "database unavailable" and waiting for a retry."""
    db, _ = database
    first, second = build(db), build(db)
    await first._ensure_receipts()  # the winner's CREATE
    real_inspect, looked = sa.inspect, []

    def before_the_winner(subject: Any) -> Any:
        """The loser's look came before the winner's CREATE: no table, once."""
        inspector = real_inspect(subject)
        if not isinstance(subject, sa.Connection) or looked:
            return inspector

        class Stale:
            def __getattr__(self, name: str) -> Any:
                return getattr(inspector, name)

            def has_table(self, name: str, schema: str | None = None) -> bool:
                looked.append(name)
                return False

        return Stale()

    real_create = second._receipts.create
    monkeypatch.setattr(sa, "inspect", before_the_winner)
    monkeypatch.setattr(
        second._receipts, "create", lambda bind, **_: real_create(bind, checkfirst=False)
    )
    try:
        outcome = await second.erase(ADA, "er-raced")
    finally:
        await first.aclose()
        await second.aclose()
    assert looked == ["lethe_erasure_receipts"]  # the race was run, not skipped
    assert not isinstance(outcome, NotFound) and outcome.counts, outcome  # erased (and kept)
    assert [(r[0], r[1]) for r in await receipts(db)] == [("crm", "er-raced")]


async def test_on_postgresql_a_role_without_create_is_told_how_and_then_works() -> None:
    """A least-privilege role (DML on the tables, no CREATE on the schema): the erase refuses
    in one line with the DDL; once a DBA has run it and granted SELECT, INSERT, UPDATE on it,
    the erase keeps its receipt there."""
    async with provision("postgresql", Path("/nonexistent")) as db:
        md = schema(db)
        await db.create(md)
        await db.replace_rows(md, ROWS)
        role = f"lethe_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            for statement in (
                f"CREATE ROLE {role} LOGIN",
                f'GRANT USAGE ON SCHEMA "{db.schema}" TO {role}',
                f'GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{db.schema}" TO {role}',
            ):
                await conn.execute(sa.text(statement))
        url = make_url(db.url).set(username=role).render_as_string(False)
        try:
            c = build(db, url=url)
            try:
                with pytest.raises(PermanentError) as err:
                    await c.erase(ADA, "er-1")
            finally:
                await c.aclose()
            message = str(err.value)
            assert "may not create it" in message and "permission denied" in message
            ddl = message.split("have it created (", 1)[1].rsplit(") or set receipts_table", 1)[0]
            async with admin.connect() as conn:
                await conn.execute(sa.text(ddl))
                receipts_table = db.qualify("lethe_erasure_receipts")
                await conn.execute(
                    sa.text(f"GRANT SELECT, INSERT, UPDATE ON {receipts_table} TO {role}")
                )
            c = build(db, url=url)
            try:
                outcome = await c.erase(ADA, "er-1")
            finally:
                await c.aclose()
            assert isinstance(outcome, Retained) and outcome.counts["users.deleted"] == 1
            assert [r[:2] for r in await receipts(db)] == [("crm", "er-1")]
        finally:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f"DROP OWNED BY {role}"))
                await conn.execute(sa.text(f"DROP ROLE {role}"))
            await admin.dispose()


def test_where_the_receipts_table_lives() -> None:
    registry = ConnectorRegistry({"sql": SqlConnector, "phpbb": PhpbbConnector})
    rule = {"key": "email", "identifier": "email", "action": "delete"}
    plain = registry.build("a", "sql", {"url": "sqlite://", "tables": [{"table": "u", **rule}]})
    schema_ = registry.build(
        "b", "sql", {"url": "sqlite://", "tables": [{"table": "crm.u", **rule}]}
    )
    named = registry.build(
        "c",
        "sql",
        {"url": "sqlite://", "tables": [{"table": "u", **rule}], "receipts_table": "ops.r"},
    )
    board = registry.build("d", "phpbb", {"url": "sqlite://", "mode": "retain"})
    names = [c._receipts.fullname for c in (plain, schema_, named, board)]  # type: ignore[attr-defined]
    assert names == [
        "lethe_erasure_receipts",
        "crm.lethe_erasure_receipts",
        "ops.r",
        "phpbb_lethe_erasure_receipts",
    ]
