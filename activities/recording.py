"""Activities that write the request's own story to the ledger (status, failures)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from ledger import Ledger, OutcomeEntry

from .erasure import outcome_from_record
from .types import StatusChange, SystemFailure, SystemOutcome

__all__ = ["RecordingActivities"]

log = structlog.get_logger("lethe.activities")


class RecordingActivities:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        await self._ledger.set_status(
            change.request_id,
            change.status,
            at=datetime.now(UTC),
            actor=change.actor,
            reason=change.reason,
            event=change.event,
            detail=dict(change.detail),
        )
        log.info("request.status", request_id=change.request_id, status=change.status)

    @activity.defn(name="record_system_failure")
    async def record_system_failure(self, failure: SystemFailure) -> SystemOutcome:
        rec = await self._ledger.finish_system(
            failure.request_id,
            failure.system,
            failure.round,
            OutcomeEntry("failed", error=failure.error[:1000]),
            at=datetime.now(UTC),
        )
        log.warning("erase.failed", request_id=failure.request_id, system=failure.system)
        return outcome_from_record(rec)
