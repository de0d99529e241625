"""Recording what was refused: a signal whose payload was not encrypted under the payload key.

Whoever sent it reached the Temporal frontend without Lethe's keys (or with another
deployment's): the request did not change, and the operators must learn that someone tried.
Each refusal becomes a ``payload_refused`` request event (the signal, the reason, the
workflow), sealed with the request's other events, and a ``payload_refused`` alert (once per
request: a flood of refused signals is one alert, and the workflow records at most a few).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from temporalio import activity

from connectors import redact
from ledger import Ledger, LedgerError
from vocabulary import AlertEvent

from .alerts import Alerter

__all__ = ["RefusalActivities", "RefusedSignal"]

log = structlog.get_logger("lethe.activities")


@dataclass(frozen=True)
class RefusedSignal:
    """A signal the workflow did not apply. ``number``: the how-manieth of this run."""

    request_id: str
    workflow_id: str
    signal: str
    reason: str
    number: int


class RefusalActivities:
    def __init__(self, ledger: Ledger, alerter: Alerter | None = None) -> None:
        self._ledger = ledger
        self._alerter = alerter

    @activity.defn(name="record_refused_signal")
    async def record_refused_signal(self, refused: RefusedSignal) -> None:
        # One event per refusal, also when this activity is retried after the write.
        key = f"{refused.workflow_id}/{activity.info().workflow_run_id}/{refused.number}"
        reason = redact(refused.reason)[:300]
        bound = log.bind(
            request_id=refused.request_id, workflow_id=refused.workflow_id, signal=refused.signal
        )
        bound.warning("signal.refused", reason=reason)
        try:
            events = await self._ledger.events(refused.request_id)
            if not any(
                e.kind == AlertEvent.PAYLOAD_REFUSED and e.detail.get("key") == key for e in events
            ):
                await self._ledger.add_event(
                    refused.request_id,
                    AlertEvent.PAYLOAD_REFUSED,
                    at=datetime.now(UTC),
                    actor="unknown",
                    detail={
                        "key": key,
                        "signal": refused.signal[:100],
                        "workflow_id": refused.workflow_id[:200],
                        "reason": reason,
                    },
                )
        except LedgerError as exc:  # a request the ledger does not know: the log has it
            bound.warning("signal.refusal_not_recorded", error=str(exc)[:200])
            return
        if self._alerter is not None:
            await self._alerter.alert(
                refused.request_id,
                AlertEvent.PAYLOAD_REFUSED,
                detail=f"a {refused.signal!r} signal {reason.removeprefix('refused: ')}",
            )
