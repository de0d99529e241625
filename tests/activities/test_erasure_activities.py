"""ErasureActivities against a real SQLite ledger, in Temporal's ActivityEnvironment."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import Alerter, ConsoleAlerts, ErasureActivities, SystemTask
from connectors import (
    REPLAYED_FROM_RECEIPT,
    BaseConnector,
    Capability,
    Erased,
    NotFound,
    NotSearched,
    Outcome,
    Pending,
    PermanentError,
    Residual,
    Retained,
    Subject,
    TransientError,
    receipt_of,
    replayed,
)
from ledger import ConnectorJournals, Ledger

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Scripted(BaseConnector):
    kind: ClassVar[str] = "scripted"
    version: ClassVar[str] = "7"
    capabilities = frozenset({Capability.ERASE, Capability.VERIFY})

    def __init__(self, behaviour: Any) -> None:
        super().__init__("crm", BaseConnector.Options())
        self.behaviour = behaviour
        self.calls = 0
        self.seen: list[Subject] = []

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        self.calls += 1
        self.seen.append(subject)
        result = self.behaviour(subject)
        if asyncio.iscoroutine(result):
            result = await result
        return result  # type: ignore[no-any-return]

    async def verify(self, subject: Subject) -> Residual:
        return Residual({"contacts.remaining": 1} if self.calls == 0 else {})


@pytest.fixture
async def opened(sqlite_ledger: Ledger) -> AsyncIterator[Ledger]:
    assert sqlite_ledger.vault is not None
    await sqlite_ledger.open_request(
        request_id="er-1",
        subject_ref="ps_1",
        jurisdiction="gdpr",
        verification_method="operator",
        channel="cli",
        systems=["crm"],
        workflow_id="erasure/er-1",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=sqlite_ledger.vault.seal("er-1", {"email": "ada@example.org", "name": "Ada Byron"}),
        actor="cli",
    )
    yield sqlite_ledger


async def test_erase_records_and_a_retry_replays(opened: Ledger) -> None:
    connector = Scripted(
        lambda s: Erased(counts={"contacts.deleted": 1}, evidence={"rows_changed": 1})
    )
    acts = ErasureActivities(opened, {"crm": connector})
    env = ActivityEnvironment()
    first = await env.run(acts.erase_in_system, SystemTask("er-1", "crm"))
    second = await env.run(acts.erase_in_system, SystemTask("er-1", "crm"))
    assert first.outcome == "erased" and first.verifiable and not first.replayed
    assert second.replayed and second.counts == {"contacts.deleted": 1}
    assert connector.calls == 1  # the second attempt never reached the system
    assert connector.seen[0].email == "ada@example.org"
    assert connector.seen[0].identifiers == {"name": "Ada Byron"}
    assert connector.seen[0].jurisdiction == "gdpr"  # the request's law, from the ledger
    [row] = await opened.outcomes("er-1")
    assert (row.outcome, row.connector, row.connector_version) == ("erased", "scripted", "7")


async def test_a_retry_after_a_refused_attempt_is_not_called_interrupted(opened: Ledger) -> None:
    # An earlier attempt began and recorded nothing (its connection was refused): nothing
    # changed, so the retry's answer is an ordinary one; attempts counts both.
    await opened.begin_system("er-1", "crm", 0, connector="scripted", connector_version="7", at=NOW)
    connector = Scripted(lambda s: Erased(counts={"contacts.deleted": 1}))
    acts = ErasureActivities(opened, {"crm": connector})
    out = await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    [row] = await opened.outcomes("er-1")
    assert out.outcome == "erased" and row.counts == {"contacts.deleted": 1}
    assert row.evidence == {} and row.attempts == 2


async def test_an_attempt_that_died_after_the_change_is_recorded_with_its_counts(
    opened: Ledger,
) -> None:
    # A worker died after the system committed, before the ledger heard: the connector
    # replays its receipt, and the record says what that attempt did, and that it died.
    await opened.begin_system("er-1", "crm", 0, connector="scripted", connector_version="7", at=NOW)
    replay = {"rows_changed": 3, REPLAYED_FROM_RECEIPT: True}
    connector = Scripted(lambda s: Erased(counts={"contacts.deleted": 3}, evidence=replay))
    acts = ErasureActivities(opened, {"crm": connector})
    out = await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    [row] = await opened.outcomes("er-1")
    assert out.outcome == "erased" and row.counts == {"contacts.deleted": 3}
    assert row.evidence == {**replay, "earlier_attempt_interrupted": True}
    assert row.attempts == 2


async def test_a_replay_of_an_erase_that_changed_nothing_is_not_an_interruption(
    opened: Ledger,
) -> None:
    connector = Scripted(lambda s: NotFound(evidence={REPLAYED_FROM_RECEIPT: True}))
    acts = ErasureActivities(opened, {"crm": connector})
    await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    [row] = await opened.outcomes("er-1")
    assert "earlier_attempt_interrupted" not in row.evidence


class Journaled(Scripted):
    """Keeps what it does in the receipt journal, as a connector without transactions does,
    and dies (if told to) after the change, before answering."""

    def __init__(self, die_after_change: bool = False) -> None:
        super().__init__(lambda s: NotFound())
        self.die_after_change = die_after_change
        self.keys: list[str] = []

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        self.keys.append(request_id)
        entry = await self.journal.get(request_id)
        if entry is not None:
            return replayed(entry["outcome"])
        outcome = Erased(
            counts={"contacts.deleted": 2}, evidence={"log": f"DELETE {subject.email}: 204"}
        )
        await self.journal.put(request_id, {"outcome": receipt_of(outcome)})
        if self.die_after_change:
            raise asyncio.CancelledError  # the worker is gone
        return outcome


async def test_the_ledger_keeps_the_journal_for_the_next_worker(opened: Ledger) -> None:
    first = Journaled(die_after_change=True)
    with pytest.raises(asyncio.CancelledError):
        await ActivityEnvironment().run(
            ErasureActivities(opened, {"crm": first}).erase_in_system, SystemTask("er-1", "crm")
        )
    # Another worker, another instance of the connector: the journal is in the ledger.
    second = Journaled()
    out = await ActivityEnvironment().run(
        ErasureActivities(opened, {"crm": second}).erase_in_system, SystemTask("er-1", "crm")
    )
    assert second.keys == first.keys == ["er-1"]
    assert out.outcome == "erased" and out.counts == {"contacts.deleted": 2}
    [row] = await opened.outcomes("er-1")
    assert row.evidence["earlier_attempt_interrupted"] is True
    # What the connector slipped into its entry was scrubbed before the ledger kept it.
    entry = await ConnectorJournals(opened).get("er-1", "crm", "er-1")
    assert entry is not None and "ada@example.org" not in repr(entry)
    assert "[redacted]" in repr(entry)


async def test_each_round_is_erased_with_its_own_key(opened: Ledger) -> None:
    connector = Journaled()
    acts = ErasureActivities(opened, {"crm": connector})
    env = ActivityEnvironment()
    await env.run(acts.erase_in_system, SystemTask("er-1", "crm", 0))
    later = await env.run(acts.erase_in_system, SystemTask("er-1", "crm", 2))
    assert connector.keys == ["er-1", "er-1/round-2"]
    # Round 2 looked again: it was not answered from round 0's journal entry.
    rows = {r.round: r for r in await opened.outcomes("er-1")}
    assert later.outcome == "erased" and "earlier_attempt_interrupted" not in rows[2].evidence


async def test_a_worker_without_the_system_fails_it_retryably_and_tells_once(
    opened: Ledger,
) -> None:
    """A rolling deploy: another worker (with the system) must get the retry, and the system
    must not be failed for it. From the third attempt: one event, one alert."""
    printed = ConsoleAlerts(lambda _text: None)
    acts = ErasureActivities(
        opened, {"forum": Scripted(lambda s: NotFound())}, alerter=Alerter(opened, [printed])
    )
    env = ActivityEnvironment()
    for attempt in (1, 2, 3, 4):
        env.info = dataclasses.replace(env.info, attempt=attempt)
        for call in (acts.erase_in_system, acts.verify_in_system):
            with pytest.raises(ApplicationError) as err:
                await env.run(call, SystemTask("er-1", "crm"))
            assert err.value.type == "SystemNotOnThisWorker" and not err.value.non_retryable
            assert "(it has: forum)" in err.value.message
    unserved = [e for e in await opened.events("er-1") if e.kind == "system_unserved"]
    assert [(e.detail["system"], e.detail["worker_has"]) for e in unserved] == [("crm", ["forum"])]
    assert [a.event for a in printed.printed] == ["system_unserved"]
    assert await opened.outcomes("er-1") == []  # nothing recorded for the system itself


async def test_permanent_errors_are_scrubbed_and_not_retried(opened: Ledger) -> None:
    def refuse(s: Subject) -> Outcome:
        raise PermanentError(f"crm rejected {s.email} (Ada Byron)")

    acts = ErasureActivities(opened, {"crm": Scripted(refuse)})
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    assert err.value.non_retryable and err.value.type == "PermanentError"
    assert "ada@example.org" not in err.value.message and "Byron" not in err.value.message


async def test_transient_errors_carry_retry_after(opened: Ledger) -> None:
    def slow_down(s: Subject) -> Outcome:
        raise TransientError("429 from crm", retry_after=timedelta(seconds=42))

    acts = ErasureActivities(opened, {"crm": Scripted(slow_down)})
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    assert not err.value.non_retryable and err.value.next_retry_delay == timedelta(seconds=42)


async def test_a_crashing_connector_is_retried_and_scrubbed(opened: Ledger) -> None:
    def crash(s: Subject) -> Outcome:
        raise KeyError(s.email)

    acts = ErasureActivities(opened, {"crm": Scripted(crash)})
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    assert err.value.type == "ConnectorCrashed" and not err.value.non_retryable
    assert "ada@example.org" not in err.value.message


async def test_long_calls_heartbeat(opened: Ledger) -> None:
    async def slow(s: Subject) -> Outcome:
        await asyncio.sleep(0.35)
        return Erased()

    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    acts = ErasureActivities(opened, {"crm": Scripted(slow)}, heartbeat_every=0.1)
    await env.run(acts.erase_in_system, SystemTask("er-1", "crm"))
    assert len(beats) >= 2


async def test_verify_records_the_residual(opened: Ledger) -> None:
    connector = Scripted(lambda s: Erased())
    acts = ErasureActivities(opened, {"crm": connector})
    env = ActivityEnvironment()
    await env.run(acts.erase_in_system, SystemTask("er-1", "crm"))
    check = await env.run(acts.verify_in_system, SystemTask("er-1", "crm"))
    [row] = await opened.outcomes("er-1")
    assert check.clean and row.residual == {} and row.verified_at is not None


class Ticketed(Scripted):
    """An asynchronous system: erase opens job-7, which finishes on the second status call."""

    capabilities = frozenset({Capability.ERASE, Capability.VERIFY, Capability.ASYNC})

    def __init__(self) -> None:
        super().__init__(lambda s: Pending(ticket="job-7", poll_after=timedelta(seconds=30)))
        self.asked: list[str | None] = []

    async def status(self, ticket: str) -> Outcome:
        self.asked.append(ticket)
        if ticket != "job-7":
            raise PermanentError(f"no such job {ticket!r}")
        if len(self.asked) < 2:
            return Pending(ticket=ticket)
        return Erased(counts={"contacts.deleted": 2}, evidence={"job_state": "done"})


async def test_polls_finish_a_pending_erase_and_keep_its_ticket(opened: Ledger) -> None:
    connector = Ticketed()
    acts = ErasureActivities(opened, {"crm": connector})
    env = ActivityEnvironment()
    task = SystemTask("er-1", "crm")
    first = await env.run(acts.erase_in_system, task)
    assert (first.outcome, first.ticket, first.poll_after_seconds) == ("pending", "job-7", 30)
    assert (await env.run(acts.poll_system, task)).outcome == "pending"
    done = await env.run(acts.poll_system, task)
    assert done.outcome == "erased" and done.counts == {"contacts.deleted": 2} and done.verifiable
    [row] = await opened.outcomes("er-1")
    # The job id is the evidence of how the system erased: it stays on the final record.
    assert row.outcome == "erased" and row.ticket == "job-7"
    assert row.evidence == {"job_state": "done"}

    # A poll retried after its outcome was recorded (the worker died before reporting it)
    # replays the record; it does not ask the system about a ticket again.
    again = await env.run(acts.poll_system, task)
    assert again.replayed and again.outcome == "erased" and again.counts == done.counts
    assert connector.asked == ["job-7", "job-7"]


async def test_identifiers_in_evidence_never_reach_the_ledger(opened: Ledger) -> None:
    # Evidence and notes go into receipts, and receipts into the proof log, which is never
    # erased: a connector that slips an identifier in must not make it permanent.
    def careless(s: Subject) -> Outcome:
        return Retained(
            legal_basis="backup-rotation",
            note="copy export-Ada Byron.json kept until rotation",
            retained_until=date(2026, 6, 1),
            retained_counts={"copies.retained": 1},
            evidence={
                "copies": [{"name": "export-ADA@example.org.json", "taken_on": "2026-02-01"}],
                "ada@example.org": {"found_by": "other@example.net", "rows": 2},
                "job": "j-17",
            },
        )

    acts = ErasureActivities(opened, {"crm": Scripted(careless)})
    out = await ActivityEnvironment().run(acts.erase_in_system, SystemTask("er-1", "crm"))
    [row] = await opened.outcomes("er-1")
    stored = repr((row.evidence, row.basis_note, out)).lower()
    for identifier in ("ada@example.org", "ada byron", "other@example.net"):
        assert identifier not in stored
    assert row.evidence["job"] == "j-17" and row.evidence["copies"][0]["taken_on"] == "2026-02-01"
    assert row.retained_counts == {"copies.retained": 1}


async def test_a_connector_that_names_the_subject_in_its_outcome_is_overruled(
    opened: Ledger,
) -> None:
    """Note and evidence are sealed into receipts that are never erased."""
    connector = Scripted(
        lambda s: Retained(
            legal_basis="contract",
            note=f"open invoices of {s.get('name')}",
            retained_until=date(2030, 1, 1),
            counts={"contacts.deleted": 1},
            evidence={"api_id": "x-17", "log": [f"DELETE /users/{s.email}: 204"]},
        )
    )
    await ActivityEnvironment().run(
        ErasureActivities(opened, {"crm": connector}).erase_in_system, SystemTask("er-1", "crm")
    )
    [row] = await opened.outcomes("er-1")
    assert row.basis_note == "open invoices of [redacted]"
    assert row.evidence == {"api_id": "x-17", "log": ["DELETE /users/[redacted]: 204"]}


async def test_evidence_loses_phone_numbers_as_operators_reasons_do(opened: Ledger) -> None:
    """The activity-side scrubber removes what ``lethe/free_text.py`` removes: anyone's
    phone number too, not only addresses and the person's identifiers."""
    connector = Scripted(
        lambda s: Erased(
            counts={"contacts.deleted": 1},
            evidence={"log": "DELETE contact (+44 20 7946 0958, ops: +1 555 010 0199): 204"},
        )
    )
    await ActivityEnvironment().run(
        ErasureActivities(opened, {"crm": connector}).erase_in_system, SystemTask("er-1", "crm")
    )
    [row] = await opened.outcomes("er-1")
    assert row.evidence == {"log": "DELETE contact ([phone redacted], ops: [phone redacted]): 204"}


