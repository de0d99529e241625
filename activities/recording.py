"""Activities that write the request's own story to the ledger (status, failures).

Their texts come through Temporal from places Lethe does not write itself: a failure's
message, the reason a child workflow was terminated with, a signal sent by another client.
So each is scrubbed here, where it enters the ledger, of the request's identifiers (read from
its vault) and of anything shaped like an address: the reason an operator types has been
scrubbed already (``lethe/free_text.py``); this is the same rule for everything else.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from connectors import Subject, redact
from ledger import Ledger, LedgerError, OutcomeEntry, RequestStatuses
from vocabulary import AlertEvent, OutcomeKind

from .alerts import Alerter
from .erasure import outcome_from_record
from .types import RequestAnswer, StatusChange, SystemFailure, SystemOutcome
from .write_keys import activity_write_key

__all__ = ["RecordingActivities"]

log = structlog.get_logger("lethe.activities")


class RecordingActivities:
    def __init__(self, ledger: Ledger, alerter: Alerter | None = None) -> None:
        self._ledger = ledger
        self._alerter = alerter

    async def _person(self, request_id: str) -> Subject | None:
        try:
            ref, ids = await self._ledger.read_identifiers(request_id)
        except LedgerError:
            return None  # shredded: only the shapes are left to catch
        return Subject(ref=ref, email=ids.pop("email", ""), identifiers=ids)

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        person = await self._person(change.request_id)
        await self._ledger.set_status(
            change.request_id,
            change.status,
            at=datetime.now(UTC),
            actor=redact(change.actor, person, any_address=False),
            reason=redact(change.reason, person) if change.reason else change.reason,
            event=change.event,
            detail=dict(change.detail),
            write_key=activity_write_key(),
        )
        log.info("request.status", request_id=change.request_id, status=change.status)

    @activity.defn(name="record_answer")
    async def record_answer(self, answer: RequestAnswer) -> str:
        """The request's final status, from the ledger's latest outcome of each system."""
        status = await RequestStatuses(self._ledger).answer(
            answer.request_id,
            at=datetime.now(UTC),
            actor=answer.actor,
            detail=dict(answer.detail),
        )
        log.info("request.status", request_id=answer.request_id, status=status)
        return status

    @activity.defn(name="record_system_failure")
    async def record_system_failure(self, failure: SystemFailure) -> SystemOutcome:
        rec = await self._ledger.finish_system(
            failure.request_id,
            failure.system,
            failure.round,
            OutcomeEntry(
                OutcomeKind.FAILED,
                error=redact(failure.error, await self._person(failure.request_id))[:1000],
            ),
            at=datetime.now(UTC),
        )
        log.warning("erase.failed", request_id=failure.request_id, system=failure.system)
        if self._alerter is not None and rec.outcome == OutcomeKind.FAILED:
            # The error as the ledger holds it: scrubbed of the person's identifiers above.
            await self._alerter.alert(
                failure.request_id,
                AlertEvent.SYSTEM_FAILED,
                system=failure.system,
                round_=failure.round,
                detail=rec.error,
            )
        return outcome_from_record(rec)
