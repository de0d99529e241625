"""The receipt journal a connector call writes to, inside Lethe: the ledger's.

The erase activity installs one for the length of each connector call
(``connectors._journal.using_journal``), bound to the request, the system and the round, so that a
connector without transactions keeps what it is about to change, and what it changed, where
the next worker finds it (``connectors._journal``, ``ledger.journal``). What an entry says is
scrubbed of the request's identifiers before it is written, as evidence is: a connector that
slips must not leave an address in the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors import Subject, redact
from ledger import ConnectorJournals

__all__ = ["LedgerReceiptJournal"]


def _scrubbed(value: Any, subject: Subject) -> Any:
    if isinstance(value, str):
        return redact(value, subject)
    if isinstance(value, Mapping):
        return {_scrubbed(k, subject): _scrubbed(v, subject) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, subject) for v in value]
    return value


class LedgerReceiptJournal:
    """One system's journal entries of one request (``connectors.ReceiptJournal``)."""

    def __init__(
        self,
        journals: ConnectorJournals,
        request_id: str,
        system: str,
        round_: int,
        subject: Subject,
    ) -> None:
        self._journals = journals
        self._request_id = request_id
        self._system = system
        self._round = round_
        self._subject = subject

    async def get(self, key: str) -> dict[str, Any] | None:
        return await self._journals.get(self._request_id, self._system, key)

    async def put(self, key: str, entry: Mapping[str, Any]) -> None:
        clean = _scrubbed(dict(entry), self._subject)
        await self._journals.put(
            self._request_id, self._system, self._round, key, clean, at=datetime.now(UTC)
        )
