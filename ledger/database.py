"""Engines, sessions and schema migrations for the ledger.

Which revision a ledger is at is read from its ``alembic_version`` table with one query, and
compared with :data:`migrations.HEAD`: a command that only reads never imports Alembic (a
third of a second), and one that writes imports it only when there is something to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "alembic_config",
    "create_ledger_engine",
    "known_revisions",
    "schema_is_current",
    "schema_revisions",
    "stored_revisions",
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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return cfg


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the ledger's schema to ``revision`` (idempotent; at the head already, one query
    says so and Alembic is not loaded)."""
    if revision in ("head", migrations.HEAD) and await stored_revisions(engine) == {
        migrations.HEAD
    }:
        return

    def run(conn: sa.Connection) -> None:
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def known_revisions() -> set[str]:
    """Every revision of versions/ (Alembic reads them: for the rare ledger not at the head)."""
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


async def stored_revisions(engine: AsyncEngine) -> set[str]:
    """The revisions the ledger's ``alembic_version`` table records (none: no ledger)."""

    def current(conn: sa.Connection) -> set[str]:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())

    async with engine.connect() as conn:
        return await conn.run_sync(current)


async def schema_revisions(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    """The ledger's schema revisions, and those of this code (equal when current)."""
    return await stored_revisions(engine), {migrations.HEAD}


async def schema_is_current(engine: AsyncEngine) -> bool:
    found, wanted = await schema_revisions(engine)
    return found == wanted
