"""One way to lock a row before reading it, on every backend the ledger runs on.

A transaction that must be a row's only writer until it ends (a keyed write, a status change,
a code check, a seal) takes the row's write lock with its first statement: an UPDATE that sets
a column to itself. That is the row's lock on PostgreSQL and MariaDB and the writer lock on
SQLite (which ignores ``SELECT … FOR UPDATE``), taken before anything is read, so no read that
follows comes from a snapshot older than the other writer's commit. Locks are taken in one
order, the request's first (``ledger.write_keys.lock_request``), so two writers cannot deadlock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["lock_row"]


async def lock_row(
    s: AsyncSession, where: sa.ColumnElement[bool], *, touch: InstrumentedAttribute[Any]
) -> None:
    """Take the write lock of the rows of ``touch``'s table that ``where`` selects, changing
    nothing: ``UPDATE … SET touch = touch WHERE …``. ``touch`` is a column outside every key
    (so PostgreSQL takes the lock that leaves foreign keys to the row alone). With a condition
    no row meets (``sa.false()``) it takes only SQLite's writer lock: what the proof log's
    appenders serialise on there."""
    await s.execute(
        sa.update(touch.class_)
        .where(where)
        .values({touch.key: touch})
        .execution_options(synchronize_session=False)
    )
