"""What the ledger says about the work in hand, as numbers for a metrics scraper: requests by
status, overdue and due soon, systems failed on open requests, the proof log's size and how far
sealing lags. Labels are statuses and nothing else: no request id, no identifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vocabulary import OPEN_STATUSES, OutcomeKind, RequestStatus

from .tables import ErasureRequestRecord, ProofLeaf, RequestEvent, SystemOutcomeRecord

__all__ = ["LedgerGauges", "read_gauges"]


@dataclass(frozen=True)
class LedgerGauges:
    requests_by_status: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    due_within_7_days: int = 0
    systems_failed: int = 0  # failed outcomes on requests still open
    proof_log_leaves: int = 0
    unsealed_events: int = 0
    oldest_unsealed_seconds: float = 0.0
    verified: int = 0  # requests whose identity was verified (``verified`` events)


async def read_gauges(engine: AsyncEngine, now: datetime) -> LedgerGauges:
    r, o, e = ErasureRequestRecord, SystemOutcomeRecord, RequestEvent
    open_ = r.status.in_([str(s) for s in OPEN_STATUSES])
    async with engine.connect() as conn:
        by_status = {
            str(status): int(n)
            for status, n in await conn.execute(
                sa.select(r.status, sa.func.count()).group_by(r.status)
            )
        }
        overdue = await conn.scalar(sa.select(sa.func.count()).where(open_, r.due_at < now))
        soon = await conn.scalar(
            sa.select(sa.func.count()).where(
                open_, r.due_at >= now, r.due_at < now + timedelta(days=7)
            )
        )
        failed = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(o)
            .join(r, r.request_id == o.request_id)
            .where(open_, o.outcome == OutcomeKind.FAILED)
        )
        leaves = await conn.scalar(sa.select(sa.func.count()).select_from(ProofLeaf))
        unsealed, oldest = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.min(e.at)).where(e.seal_salt.is_(None))
            )
        ).one()
        verified = await conn.scalar(sa.select(sa.func.count()).where(e.kind == "verified"))
    for status in RequestStatus:
        by_status.setdefault(str(status), 0)
    lag = 0.0
    if oldest is not None:
        oldest_at = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
        if oldest_at.tzinfo is None:
            oldest_at = oldest_at.replace(tzinfo=now.tzinfo)
        lag = max(0.0, (now - oldest_at).total_seconds())
    return LedgerGauges(
        requests_by_status=by_status,
        overdue=int(overdue or 0),
        due_within_7_days=int(soon or 0),
        systems_failed=int(failed or 0),
        proof_log_leaves=int(leaves or 0),
        unsealed_events=int(unsealed or 0),
        oldest_unsealed_seconds=lag,
        verified=int(verified or 0),
    )
