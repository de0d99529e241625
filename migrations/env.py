"""Alembic environment: migrations run on a connection handed over by ``upgrade_schema``,
or, from the ``alembic`` command line, on ``LETHE_DATABASE_URL``."""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from ledger.tables import Base, UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Migrations are frozen: render our column types as plain SQLAlchemy types."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


handed = context.config.attributes.get("connection")
if handed is not None:
    run_on(handed)
else:
    asyncio.run(
        run_from_url(os.environ.get("LETHE_DATABASE_URL", "sqlite+aiosqlite:///.lethe/lethe.db"))
    )
