"""A fresh, isolated database on SQLite, PostgreSQL or MariaDB for one test, or for one class
of conformance tests (:class:`OneSchemaPerClass`).

PostgreSQL gets a fresh schema (tables are named ``schema.table``), MariaDB a fresh database;
both are dropped afterwards, so the shared servers carry nothing over between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.testing import ConnectorKit, Harness, Seeded
from tests.conftest import MARIADB_URL, POSTGRES_URL, postgres_schema, require_service

BACKENDS = ("sqlite", "postgresql", "mariadb")


@dataclass
class SystemDatabase:
    backend: str
    url: str
    schema: str | None
    engine: AsyncEngine

    def qualify(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def unreachable_url(self, tmp_path: Path) -> str:
        """The same kind of database, somewhere nothing answers."""
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
        return make_url(self.url).set(host="127.0.0.1", port=1).render_as_string(False)

    async def create(self, metadata: sa.MetaData) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def replace_rows(
        self, metadata: sa.MetaData, rows: dict[str, list[dict[str, Any]]]
    ) -> None:
        """Empty every table (children first) and insert ``rows`` (parents first)."""
        async with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
            for table in metadata.sorted_tables:
                if rows.get(table.name):
                    await conn.execute(table.insert(), rows[table.name])

    async def table_names(self) -> set[str]:
        async with self.engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=self.schema))
        return set(names)

    async def empty(self, metadata: sa.MetaData) -> None:
        """Bring the database back to what :meth:`create` made: drop the tables that are not
        ``metadata``'s (a connector's own, such as the sql connector's receipts) and delete every
        row of the others (children first). (``OneSchemaPerClass.seeded`` checks the result.)"""
        ours = {t.name for t in metadata.sorted_tables}
        for name in await self.table_names() - ours:
            async with self.engine.begin() as conn:
                await conn.run_sync(
                    lambda c, n=name: sa.Table(n, sa.MetaData(schema=self.schema)).drop(c)
                )
        await self.replace_rows(metadata, {})
        assert await self.table_names() == ours, "tables made by the last test are left"

    async def dump(self, metadata: sa.MetaData) -> dict[tuple[str, Any], tuple[Any, ...]]:
        """Every row by (table, primary key), as a tuple of its values."""
        out: dict[tuple[str, Any], tuple[Any, ...]] = {}
        async with self.engine.connect() as conn:
            for table in metadata.sorted_tables:
                pk = list(table.primary_key.columns)
                for row in (await conn.execute(sa.select(table))).all():
                    key = tuple(getattr(row, c.name) for c in pk)
                    out[(table.name, key[0] if len(key) == 1 else key)] = tuple(row)
        return out


@asynccontextmanager
async def provision(backend: str, tmp_path: Path) -> AsyncIterator[SystemDatabase]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'system.db'}"
        engine = create_async_engine(url)
        try:
            yield SystemDatabase(backend, url, None, engine)
        finally:
            await engine.dispose()
    elif backend == "postgresql":
        async with postgres_schema() as schema:
            engine = create_async_engine(POSTGRES_URL)
            try:
                yield SystemDatabase(backend, POSTGRES_URL, schema, engine)
            finally:
                await engine.dispose()
    elif backend == "mariadb":
        require_service("MariaDB", "127.0.0.1", 3306)
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(MARIADB_URL)
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        url = make_url(MARIADB_URL).set(database=name).render_as_string(False)
        engine = create_async_engine(url)
        try:
            yield SystemDatabase(backend, url, None, engine)
        finally:
            await engine.dispose()
            async with admin.begin() as conn:
                await conn.execute(sa.text(f"DROP DATABASE `{name}`"))
            await admin.dispose()
    else:
        raise ValueError(backend)


class TablesHarness(Harness, Protocol):
    """A harness whose system is the tables of ``metadata`` in one database."""

    metadata: sa.MetaData


class OneSchemaPerClass(ConnectorKit):
    """A conformance suite whose system lives in database tables: the database and its tables
    are made once per class (on ``backend``), and every test gets them emptied (checked empty)
    and, through ``seeded``, filled again with ``cast``. Making ~20 tables per test cost about
    half a second on MariaDB; emptying and refilling them costs a few milliseconds.

    That each test still starts from the same state is checked, not assumed: ``seeded`` compares
    the whole system after seeding with what the class's first test saw after seeding.
    Subclasses implement :meth:`make_harness`.
    """

    backend: ClassVar[str] = ""

    @classmethod
    def make_harness(cls, database: SystemDatabase) -> TablesHarness:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    async def database(
        cls, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[SystemDatabase]:
        async with provision(cls.backend, tmp_path_factory.mktemp(cls.backend)) as db:
            await db.create(cls.make_harness(db).metadata)
            yield db

    @pytest.fixture(scope="class")
    @classmethod
    def first_seeded_state(cls) -> dict[str, Any]:
        return {}

    @pytest.fixture
    async def harness(self, database: SystemDatabase) -> Harness:
        h = self.make_harness(database)
        await database.empty(h.metadata)
        return h

    @pytest.fixture
    async def seeded(self, harness: Harness, first_seeded_state: dict[str, Any]) -> Seeded:
        seeded = await harness.seed(self.cast)
        state = await harness.snapshot()
        first = first_seeded_state.setdefault("state", state)
        assert state == first, "this test does not start from the state the first one did"
        return seeded
