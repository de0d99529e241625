"""A request's status from the ledger's latest outcomes (the rule itself:
tests/vocabulary/test_status_rule.py), and its two writers: the request's own
answer and a later round of one system, in either order (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from ledger import ErasureRounds, Ledger, OutcomeEntry, RequestStatuses
from ledger.request_status import _lock_request
from ledger.tables import SystemOutcomeRecord
from lethe.keys import Keyring
from tests.conftest import make_ledger

from .test_store import NOW, open_request

LATER = NOW + timedelta(days=3)


async def first_pass(ledger: Ledger, request_id: str = "er-1") -> None:
    """crm failed, forum erased; the request is still open (erasing)."""
    await open_request(ledger, request_id)
    await ledger.set_status(request_id, "erasing", at=NOW, actor="operator:kim")
    await ledger.finish_system(request_id, "crm", 0, OutcomeEntry("failed", error="down"), at=NOW)
    await ledger.finish_system(request_id, "forum", 0, OutcomeEntry("erased"), at=NOW)


async def retried(ledger: Ledger, request_id: str = "er-1") -> str | None:
    """Round 1 of crm: erased, closed, the request's status settled after it."""
    rounds = ErasureRounds(ledger)
    await ledger.finish_system(request_id, "crm", 1, OutcomeEntry("erased"), at=LATER)
    await rounds.close_round(request_id, "crm", 1, at=LATER)
    return await rounds.set_status_after_round(
        request_id, at=LATER, actor="lethe", detail={"system": "crm", "round": 1}
    )


async def test_a_round_of_an_open_request_leaves_its_status_to_the_answer(ledger: Ledger) -> None:
    await first_pass(ledger)
    assert await retried(ledger) is None
    rec = await ledger.require_request("er-1")
    assert rec.status == "erasing" and rec.completed_at is None
    assert "status_after_round" not in [e.kind for e in await ledger.events("er-1")]
    # The answer comes later and reads the round's outcome, not the first pass's.
    status = await RequestStatuses(ledger).answer("er-1", at=LATER, actor="lethe")
    rec = await ledger.require_request("er-1")
    assert status == rec.status == "completed" and rec.completed_at == LATER
    event = (await ledger.events("er-1"))[-1]
    assert event.kind == "completed" and event.detail["latest"] == {
        "crm": "erased",
        "forum": "erased",
    }


async def test_a_round_after_the_answer_settles_it_again(ledger: Ledger) -> None:
    await first_pass(ledger)
    assert await RequestStatuses(ledger).answer("er-1", at=NOW, actor="lethe") == (
        "partially_failed"
    )
    assert await retried(ledger) == "completed"
    rec = await ledger.require_request("er-1")
    assert rec.status == "completed" and rec.completed_at == NOW  # answered when it was


async def test_a_refused_request_keeps_its_refusal(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.set_status("er-1", "rejected", at=NOW, actor="lethe", reason="not verified")
    await ledger.finish_system("er-1", "crm", 1, OutcomeEntry("erased"), at=LATER)
    assert await RequestStatuses(ledger).after_round("er-1", at=LATER, actor="x", detail={}) is None
    assert (await ledger.require_request("er-1")).status == "rejected"


async def test_the_answer_waits_for_a_round_that_holds_the_request(
    tmp_path: Path, keys: Keyring
) -> None:
    """The race itself, on PostgreSQL: a round's writer holds the request while it writes a
    newer outcome; the answer, started meanwhile, waits and then counts that outcome."""
    async with make_ledger("postgresql", tmp_path, keys) as ledger:
        await first_pass(ledger)
        async with ledger.session() as s, s.begin():
            await _lock_request(s, "er-1")
            holder = await s.scalar(sa.text("SELECT pg_backend_pid()"))
            answer = asyncio.create_task(
                RequestStatuses(ledger).answer("er-1", at=LATER, actor="lethe")
            )
            await _until_blocked_by(ledger, holder)
            s.add(
                SystemOutcomeRecord(
                    request_id="er-1",
                    system="crm",
                    round=1,
                    connector="sql",
                    connector_version="1",
                    outcome="erased",
                    attempts=1,
                    started_at=LATER,
                    finished_at=LATER,
                )
            )
        assert await answer == "completed"


async def _until_blocked_by(ledger: Ledger, holder: object) -> None:
    q = sa.text("SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))")
    for _ in range(500):
        async with ledger.engine.connect() as conn:
            if await conn.scalar(q, {"holder": holder}):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the answer never waited for the request's lock")
