"""An in-memory system and connectors for it, to test the conformance kit itself.

``MemoryConnector`` is correct; the subclasses each break one rule, and the kit must catch
each. ``AsyncMemoryConnector`` answers ``Pending`` and finishes through ``status``. The
memory system has no transactions: the connectors keep their receipts in the receipt journal
(``connectors._journal``), as the example HTTP connector does.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from connectors import (
    BaseConnector,
    Capability,
    ConnectorOptions,
    Erased,
    IdentifierMatch,
    NotFound,
    NotSearched,
    Outcome,
    Pending,
    Plan,
    ReceiptJournal,
    Residual,
    Subject,
    guard_blast_radius,
    receipt_of,
    replayed,
)
from connectors._journal import MemoryJournal

#: Systems by name: record key -> (email, username, text).
SYSTEMS: dict[str, dict[Any, tuple[str, str, str]]] = {}
_tickets = itertools.count(1)


class MemoryOptions(ConnectorOptions):
    system: str


class MemoryConnector(BaseConnector[MemoryOptions]):
    kind: ClassVar[str] = "memory"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    @property
    def data(self) -> dict[Any, tuple[str, str, str]]:
        return SYSTEMS[self.options.system]

    def matches(self, record: tuple[str, str, str], subject: Subject) -> bool:
        email = IdentifierMatch.of("email", subject.email)
        return email is not None and email.equals(record[0])

    def _mine(self, subject: Subject) -> list[Any]:
        return [k for k, r in self.data.items() if self.matches(r, subject)]

    def _lookalikes(self, subject: Subject) -> int:
        email = IdentifierMatch.of("email", subject.email)
        return sum(1 for r in self.data.values() if email is not None and email.looks_like(r[0]))

    async def plan(self, subject: Subject) -> Plan:
        mine = self._mine(subject)
        counts = {"records.deleted": len(mine)} if mine else {}
        return Plan(counts=counts, limit=self.options.max_items)

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        entry = await self.journal.get(request_id)
        if entry is not None:
            return replayed(entry["outcome"])
        mine = self._mine(subject)
        if not mine:
            return NotFound()
        guard_blast_radius(len(mine), self.options, where=self.name)
        # No await between the deletes: nothing can interrupt them, so the receipt can follow.
        for key in mine:
            del self.data[key]
        outcome = Erased(counts={"records.deleted": len(mine)})
        await self.journal.put(request_id, {"outcome": receipt_of(outcome)})
        return outcome

    async def verify(self, subject: Subject) -> Residual:
        mine = self._mine(subject)
        remaining = {"records.remaining": len(mine)} if mine else {}
        if alike := self._lookalikes(subject):
            remaining["records.lookalike"] = alike
        return Residual(remaining=remaining)


class SubstringConnector(MemoryConnector):
    """Broken: matches addresses that merely contain the subject's."""

    def matches(self, record: tuple[str, str, str], subject: Subject) -> bool:
        return bool(subject.email.strip()) and subject.email.lower() in record[0].lower()


class LowerCaseConnector(MemoryConnector):
    """Broken: compares addresses by ``str.lower()``, which folds more than A-Z (``ÁDÁ`` is
    ``ádá`` to it, the KELVIN SIGN is ``k``)."""

    def matches(self, record: tuple[str, str, str], subject: Subject) -> bool:
        email = subject.email.strip().lower()
        return bool(email) and record[0].lower() == email


class TrimmingConnector(MemoryConnector):
    """Broken: trims stored values, so it erases look-alikes instead of reporting them."""

    def matches(self, record: tuple[str, str, str], subject: Subject) -> bool:
        email = IdentifierMatch.of("email", subject.email)
        return email is not None and email.equals(record[0].strip())


class SilentConnector(MemoryConnector):
    """Broken: its verify says nothing of look-alikes left behind."""

    def _lookalikes(self, subject: Subject) -> int:
        return 0


class UnguardedConnector(MemoryConnector):
    """Broken: ignores max_items."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        mine = self._mine(subject)
        for key in mine:
            del self.data[key]
        return Erased(counts={"records.deleted": len(mine)}) if mine else NotFound()


class StatelessConnector(MemoryConnector):
    """Broken: keeps no receipt; a repeat reports what is left (nothing), not what it did."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        mine = self._mine(subject)
        if not mine:
            return NotFound()
        guard_blast_radius(len(mine), self.options, where=self.name)
        for key in mine:
            del self.data[key]
        return Erased(counts={"records.deleted": len(mine)})


