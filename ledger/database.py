"""Engines, sessions and schema migrations for the ledger.

Which revision a ledger is at is read from its ``alembic_version`` table with one query, and
compared with :data:`migrations.HEAD`: a command that only reads never imports Alembic (a
third of a second), and one that writes imports it only when there is something to migrate.

A migration runs under a lock, so replicas started together cannot race on the schema:
PostgreSQL a transaction-scoped advisory lock (``pg_advisory_xact_lock``), MariaDB/MySQL a
named lock (``GET_LOCK``), SQLite an exclusive ``flock`` on the ledger file's directory (one
host only; it leaves no file behind and does not touch SQLite's own locks on the database
file). The revision is read again once the lock is held: the second of two migrations finds
the schema current and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATION_LOCK_KEY",
    "SchemaNewerThanCode",
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
            # In WAL mode NORMAL syncs the log at checkpoints, not at every commit: the file
            # stays consistent after any crash; a power cut may lose the last commits (an
            # application crash loses none). PostgreSQL is the ledger for production.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return cfg


#: The PostgreSQL advisory lock key migrations take (a constant: every Lethe takes the same one).
MIGRATION_LOCK_KEY = 0x1E7E_5C4E_3A00  # "lethe schema"
_MYSQL_LOCK = "lethe_schema_migration"
_MYSQL_LOCK_WAIT_SECONDS = 600


class SchemaNewerThanCode(Exception):
    """The ledger records a schema revision this code does not know (a newer Lethe migrated
    it): nothing is migrated."""

    def __init__(self, found: set[str]) -> None:
        self.found = found
        super().__init__(", ".join(sorted(found)))


@contextlib.asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """An exclusive ``flock`` on the SQLite ledger's directory while a migration runs."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    fd = os.open(Path(database).resolve().parent, os.O_RDONLY)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _stored(conn: sa.Connection) -> set[str]:
    if not sa.inspect(conn).has_table("alembic_version"):
        return set()
    return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> tuple[set[str], set[str]]:
    """Bring the ledger's schema to ``revision`` under the migration lock (idempotent; at the
    head already, one query says so and Alembic is not loaded). The revisions before and
    after; :class:`SchemaNewerThanCode` if the ledger's is one this code does not know."""
    if revision in ("head", migrations.HEAD):
        found = await stored_revisions(engine)
        if found == {migrations.HEAD}:
            return found, found

    def run(conn: sa.Connection) -> tuple[set[str], set[str]]:
        from alembic import command

        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        elif dialect in ("mysql", "mariadb"):
            got = conn.execute(
                sa.text("SELECT GET_LOCK(:name, :wait)"),
                {"name": _MYSQL_LOCK, "wait": _MYSQL_LOCK_WAIT_SECONDS},
            ).scalar()
            if got != 1:
                raise TimeoutError(f"another migration held {_MYSQL_LOCK!r} too long")
        try:
            before = _stored(conn)  # read again, under the lock
            if before - known_revisions():
                raise SchemaNewerThanCode(before)
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            after = _stored(conn)
            if dialect in ("mysql", "mariadb"):
                # GET_LOCK outlives transactions: commit the new revision before letting the
                # next migration in, or it reads the old one and repeats DDL that MariaDB
                # committed as it ran ("Table 'processor_callbacks' already exists").
                conn.commit()
            return before, after
        finally:
            if dialect in ("mysql", "mariadb"):
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_LOCK})

    # PostgreSQL's advisory lock belongs to the transaction: it is released by this commit.
    async with _sqlite_file_lock(engine), engine.connect() as conn:
        result = await conn.run_sync(run)
        await conn.commit()
        return result


_REVISION = re.compile(r"""^revision\s*(?::\s*str\s*)?=\s*["']([^"']+)["']""", re.MULTILINE)


def known_revisions() -> set[str]:
    """Every revision of versions/, from each file's ``revision = "…"`` line: telling a schema
    that is behind from one that is newer loads no Alembic (tests/ledger/test_schema_head.py
    holds this to Alembic's own reading)."""
    versions = Path(migrations.__file__).parent / "versions"
    found = (_REVISION.search(path.read_text()) for path in sorted(versions.glob("*.py")))
    return {m.group(1) for m in found if m is not None}


async def stored_revisions(engine: AsyncEngine) -> set[str]:
    """The revisions the ledger's ``alembic_version`` table records (none: no ledger)."""

    async with engine.connect() as conn:
        return await conn.run_sync(_stored)


async def schema_revisions(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    """The ledger's schema revisions, and those of this code (equal when current)."""
    return await stored_revisions(engine), {migrations.HEAD}


async def schema_is_current(engine: AsyncEngine) -> bool:
    found, wanted = await schema_revisions(engine)
    return found == wanted
