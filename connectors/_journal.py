"""The receipt journal: where a connector keeps its receipt when the system cannot keep it.

A database keeps a connector's receipt in the same transaction as the change (``sql``), Redis
in the same ``MULTI`` (``redis``). An HTTP API has no transaction to put one in: delete ten
contacts, and a worker that dies after the fourth leaves nothing in the system that says so.
Such a connector writes its receipt to the journal instead, in two steps::

    entry = await self.journal.get(key)          # key: the erase's idempotency key
    if entry and "outcome" in entry:
        return replayed(entry["outcome"])        # done before: say what it did
    ...find, count, guard...
    await self.journal.put(key, {"deleting": ids})       # before the first change
    ...delete each id (one already gone is one an earlier attempt deleted)...
    await self.journal.put(key, {"deleting": ids, "outcome": receipt_of(outcome)})
    return outcome

so that a repeat either replays the outcome, or finds what an interrupted attempt set out to
do and finishes it, counting what that attempt did too. The example HTTP connector
(``docs/examples/lethe-connector-acme``) does exactly this.

Which journal a call writes to:

* inside Lethe, the ledger's: each erase (and ``status``) call runs with a journal of its
  request and system, kept in the ledger's ``connector_journal`` table, which outlives any
  worker (``activities.erasure``);
* under the conformance kit, one :class:`MemoryJournal` per test, shared by every instance of
  the connector the test builds (two instances are two workers);
* anywhere else (a script calling ``erase`` itself), a :class:`MemoryJournal` of the
  connector instance: a repeat on the same instance replays, nothing survives the process.

``BaseConnector.journal`` gives the journal in force; a connector that does not subclass it
calls :func:`current_journal`. Entries are plain JSON (strings, numbers, booleans, lists,
dicts) and, like evidence, never hold an identifier: what an entry names is kept after the
request is sealed. The journal is one system's: keys need not name the system.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

__all__ = ["MemoryJournal", "ReceiptJournal", "current_journal", "using_journal"]


@runtime_checkable
class ReceiptJournal(Protocol):
    """One system's receipts, by idempotency key. ``put`` is durable when it returns."""

    async def get(self, key: str) -> dict[str, Any] | None:
        """The entry last put under ``key``, or None."""
        ...

    async def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store ``entry`` (plain JSON) under ``key``, replacing what was there."""
        ...


def plain_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` as JSON reads it back; ``ValueError`` if it is not plain JSON."""
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(entry), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a journal entry must be plain JSON: {exc}") from None
    return plain


class MemoryJournal:
    """A journal in memory: the kit's (one a test), and a connector's own outside Lethe."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        return plain_entry(entry) if entry is not None else None

    async def put(self, key: str, entry: Mapping[str, Any]) -> None:
        self.entries[key] = plain_entry(entry)


_CURRENT: ContextVar[ReceiptJournal | None] = ContextVar("lethe_receipt_journal", default=None)


def current_journal() -> ReceiptJournal | None:
    """The journal installed for the call running now (Lethe's, the kit's), or None."""
    return _CURRENT.get()


@contextmanager
def using_journal(journal: ReceiptJournal) -> Iterator[ReceiptJournal]:
    """Run the block (and the tasks it starts) with ``journal`` as the one in force."""
    token = _CURRENT.set(journal)
    try:
        yield journal
    finally:
        _CURRENT.reset(token)
