"""The conformance kit against the sql connector on SQLite, PostgreSQL and MariaDB.

The test system: users (deleted), their posts (kept, author nulled, name rewritten, a keyed hash
of the address left for grouping), their sessions (deleted through the user), newsletter
sign-ups (deleted by address, in a different table) and invoices (retained ten years).
Real foreign keys hold on PostgreSQL and MariaDB, so the order of changes matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import Connector, ConnectorRegistry
from connectors.testing import ConformanceSuite, FaultInjector, Person, Seeded, built_with
from tests.connectors.databases import OneSchemaPerClass, SystemDatabase

HASH_SECRET = "kit-hash-secret-0123456789"


def schema(db: SystemDatabase) -> sa.MetaData:
    md = sa.MetaData(schema=db.schema)
    text = sa.String(255)
    sa.Table(
        "users",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", text, nullable=False),
        sa.Column("name", text, nullable=False),
    )
    sa.Table(
        "posts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("author_name", text, nullable=False),
        sa.Column("author_hash", sa.String(64), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
    )
    sa.Table(
        "signups",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("address", text, nullable=False),
        sa.Column("list_name", text, nullable=False),
    )
    sa.Table(
        "invoices",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_email", text, nullable=False),
        sa.Column("amount_cents", sa.Integer, nullable=False),
    )
    return md


def table_map(db: SystemDatabase) -> list[dict[str, Any]]:
    q = db.qualify
    return [
        {"table": q("users"), "key": "email", "identifier": "email", "action": "delete"},
        {
            "table": q("posts"),
            "key": "author_id",
            "parent": f"{q('users')}.id",
            "action": "anonymize",
            "nullify": ["author_id"],
            "set": {"author_name": "Deleted user"},
            "hash": {"author_hash": "email"},
        },
        {
            "table": q("sessions"),
            "key": "user_id",
            "parent": f"{q('users')}.id",
            "action": "delete",
        },
        {
            "table": q("signups"),
            "key": "address",
            "identifier": "email",
            "action": "delete",
            "label": "newsletter",
        },
        {
            "table": q("invoices"),
            "key": "customer_email",
            "identifier": "email",
            "action": "retain",
            "legal_basis": "gdpr-17-3-b",
            "retain_days": 3650,
            "note": "kept ten years under tax law",
        },
    ]


class SqlHarness:
    def __init__(self, db: SystemDatabase) -> None:
        self.db = db
        self.metadata = schema(db)
        self.options: dict[str, Any] = {
            "url": db.url,
            "tables": table_map(db),
            "hash_secret": HASH_SECRET,
            "chunk_size": 2,  # small, so that every test also exercises chunking
        }

    def build(self, **options: Any) -> Connector:
        registry = ConnectorRegistry.from_entry_points()
        return registry.build("kit", "sql", {**self.options, **options})

    async def seed(self, people: Sequence[Person]) -> Seeded:
        rows: dict[str, list[dict[str, Any]]] = {
            "users": [],
            "posts": [],
            "sessions": [],
            "signups": [],
            "invoices": [],
        }
        records: dict[Person, frozenset[Any]] = {}
        traces: dict[Person, frozenset[str]] = {}
        retained: set[Any] = set()
        for n, p in enumerate(people, start=1):
            mine = {("users", n)}
            rows["users"].append({"id": n, "email": p.email, "name": p.name or "x"})
            for k in (1, 2, 3):
                post = n * 10 + k
                rows["posts"].append(
                    {
                        "id": post,
                        "author_id": n,
                        "author_name": p.username,
                        "author_hash": None,
                        "body": f"post number {post}",
                    }
                )
                mine.add(("posts", post))
            for k in (1, 2):
                rows["sessions"].append({"id": n * 10 + k, "user_id": n, "ip": f"10.0.{n}.{k}"})
                mine.add(("sessions", n * 10 + k))
            rows["signups"].append({"id": n, "address": p.email, "list_name": "weekly"})
            mine.add(("signups", n))
            rows["invoices"].append({"id": n, "customer_email": p.email, "amount_cents": 100 * n})
            mine.add(("invoices", n))
            retained.add(("invoices", n))
            records[p] = frozenset(mine)
            traces[p] = frozenset({p.email, p.username, *(f"10.0.{n}.{k}" for k in (1, 2))})
        await self.db.replace_rows(self.metadata, rows)
        return Seeded(records=records, traces=traces, retained=frozenset(retained))

    async def snapshot(self) -> Mapping[Any, Any]:
        return await self.db.dump(self.metadata)


class SqlSuite(OneSchemaPerClass, ConformanceSuite):
    kind = "sql"
    identifier_kinds = frozenset({"email"})

    @classmethod
    def make_harness(cls, database: SystemDatabase) -> SqlHarness:
        return SqlHarness(database)

    @pytest.fixture
    def transient_fault(
        self, harness: SqlHarness, database: SystemDatabase, tmp_path: Path
    ) -> FaultInjector:
        return built_with(harness, url=database.unreachable_url(tmp_path))

    @pytest.fixture
    def permanent_fault(self, harness: SqlHarness, database: SystemDatabase) -> FaultInjector:
        tables = [dict(t) for t in harness.options["tables"]]
        tables[3]["table"] = database.qualify("no_such_table")
        return built_with(harness, tables=tables)


class TestSqlOnSqlite(SqlSuite):
    backend = "sqlite"


@pytest.mark.services
class TestSqlOnPostgres(SqlSuite):
    backend = "postgresql"


@pytest.mark.services
class TestSqlOnMariadb(SqlSuite):
    backend = "mariadb"
