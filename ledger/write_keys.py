"""Write keys: a ledger write that is repeated (a retried activity) appends nothing twice.

An activity can commit its ledger write and die before Temporal hears that it finished; its
retry then writes again. So each event a write appends carries a ``write_key``, unique per
request (``uq_request_events_write_key``), of one of two kinds:

    what the event is   an event that happens once for its request, or once per system and
                        round, or per deadline, is keyed by what it is: ``answer``,
                        ``acknowledged``, ``outcome/crm/0``, ``deadline_reminder/<due>``, ...
                        The ledger method derives it, so every caller gets it.
    who wrote it        an event that may rightly happen again (a code check, a status change,
                        a poll that finds the system still pending) carries the key of the
                        write that made it, given by the caller: for an activity, its workflow
                        id, run id and activity id (``activities.write_key``), the same on
                        every attempt of one activity, different for the next activity.

A keyed write locks the request's row first, then looks for its key. Found, it changes
nothing and answers what the first write answered (from the event that write left); not
found, it writes. Two attempts that race past the look (a timed-out attempt still running
beside its retry) meet the unique constraint: the loser's transaction rolls back whole, and
:func:`replaying` runs it once more, to find the winner's event. A NULL key (a write that is
never repeated: an operator's command) is never compared.

A write whose only early way out is that look (its event is appended whenever the look finds
nothing) may leave the look to the constraint: :func:`written_once` runs it first without
the look (most writes are not repeats: one query fewer), and only if the constraint refuses
the event (a repeat, or a race) runs it again, looking, to answer what the first write did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .locks import lock_row
from .tables import ErasureRequestRecord, RequestEvent

__all__ = ["lock_request", "prior_event", "replaying", "sub_key", "written_once"]

T = TypeVar("T")


async def lock_request(s: AsyncSession, request_id: str) -> None:
    """Make this transaction the request's only keyed writer until it ends (``lock_row``:
    before anything is read, so the look for a key never reads a snapshot older than the
    other writer's commit). Take it before any other row's lock (one order, no deadlock).
    """
    await lock_row(
        s, ErasureRequestRecord.request_id == request_id, touch=ErasureRequestRecord.status
    )


async def prior_event(s: AsyncSession, request_id: str, key: str | None) -> RequestEvent | None:
    """The event an earlier write with ``key`` left, if any (never for a NULL key)."""
    if key is None:
        return None
    q = sa.select(RequestEvent).where(
        RequestEvent.request_id == request_id, RequestEvent.write_key == key
    )
    return (await s.scalars(q.limit(1))).first()


async def replaying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` (one whole transaction); if it lost a race on a unique key, run it
    once more: it then finds the winner's row and answers from it. Any other integrity
    error comes back the second time too, and is raised."""
    try:
        return await attempt()
    except IntegrityError:
        return await attempt()


async def written_once(attempt: Callable[[bool], Awaitable[T]]) -> T:
    """Run ``attempt(look=False)`` (one whole transaction that skips :func:`prior_event`);
    if the unique key refused it, ``attempt(look=True)``: it rolled back whole, and this
    attempt finds the earlier write's event and answers from it. Only for a write that
    appends its keyed event whenever the look finds none: the constraint then says what
    the look would have. Any other integrity error comes back the second time, and is
    raised."""
    try:
        return await attempt(False)
    except IntegrityError:
        return await attempt(True)


def sub_key(key: str | None, part: str) -> str | None:
    """The key of one of several events a keyed write appends (None stays None)."""
    return f"{key}/{part}" if key is not None else None
