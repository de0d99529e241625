"""A request's status, from each system's latest outcome, as the ledger applies it.

    RequestStatuses    applies the rule (``vocabulary.request_status``: failed or not searched
                       everywhere ⇒ failed; anywhere ⇒ partially_failed; kept, referred or
                       not settled anywhere ⇒ completed_with_exceptions; else completed) to
                       the outcomes the ledger holds (the latest round of each system wins),
                       never to a caller's view of them

Two writers meet here. The request's own workflow answers the request when its fan-out ends;
a later round of one system (``lethe retry``, ``lethe backups replay``, the sweeper) may end
before or after that, even while another system still waits for a controller. Each writer
locks the request's row first and reads the outcomes after, in the same transaction, so
whichever of the two comes last sees both: the request's answer cannot lose a round's newer
outcome, and a round that ends while the request is still open leaves its status alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from vocabulary import REFUSALS, request_status

from .claims import release_claim
from .store import Ledger, LedgerError
from .tables import ErasureRequestRecord, RequestEvent, SystemOutcomeRecord
from .write_keys import lock_request, prior_event, replaying, written_once

__all__ = ["RequestStatuses"]


async def _lock_request(s: AsyncSession, request_id: str) -> ErasureRequestRecord:
    """Make this transaction the only status writer of the request until it ends, and read
    the request as the lock found it (``lock_request``: no read below comes from a snapshot
    older than the other writer's commit)."""
    await lock_request(s, request_id)
    req = await s.get(ErasureRequestRecord, request_id, populate_existing=True)
    if req is None:
        raise LedgerError(f"no erasure request with id {request_id!r}")
    return req


async def _latest(s: AsyncSession, request_id: str) -> dict[str, str]:
    """Each system's outcome in its latest round."""
    rows = await s.execute(
        sa.select(SystemOutcomeRecord.system, SystemOutcomeRecord.outcome)
        .where(SystemOutcomeRecord.request_id == request_id)
        .order_by(SystemOutcomeRecord.round)
    )
    return {system: outcome for system, outcome in rows}


class RequestStatuses:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def answer(
        self,
        request_id: str,
        *,
        at: datetime,
        actor: str,
        detail: dict[str, Any] | None = None,
    ) -> str:
        """The request's fan-out is over: its final status, from the ledger's latest outcomes.

        Sets ``completed_at``, appends the event (keyed ``answer``: ``ledger.write_keys``) and
        releases the person's claim (``ledger.claims``). Returns the status written. A
        request is answered once: a repeated call (a retried activity) changes nothing and
        returns the status the first call wrote.
        """

        async def attempt(look: bool) -> str:
            async with self._ledger.session() as s, s.begin():
                req = await _lock_request(s, request_id)
                first = await prior_event(s, request_id, "answer") if look else None
                if first is not None:
                    return first.kind
                latest = await _latest(s, request_id)
                status = request_status(latest.values())
                req.status = status
                req.status_reason = None
                if req.completed_at is None:
                    req.completed_at = at
                await release_claim(s, request_id, req.subject_ref)
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind=status,
                        actor=actor,
                        detail={**(detail or {}), "latest": latest},
                        write_key="answer",
                    )
                )
            return status

        return await written_once(attempt)

    async def after_round(
        self,
        request_id: str,
        *,
        at: datetime,
        actor: str,
        detail: dict[str, Any],
        write_key: str | None = None,
    ) -> str | None:
        """A later round has closed: the answered request's status, from its latest outcomes.

        A request still open (its own workflow has not answered it) keeps its status: the
        round's outcome is in the ledger, and the request's answer will read it. A request
        refused (rejected, cancelled) keeps its refusal. Returns the status written, or None.
        ``completed_at`` keeps the first answer's time: a round does not move it.
        ``write_key``: the writer's (``ledger.write_keys``); a repeat changes nothing and
        returns the status the first write recorded.
        """

        async def attempt() -> str | None:
            async with self._ledger.session() as s, s.begin():
                req = await _lock_request(s, request_id)
                first = await prior_event(s, request_id, write_key)
                if first is not None:
                    return str(first.detail.get("status"))
                if req.completed_at is None or req.status in REFUSALS:
                    return None
                previous = req.status
                status = request_status((await _latest(s, request_id)).values())
                req.status = status
                req.status_reason = None
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind="status_after_round",
                        actor=actor,
                        detail={**detail, "status": status, "previous": previous},
                        write_key=write_key,
                    )
                )
            return status

        return await replaying(attempt)
