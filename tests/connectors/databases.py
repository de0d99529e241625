"""A fresh, isolated database on SQLite, PostgreSQL or MariaDB for one test.

PostgreSQL gets a fresh schema (tables are named ``schema.table``), MariaDB a fresh database;
both are dropped afterwards, so the shared servers carry nothing over between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