class ForgetfulConnector(StatelessConnector):
    """Broken: a repeat claims to have erased again."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        outcome = await super().erase(subject, request_id)
        return Erased(counts={"records.deleted": 1}) if isinstance(outcome, NotFound) else outcome


class InstanceReceiptsConnector(MemoryConnector):
    """Broken: keeps its receipts in the connector object, so another worker has none."""

    def __init__(self, name: str, options: MemoryOptions) -> None:
        super().__init__(name, options)
        self.receipts = MemoryJournal()

    @property
    def journal(self) -> ReceiptJournal:
        return self.receipts


class UnmarkedReplayConnector(MemoryConnector):
    """Broken: replays the counts but does not say it replayed them."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        outcome = await super().erase(subject, request_id)
        if isinstance(outcome, Erased):
            return Erased(counts=outcome.counts)
        return outcome


class RoundBlindConnector(MemoryConnector):
    """Broken: keys its receipts by the request id alone, so a later round is replayed."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        return await super().erase(subject, request_id.split("/round-")[0])


class OverPlanningConnector(MemoryConnector):
    """Broken: the dry run counts one record too many."""

    async def plan(self, subject: Subject) -> Plan:
        plan = await super().plan(subject)
        return Plan(counts={k: v + 1 for k, v in plan.counts.items()}, limit=plan.limit)


class FirstPageConnector(MemoryConnector):
    """Broken: searches like an HTTP API (substring, pages of 20) and reads the first page only."""

    def _mine(self, subject: Subject) -> list[Any]:
        email = subject.email.strip()
        hits = sorted(k for k, r in self.data.items() if email and email in r[0].lower())
        return [k for k in hits[:20] if self.matches(self.data[k], subject)]


class EraseOnlyConnector(MemoryConnector):
    """Correct, but claims nothing beyond erase: the kit must skip verify and plan tests."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE})


class AsyncMemoryConnector(MemoryConnector):
    """Correct and asynchronous: the work happens when the ticket is polled the second time."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN, Capability.ASYNC}
    )
    jobs: ClassVar[dict[str, dict[str, Any]]] = {}

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        for ticket, job in self.jobs.items():
            if job["request_id"] == request_id and job["system"] is self.data:
                if job["outcome"] is not None:  # finished: what it did, replayed
                    return replayed(receipt_of(job["outcome"]))
                return Pending(ticket=ticket)
        mine = self._mine(subject)
        if not mine:
            return NotFound()
        guard_blast_radius(len(mine), self.options, where=self.name)
        ticket = f"job-{next(_tickets)}"
        self.jobs[ticket] = {
            "request_id": request_id,
            "system": self.data,
            "keys": mine,
            "polls": 0,
            "outcome": None,
        }
        return Pending(ticket=ticket)

    async def status(self, ticket: str) -> Outcome:
        job = self.jobs[ticket]
        if job["outcome"] is not None:
            return job["outcome"]  # type: ignore[no-any-return]
        job["polls"] += 1
        if job["polls"] < 2:
            return Pending(ticket=ticket)
        for key in job["keys"]:
            self.data.pop(key, None)
        job["outcome"] = Erased(counts={"records.deleted": len(job["keys"])})
        return job["outcome"]  # type: ignore[no-any-return]


class InstanceJobsConnector(AsyncMemoryConnector):
    """Broken: keeps its jobs in the instance, so another worker cannot poll the ticket."""

    def __init__(self, name: str, options: MemoryOptions) -> None:
        super().__init__(name, options)
        self.jobs = {}  # type: ignore[misc]


class UsernameMemoryConnector(MemoryConnector):
    """Correct: finds records by address or by user name. Without a user name it erases what
    the address finds and says what it could not look for."""

    def matches(self, record: tuple[str, str, str], subject: Subject) -> bool:
        username = (subject.get("username") or "").strip()
        return super().matches(record, subject) or (bool(username) and record[1] == username)

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        outcome = await super().erase(subject, request_id)
        if (subject.get("username") or "").strip():
            return outcome
        return NotSearched(
            missing=("username",),
            counts=dict(getattr(outcome, "counts", {})),
            evidence=dict(outcome.evidence),
        )


class SilentUsernameConnector(UsernameMemoryConnector):
    """Broken: without a user name, answers as if it had looked everywhere."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        return await MemoryConnector.erase(self, subject, request_id)
