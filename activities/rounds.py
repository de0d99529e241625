"""Activities of the retention sweeper and of later rounds (retry, backup replay).

The sweep asks the ledger what is due *today* and what may be shredded; a round opens its
ledger row, and closes it by settling the exceptions of earlier rounds. Nothing here waits:
years of retention live in the ledger as dates, not in a workflow's history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity

from ledger import ErasureRounds, Ledger, VaultShredding

from .round_types import (
    DueQuery,
    DueRound,
    DueRounds,
    RoundClosed,
    RoundStatus,
    RoundTask,
    ShredQuery,
    ShredReport,
)
from .write_keys import activity_write_key

__all__ = ["RoundActivities"]

log = structlog.get_logger("lethe.activities")


def _now() -> datetime:
    return datetime.now(UTC)


class RoundActivities:
    """``shred_grace_days``: how long a finished request keeps its identifiers."""

    def __init__(self, ledger: Ledger, *, shred_grace_days: float = 30.0) -> None:
        self._ledger = ledger
        self._rounds = ErasureRounds(ledger)
        self._shredding = VaultShredding(ledger)
        self._grace = timedelta(days=shred_grace_days)

    @activity.defn(name="open_round")
    async def open_round(self, task: RoundTask) -> None:
        await self._rounds.open_round(
            request_id=task.request_id,
            system=task.system,
            round_=task.round,
            trigger=task.trigger,
            actor=task.actor,
            reason=task.reason,
            exception_id=task.exception_id,
            workflow_id=activity.info().workflow_id or "",
            at=_now(),
        )

    @activity.defn(name="close_round")
    async def close_round(self, task: RoundTask) -> RoundClosed:
        latest = await self._rounds.close_round(task.request_id, task.system, task.round, at=_now())
        return RoundClosed(latest)

    @activity.defn(name="record_round_status")
    async def record_round_status(self, status: RoundStatus) -> None:
        """The request's status after the round, computed from the ledger (``status.status``
        is not read); a request still open keeps its status until its own workflow answers."""
        await self._rounds.set_status_after_round(
            status.request_id,
            at=_now(),
            actor="lethe",
            detail={"system": status.system, "round": status.round, "trigger": status.trigger},
            write_key=activity_write_key(),
        )

    @activity.defn(name="find_due_rounds")
    async def find_due_rounds(self, query: DueQuery) -> DueRounds:
        as_of = datetime.fromisoformat(query.as_of)
        due = await self._rounds.due(as_of, limit=query.limit)
        log.info("sweep.due", count=len(due))
        return DueRounds(
            tuple(
                DueRound(d.request_id, d.system, d.round, d.trigger, d.reason, d.exception_id)
                for d in due
            )
        )

    @activity.defn(name="shred_expired")
    async def shred_expired(self, query: ShredQuery) -> ShredReport:
        """Destroy the vault keys of finished requests past the grace period."""
        as_of = datetime.fromisoformat(query.as_of)
        ready = await self._shredding.shreddable(
            finished_before=as_of - self._grace, on=as_of.date(), limit=query.limit
        )
        done = []
        days = self._grace.total_seconds() / 86400
        for request_id in ready:
            if await self._shredding.shred(
                request_id,
                at=_now(),
                actor="sweeper",
                reason=f"finished more than {days:g} days ago; nothing left needs the identifiers",
            ):
                done.append(request_id)
        if done:
            log.info("sweep.shredded", count=len(done))
        return ShredReport(tuple(done))
