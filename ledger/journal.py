"""The connectors' receipt journal, kept in the ledger (``connectors._journal``).

A connector whose system has no transaction (an HTTP API) cannot keep its receipt with the
change; it keeps it here instead: before it changes anything, what it is about to change; after,
what it did. A worker that dies in between leaves the entry behind for the next attempt, which
finishes the work and reports all of it, instead of "nothing left".

    connector_journal   one row per request, system and key (the erase's idempotency key, or
                        any key the connector chose): the connector's entry, plain JSON, and
                        when it was last written

An entry holds what evidence holds (ids of the system's records, counts), never an
identifier: the activity scrubs the request's identifiers out of it before it is written, as it
does from evidence. It is bookkeeping, not proof: the outcome the ledger records, and seals, is
what the connector answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .store import Ledger
from .tables import ConnectorJournalEntry
from .write_keys import replaying

__all__ = ["ConnectorJournals"]


class ConnectorJournals:
    """Read and write journal entries; one short transaction a call."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @staticmethod
    def _where(request_id: str, system: str, key: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            ConnectorJournalEntry.request_id == request_id,
            ConnectorJournalEntry.system == system,
            ConnectorJournalEntry.key == key,
        )

    async def get(self, request_id: str, system: str, key: str) -> dict[str, Any] | None:
        async with self._ledger.session() as s:
            q = sa.select(ConnectorJournalEntry.entry).where(self._where(request_id, system, key))
            found = (await s.execute(q)).scalar_one_or_none()
        return dict(found) if found is not None else None

    async def put(
        self,
        request_id: str,
        system: str,
        round_: int,
        key: str,
        entry: Mapping[str, Any],
        *,
        at: datetime,
    ) -> None:
        """Store ``entry`` under the key, replacing what was there; committed on return."""
        if len(key) > 200:
            raise ValueError("a journal key is at most 200 characters")

        async def attempt() -> None:
            async with self._ledger.session() as s, s.begin():
                q = sa.select(ConnectorJournalEntry).where(self._where(request_id, system, key))
                row = (await s.scalars(q.with_for_update())).one_or_none()
                if row is None:
                    s.add(
                        ConnectorJournalEntry(
                            request_id=request_id,
                            system=system,
                            round=round_,
                            key=key,
                            entry=dict(entry),
                            written_at=at,
                        )
                    )
                else:
                    row.entry, row.written_at = dict(entry), at

        # Two attempts racing to write the first entry: the loser writes over the winner's.
        await replaying(attempt)
