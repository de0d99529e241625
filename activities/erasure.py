"""Activities that talk to the systems holding personal data.

Each call reads the subject's identifiers from the vault, calls the system's connector while
heartbeating, and writes the outcome to the ledger before returning, so that a crash between
the connector call and the ledger write is the only window in which work can be repeated.
A retried call first asks the ledger whether the system already finished, and replays that.

In that window only the connector knows what was done. It is called with the erase's
idempotency key (``connectors.erase_key``: the request id in round 0, ``…/round-N`` after)
and with the ledger's receipt journal installed for the call (``activities.receipt_journal``),
and it answers a repeat from the receipt it kept with the change, marked
``replayed_from_receipt``. Only then is ``earlier_attempt_interrupted`` recorded: an earlier
attempt changed the system and died (or failed) before the ledger heard. A retry after a
refused connection, which changed nothing, is an ordinary retry (``attempts`` counts it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors import (
    REPLAYED_FROM_RECEIPT,
    Capability,
    Connector,
    Erased,
    NotFound,
    NotSearched,
    Outcome,
    Pending,
    PermanentError,
    Referred,
    Retained,
    Subject,
    TransientError,
    erase_key,
    redact,
)
from connectors._journal import using_journal
from ledger import (
    MISSING_IDENTIFIERS,
    ConnectorJournals,
    Ledger,
    LedgerError,
    OutcomeEntry,
    SystemOutcomeRecord,
)
from vocabulary import AlertEvent, OutcomeKind

from .alerts import Alerter
from .receipt_journal import LedgerReceiptJournal
from .types import ProcessorOverdue, SystemOutcome, SystemTask, Verification
from .write_keys import activity_write_key

__all__ = [
    "SYSTEM_NOT_ON_THIS_WORKER",
    "UNSERVED_ALERT_AFTER",
    "ErasureActivities",
    "entry_from_outcome",
    "outcome_from_record",
    "replayed_a_change",
    "scrub_entry",
]

log = structlog.get_logger("lethe.activities")
T = TypeVar("T")

#: The error type of a task that reached a worker without the system (retryable).
SYSTEM_NOT_ON_THIS_WORKER = "SystemNotOnThisWorker"
#: From this attempt on, a system no worker with it takes is recorded and alerted (once).
UNSERVED_ALERT_AFTER = 3


def _now() -> datetime:
    return datetime.now(UTC)


def replayed_a_change(outcome: Outcome) -> bool:
    """True when the connector answered from the receipt of an earlier attempt that changed
    the system: that attempt was interrupted after the change, before the ledger heard."""
    if outcome.evidence.get(REPLAYED_FROM_RECEIPT) is not True:
        return False
    counts = getattr(outcome, "counts", {})
    return any(int(v) for v in counts.values())


def entry_from_outcome(outcome: Outcome, *, interrupted_before: bool = False) -> OutcomeEntry:
    """A connector's outcome value, in the ledger's terms. ``interrupted_before``: an earlier
    attempt changed the system and died before recording it (:func:`replayed_a_change`)."""
    evidence: dict[str, Any] = dict(outcome.evidence)
    if interrupted_before:
        evidence["earlier_attempt_interrupted"] = True
    match outcome:
        case Erased():
            return OutcomeEntry(OutcomeKind.ERASED, counts=dict(outcome.counts), evidence=evidence)
        case NotFound():
            return OutcomeEntry(OutcomeKind.NOT_FOUND, evidence=evidence)
        case Retained():
            return OutcomeEntry(
                OutcomeKind.RETAINED,
                counts=dict(outcome.counts),
                retained_counts=dict(outcome.retained_counts),
                evidence=evidence,
                legal_basis=outcome.legal_basis,
                basis_note=outcome.note,
                retained_until=outcome.retained_until,
                review_on=outcome.review_on,
            )
        case Pending():
            evidence["poll_after_seconds"] = outcome.poll_after.total_seconds()
            return OutcomeEntry(OutcomeKind.PENDING, evidence=evidence, ticket=outcome.ticket)
        case Referred():
            return OutcomeEntry(
                OutcomeKind.REFERRED, evidence=evidence, controller=outcome.controller
            )
        case NotSearched():
            # Not "not found": part of the system was not looked at. What the identifiers
            # present found is recorded as erased (and kept, with its basis, if ``kept``).
            evidence[MISSING_IDENTIFIERS] = list(outcome.missing)
            kept = outcome.kept
            return OutcomeEntry(
                OutcomeKind.NOT_SEARCHED,
                counts=dict(outcome.counts),
                retained_counts=dict(kept.retained_counts) if kept else {},
                evidence=evidence,
                legal_basis=kept.legal_basis if kept else None,
                basis_note=kept.note if kept else None,
                retained_until=kept.retained_until if kept else None,
                review_on=kept.review_on if kept else None,
            )
    raise PermanentError(f"connector returned {type(outcome).__name__}, which is not an outcome")


def scrub_entry(entry: OutcomeEntry, subject: Subject) -> OutcomeEntry:
    """``entry`` with the subject's identifiers (and anything shaped like an address) taken out
    of its evidence and note: receipts carry both into the proof log, which is never erased.

    Connectors must not put identifiers there (the conformance kit checks); this is the
    second line, for the connector that slips.
    """

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, subject)
        if isinstance(value, Mapping):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        return value

    note = entry.basis_note
    return replace(
        entry,
        evidence=scrub(entry.evidence),
        basis_note=redact(note, subject) if note is not None else None,
    )


def outcome_from_record(
    rec: SystemOutcomeRecord, *, verifiable: bool = False, replayed: bool = False
) -> SystemOutcome:
    pending = rec.outcome == OutcomeKind.PENDING
    poll = rec.evidence.get("poll_after_seconds") if pending else None
    answer_by = rec.evidence.get("expected_completion_time") if pending else None
    return SystemOutcome(
        system=rec.system,
        outcome=rec.outcome,
        counts=dict(rec.counts),
        retained_counts=dict(rec.retained_counts),
        legal_basis=rec.legal_basis,
        retained_until=rec.retained_until.isoformat() if rec.retained_until else None,
        review_on=rec.review_on.isoformat() if rec.review_on else None,
        note=rec.basis_note,
        ticket=rec.ticket,
        poll_after_seconds=float(poll) if poll is not None else None,
        answer_by=answer_by if isinstance(answer_by, str) else None,
        controller=rec.controller,
        error=rec.error,
        verifiable=verifiable,
        replayed=replayed,
    )


class ErasureActivities:
    """Erase and verify, one system at a time. Dependencies come in through ``__init__``."""

    def __init__(
        self,
        ledger: Ledger,
        systems: Mapping[str, Connector],
        *,
        heartbeat_every: float = 5.0,
        alerter: Alerter | None = None,
    ) -> None:
        self._ledger = ledger
        self._systems = dict(systems)
        self._heartbeat_every = heartbeat_every
        self._alerter = alerter
        self._journals = ConnectorJournals(ledger)

    def _journal(self, task: SystemTask, subject: Subject) -> LedgerReceiptJournal:
        """The receipt journal of this request's system and round, for one connector call."""
        return LedgerReceiptJournal(
            self._journals, task.request_id, task.system, task.round, subject
        )

    async def _connector(self, task: SystemTask) -> Connector:
        """The system's connector, or a retryable failure for another worker to take.

        In a rolling deploy old and new workers share the task queue, and one may lack a
        system the other has: that is not the system failing. The activity fails retryably
        (``SystemNotOnThisWorker``), so Temporal hands the retry to whichever worker polls
        next, and the workflow waits and asks again once the retries are spent (it never
        records a failure for it). From the third attempt on, the ledger gets one
        ``system_unserved`` event per system and round, and the operators one alert.
        """
        connector = self._systems.get(task.system)
        if connector is not None:
            return connector
        has = sorted(self._systems)
        attempt = activity.info().attempt
        log.warning(
            "system.not_on_this_worker",
            request_id=task.request_id,
            system=task.system,
            attempt=attempt,
            has=has,
        )
        if attempt >= UNSERVED_ALERT_AFTER:
            await self._unserved(task, has)
        raise ApplicationError(
            f"system {task.system!r} is not configured on this worker (it has:"
            f" {', '.join(has) or 'none'}); waiting for a worker that has it",
            type=SYSTEM_NOT_ON_THIS_WORKER,
        )

    async def _unserved(self, task: SystemTask, has: list[str]) -> None:
        """Tell the ledger and the operators, once per system and round, that no worker that
        has the system took it. Never raises: the retry matters more than the record."""
        try:
            events = await self._ledger.events(task.request_id)
            if not any(
                e.kind == AlertEvent.SYSTEM_UNSERVED
                and e.detail.get("system") == task.system
                and e.detail.get("round") == task.round
                for e in events
            ):
                await self._ledger.add_event(
                    task.request_id,
                    AlertEvent.SYSTEM_UNSERVED,
                    at=_now(),
                    actor="lethe",
                    detail={"system": task.system, "round": task.round, "worker_has": has},
                )
        except Exception as exc:  # a ledger hiccup: the next attempt tries again
            log.warning("system.unserved_not_recorded", error=type(exc).__name__)
            return
        if self._alerter is not None:
            await self._alerter.alert(
                task.request_id,
                AlertEvent.SYSTEM_UNSERVED,
                system=task.system,
                round_=task.round,
                detail=f"a worker without {task.system} took its task; start or fix one that"
                f" has [systems.{task.system}] in its lethe.toml",
            )

    async def _subject(self, request_id: str) -> Subject:
        """The subject from the vault, with the jurisdiction the request was made under (a
        connector's retention cites the basis of that law)."""
        try:
            ref, ids, jurisdiction = await self._ledger.read_subject(request_id)
        except LedgerError as exc:
            raise ApplicationError(
                str(exc), type="SubjectUnavailable", non_retryable=True
            ) from None
        email = ids.pop("email")
        return Subject(ref=ref, email=email, identifiers=ids, jurisdiction=jurisdiction)

    async def _heartbeating(self, call: Awaitable[T]) -> T:
        """Await ``call`` while telling Temporal every few seconds that we are alive."""
        every = self._heartbeat_every
        timeout = activity.info().heartbeat_timeout
        if timeout:
            every = min(every, max(timeout.total_seconds() / 3, 0.1))
        task = asyncio.ensure_future(call)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=every)
                if done:
                    return task.result()
                activity.heartbeat()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _call(self, system: str, subject: Subject, call: Awaitable[T]) -> T:
        """Run a connector call, turning its failures into scrubbed Temporal errors."""
        try:
            return await self._heartbeating(call)
        except TransientError as exc:
            raise ApplicationError(
                redact(str(exc), subject), type="TransientError", next_retry_delay=exc.retry_after
            ) from None
        except PermanentError as exc:
            raise ApplicationError(
                redact(str(exc), subject), type=type(exc).__name__, non_retryable=True
            ) from None
        except (asyncio.CancelledError, ApplicationError):
            raise
        except Exception as exc:
            # A bug in the connector: retried, since the retry policy bounds the attempts.
            log.warning("connector.crashed", system=system, error_type=type(exc).__name__)
            raise ApplicationError(
                f"connector crashed: {type(exc).__name__}: {redact(str(exc), subject)}",
                type="ConnectorCrashed",
            ) from None

    @activity.defn(name="erase_in_system")
    async def erase_in_system(self, task: SystemTask) -> SystemOutcome:
        connector = await self._connector(task)
        verifiable = Capability.VERIFY in connector.capabilities
        start = await self._ledger.begin_system(
            task.request_id,
            task.system,
            task.round,
            connector=connector.kind,
            connector_version=connector.version,
            at=_now(),
        )
        bound = log.bind(request_id=task.request_id, system=task.system, round=task.round)
        if start.finished is not None:
            bound.info("erase.replayed", outcome=start.finished.outcome)
            return outcome_from_record(start.finished, verifiable=verifiable, replayed=True)
        subject = await self._subject(task.request_id)
        bound.info("erase.start", connector=connector.kind, attempt=start.attempts)
        with using_journal(self._journal(task, subject)):
            key = erase_key(task.request_id, task.round)
            outcome = await self._call(task.system, subject, connector.erase(subject, key))
        interrupted = replayed_a_change(outcome)
        if interrupted:
            # Not every retry: one whose earlier attempt changed the system, unrecorded.
            bound.warning(
                "erase.earlier_attempt_interrupted",
                attempt=start.attempts,
                unfinished_attempt_in_ledger=start.interrupted_before,
            )
        entry = entry_from_outcome(outcome, interrupted_before=interrupted)
        entry = scrub_entry(entry, subject)
        rec = await self._ledger.finish_system(
            task.request_id,
            task.system,
            task.round,
            entry,
            at=_now(),
            write_key=activity_write_key(),
        )
        bound.info("erase.done", outcome=rec.outcome, counts=rec.counts)
        return outcome_from_record(rec, verifiable=verifiable)

    @activity.defn(name="poll_system")
    async def poll_system(self, task: SystemTask) -> SystemOutcome:
        """For an asynchronous system: ask whether the ticket has finished."""
        connector = await self._connector(task)
        status = getattr(connector, "status", None)
        if Capability.ASYNC not in connector.capabilities or status is None:
            raise ApplicationError(
                f"system {task.system!r} returned Pending but its connector cannot be polled",
                type="PermanentError",
                non_retryable=True,
            )
        verifiable = Capability.VERIFY in connector.capabilities
        rec = next(
            r
            for r in await self._ledger.outcomes(task.request_id)
            if r.system == task.system and r.round == task.round
        )
        if rec.outcome != OutcomeKind.PENDING or rec.ticket is None:
            # A retry after this poll already recorded the final outcome: replay it, as
            # erase_in_system does, instead of asking the system about no ticket at all.
            return outcome_from_record(rec, verifiable=verifiable, replayed=True)
        ticket = rec.ticket
        subject = await self._subject(task.request_id)
        with using_journal(self._journal(task, subject)):
            outcome = await self._call(task.system, subject, status(ticket))
        entry = scrub_entry(entry_from_outcome(outcome), subject)
        # The ticket is evidence of how the system did it: keep it on the final outcome.
        entry = replace(entry, ticket=entry.ticket or ticket)
        rec = await self._ledger.finish_system(
            task.request_id,
            task.system,
            task.round,
            entry,
            at=_now(),
            write_key=activity_write_key(),
        )
        return outcome_from_record(rec, verifiable=verifiable)

    @activity.defn(name="escalate_pending")
    async def escalate_pending(self, overdue: ProcessorOverdue) -> None:
        """A processor did not answer by the time it promised: one ``processor_overdue``
        event on the request (its ticket and promise, no identifiers) and the operators'
        alert. Once per system and round."""
        events = await self._ledger.events(overdue.request_id)
        if not any(
            e.kind == AlertEvent.PROCESSOR_OVERDUE
            and e.detail.get("system") == overdue.system
            and e.detail.get("round") == overdue.round
            for e in events
        ):
            await self._ledger.add_event(
                overdue.request_id,
                AlertEvent.PROCESSOR_OVERDUE,
                at=_now(),
                actor="lethe",
                detail={
                    "system": overdue.system,
                    "round": overdue.round,
                    "ticket": overdue.ticket,
                    "answer_by": overdue.answer_by,
                },
            )
        log.warning(
            "system.processor_overdue", request_id=overdue.request_id, system=overdue.system
        )
        if self._alerter is not None:
            await self._alerter.alert(
                overdue.request_id,
                AlertEvent.PROCESSOR_OVERDUE,
                system=overdue.system,
                round_=overdue.round,
                detail=f"the processor promised an answer by {overdue.answer_by} and gave none"
                f" (ticket {overdue.ticket}); ask it, then lethe retry … --system"
                f" {overdue.system}",
            )

    @activity.defn(name="verify_in_system")
    async def verify_in_system(self, task: SystemTask) -> Verification:
        """After an erase: ask the system what still matches the subject, and record it.

        Once per system and round: a retry after the check was recorded answers what was
        recorded, without asking the system again (the first answer is the one the ledger,
        and so the request's status, holds)."""
        connector = await self._connector(task)
        done = next(
            (
                r
                for r in await self._ledger.outcomes(task.request_id)
                if r.system == task.system and r.round == task.round and r.verified_at
            ),
            None,
        )
        if done is not None:
            kept = {k: int(v) for k, v in (done.residual or {}).items() if v}
            return Verification(task.system, not kept, kept)
        subject = await self._subject(task.request_id)
        residual = await self._call(task.system, subject, connector.verify(subject))
        remaining = {k: int(v) for k, v in residual.remaining.items() if v}
        recorded = await self._ledger.record_residual(
            task.request_id, task.system, task.round, remaining=remaining, at=_now()
        )
        kept = {k: v for k, v in recorded.items() if v}
        log.info("verify.done", request_id=task.request_id, system=task.system, clean=not kept)
        return Verification(task.system, not kept, kept)
