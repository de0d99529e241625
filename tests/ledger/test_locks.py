"""``lock_row``: the one way the ledger locks a row before reading it, on every backend."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import ErasureRequestRecord, Ledger
from ledger.locks import lock_row
from lethe.keys import Keyring
from tests.conftest import make_ledger

from .test_request_status import _until_blocked_by
from .test_store import open_request


async def test_it_is_the_transaction_s_first_statement_and_changes_nothing(
    sqlite_ledger: Ledger,
) -> None:
    await open_request(sqlite_ledger)
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    sa.event.listen(sqlite_ledger.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with sqlite_ledger.session() as s, s.begin():
            await lock_row(
                s, ErasureRequestRecord.request_id == "er-1", touch=ErasureRequestRecord.status
            )
    finally:
        sa.event.remove(sqlite_ledger.engine.sync_engine, "before_cursor_execute", seen)
    assert statements == [
        "UPDATE erasure_requests SET status=erasure_requests.status "
        "WHERE erasure_requests.request_id = ?"
    ]
    async with sqlite_ledger.session() as s:
        rec = await s.get(ErasureRequestRecord, "er-1")
    assert rec is not None and rec.status == "received"


@pytest.mark.services
async def test_a_second_writer_waits_for_the_first(tmp_path: Path, keys: Keyring) -> None:
    """On PostgreSQL: the second transaction's lock waits until the first one ends, and then
    reads what the first committed (not an older snapshot)."""
    async with make_ledger("postgresql", tmp_path, keys) as ledger:
        await open_request(ledger)
        where = ErasureRequestRecord.request_id == "er-1"

        async def second() -> str | None:
            async with ledger.session() as s, s.begin():
                await lock_row(s, where, touch=ErasureRequestRecord.status)
                return await s.scalar(sa.select(ErasureRequestRecord.status_reason).where(where))

        async with ledger.session() as s, s.begin():
            await lock_row(s, where, touch=ErasureRequestRecord.status)
            holder = await s.scalar(sa.text("SELECT pg_backend_pid()"))
            waiting = asyncio.create_task(second())
            await _until_blocked_by(ledger, holder)
            await s.execute(
                sa.update(ErasureRequestRecord).where(where).values(status_reason="1st")
            )
        assert await waiting == "1st"
