"""Engines, sessions and schema migrations for the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import migrations

__all__ = [
    "alembic_config",
    "create_ledger_engine",
    "schema_is_current",
    "schema_revisions",
    "upgrade_schema",
]


def create_ledger_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; for SQLite, turns on WAL and foreign keys. Creates nothing: where a
    new ledger goes is decided by whoever makes one (``lethe.runtime.open_ledger``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_async_engine(parsed, hide_parameters=True, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # Freed space is zeroed, so a shredded vault key or a withdrawn request leaves no
            # bytes behind in the file (many builds have it on; not all).
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return cfg


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the ledger's schema to ``revision`` (idempotent)."""

    def run(conn: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def schema_revisions(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    """The ledger's schema revisions, and those of this code (equal when current)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())

    def current(conn: sa.Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(current), heads


async def schema_is_current(engine: AsyncEngine) -> bool:
    found, wanted = await schema_revisions(engine)
    return found == wanted
