"""The sql connector on each database it supports, where the databases differ: key columns that
are not text, and which server errors are worth retrying."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import (
    ConnectorError,
    ConnectorRegistry,
    Erased,
    NotFound,
    PermanentError,
    Retained,
    Subject,
    TransientError,
)
from connectors.sql import SqlConnector
from tests.connectors.databases import BACKENDS, SystemDatabase, provision

ACCOUNTS = [(1, 42, "ada@example.org"), (2, 420, "b@example.org"), (3, 4, "c@example.org")]


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with provision(request.param, tmp_path) as db:
        md = sa.MetaData(schema=db.schema)
        accounts = sa.Table(
            "accounts",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("customer_no", sa.BigInteger, nullable=False),
            sa.Column("email", sa.String(255), nullable=False),
        )
        await db.create(md)
        async with db.engine.begin() as conn:
            await conn.execute(
                accounts.insert(),
                [dict(zip(("id", "customer_no", "email"), r, strict=True)) for r in ACCOUNTS],
            )
        yield db, accounts


def build(db: SystemDatabase, **rule: Any) -> SqlConnector:
    table = {"table": db.qualify("accounts"), "label": "accounts", "action": "delete", **rule}
    c = ConnectorRegistry({"sql": SqlConnector}).build(
        "crm", "sql", {"url": db.url, "tables": [table]}
    )
    assert isinstance(c, SqlConnector)
    return c


async def rows(db: SystemDatabase, accounts: sa.Table) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.select(accounts).order_by(accounts.c.id))]


@pytest.mark.parametrize("match", [None, "ascii_case_insensitive"])
async def test_a_numeric_key_column_matches_an_identifier_exactly(
    database: tuple[SystemDatabase, sa.Table], match: str | None
) -> None:
    # A customer number is an identifier, given as text; the column holds integers. Before,
    # SQLite and MariaDB answered NotFound and kept the row; PostgreSQL refused the query.
    db, accounts = database
    c = build(db, key="customer_no", identifier="customer_id", match=match)
    try:
        for near_miss in ("042", "4.0", "4 2", "%2", "42x"):
            subject = Subject("ps_x", "nobody@example.org", {"customer_id": near_miss})
            assert isinstance(await c.erase(subject, "er-1"), NotFound), near_miss
        subject = Subject("ps_x", "ada@example.org", {"customer_id": "42"})
        assert (await c.plan(subject)).counts == {"accounts.deleted": 1}
        outcome = await c.erase(subject, "er-2")
        assert isinstance(outcome, Erased) and outcome.counts == {"accounts.deleted": 1}
        assert outcome.evidence["remaining_after_commit"] == 0
        assert await rows(db, accounts) == [tuple(r) for r in ACCOUNTS[1:]]
    finally:
        await c.aclose()


async def test_one_retain_rule_cites_each_requests_own_law(
    database: tuple[SystemDatabase, sa.Table],
) -> None:
    # The same rule keeps a GDPR subject's and a CCPA subject's rows, each under their law.
    db, accounts = database
    c = build(
        db,
        key="email",
        identifier="email",
        action="retain",
        legal_basis={"gdpr": "gdpr-17-3-b", "ccpa": "ccpa-105-d-8"},
        retain_days=3650,
        note="tax law",
    )
    before = await rows(db, accounts)
    try:
        found = {}
        for email, law in (("ada@example.org", "gdpr"), ("b@example.org", "ccpa")):
            subject = Subject("ps_x", email, jurisdiction=law)
            plan = await c.plan(subject)
            outcome = await c.erase(subject, f"er-{law}")
            assert isinstance(outcome, Retained), law
            assert plan.evidence["retained"] == outcome.evidence["retained"]
            found[law] = (outcome.legal_basis, outcome.retained_counts)
        with pytest.raises(PermanentError, match="no legal basis for a request of unknown"):
            await c.erase(Subject("ps_x", "c@example.org"), "er-none")
    finally:
        await c.aclose()
    assert found == {
        "gdpr": ("gdpr-17-3-b", {"accounts.retained": 1}),
        "ccpa": ("ccpa-105-d-8", {"accounts.retained": 1}),
    }
    assert await rows(db, accounts) == before


@pytest.mark.services
@pytest.mark.parametrize(
    ("sqlstate", "retried"),
    [
        ("40P01", True),  # deadlock_detected
        ("40001", True),  # serialization_failure
        ("55P03", True),  # lock_not_available (lock_timeout)
        ("57014", True),  # query_canceled (statement_timeout)
        ("42501", False),  # insufficient_privilege
        ("23503", False),  # foreign_key_violation
    ],
)
async def test_postgresql_errors_are_retried_by_their_sqlstate(
    tmp_path: Path, sqlstate: str, retried: bool
) -> None:
    # asyncpg's errors reach SQLAlchemy as a bare DBAPIError: before, a deadlock or a
    # serialization failure was PermanentError, and the system failed without a retry.
    async with provision("postgresql", tmp_path) as db:
        md = sa.MetaData(schema=db.schema)
        accounts = sa.Table(
            "accounts",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("customer_no", sa.BigInteger, nullable=False),
            sa.Column("email", sa.String(255), nullable=False),
        )
        await db.create(md)
        table = db.qualify("accounts")
        async with db.engine.begin() as conn:
            await conn.execute(accounts.insert(), [{"id": 1, "customer_no": 1, "email": "a@b.org"}])
            await conn.execute(
                sa.text(
                    f"CREATE FUNCTION {db.schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}'; END $$"
                )
            )
            await conn.execute(
                sa.text(
                    f"CREATE TRIGGER refuse BEFORE DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {db.schema}.refuse()"
                )
            )
        c = build(db, key="email", identifier="email")
        try:
            with pytest.raises(ConnectorError) as err:
                await c.erase(Subject("ps_x", "a@b.org"), "er-1")
        finally:
            await c.aclose()
        assert isinstance(err.value, TransientError) is retried, repr(err.value)
        assert isinstance(err.value, PermanentError) is not retried
        assert await rows(db, accounts) == [(1, 1, "a@b.org")]