async def test_a_system_not_searched_is_recorded_so_with_what_it_did_and_kept(
    opened: Ledger,
) -> None:
    """Never "not found": the ledger records ``not_searched`` and the kinds lacking; what the
    identifiers present erased is counted, and what they keep is an open exception."""
    kept = Retained(
        legal_basis="gdpr-17-3-b",
        note="invoices are kept 10 years",
        retained_until=date(2036, 1, 31),
        retained_counts={"invoices.retained": 2},
    )
    connector = Scripted(
        lambda s: NotSearched(
            missing=("customer_id",),
            counts={"contacts.deleted": 1},
            evidence={"not_searched": ["orders (no customer_id)"]},
            kept=kept,
        )
    )
    out = await ActivityEnvironment().run(
        ErasureActivities(opened, {"crm": connector}).erase_in_system, SystemTask("er-1", "crm")
    )
    assert out.outcome == "not_searched" and out.counts == {"contacts.deleted": 1}
    [row] = await opened.outcomes("er-1")
    assert row.outcome == "not_searched"
    assert row.evidence["missing_identifiers"] == ["customer_id"]
    assert row.retained_counts == {"invoices.retained": 2}
    assert (row.legal_basis, row.retained_until) == ("gdpr-17-3-b", date(2036, 1, 31))
    [exception] = await opened.exceptions("er-1")
    assert exception.state == "open" and exception.outcome_id == row.id
    assert [e.kind for e in await opened.events("er-1")][-1] == "system_not_searched"
