"""Activities of a controller referral: record it, tell the controller, escalate, and carry
out the controller's instruction (erase via the connector in the next round, or retain).

"We may first refer your request to the customer that submitted your personal data":
for a processor-held system nothing is erased until the controller (or, after a timeout, an
operator) says so, and what they said is part of the request's record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ledger import (
    ControllerReferrals,
    Ledger,
    LedgerError,
    OutcomeEntry,
    RetentionRuleError,
)
from vocabulary import AlertEvent, OutcomeKind

from .alerts import Alerter
from .controller_webhook import ControllerEndpoint, DeliveryError, build_notice, deliver
from .erasure import outcome_from_record
from .round_types import InstructionRecord, ReferralEscalation, ReferralOpened, ReferralTask
from .types import SystemOutcome

__all__ = ["ReferralActivities"]

log = structlog.get_logger("lethe.activities")


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class ReferralActivities:
    """``controllers`` maps a controller's name to how it is notified."""

    def __init__(
        self,
        ledger: Ledger,
        controllers: Mapping[str, ControllerEndpoint] | None = None,
        *,
        http_timeout: float = 10.0,
        alerter: Alerter | None = None,
    ) -> None:
        self._ledger = ledger
        self._referrals = ControllerReferrals(ledger)
        self._controllers = dict(controllers or {})
        self._http_timeout = http_timeout
        self._alerter = alerter

    @activity.defn(name="open_referral")
    async def open_referral(self, task: ReferralTask) -> ReferralOpened:
        """Record the referral; say by when the controller should answer."""
        endpoint = self._controllers.get(task.controller)
        now = _now()
        within = timedelta(days=endpoint.answer_within_days if endpoint else 0)
        ref = await self._referrals.open(
            request_id=task.request_id,
            system=task.system,
            round_=task.round,
            controller=task.controller,
            workflow_id=activity.info().workflow_id or "",
            answer_by=now + within,
            connector_called=task.connector_called,
            at=now,
        )
        why_not = None
        if endpoint is None:
            why_not = (
                f"controller {task.controller!r} has no [controllers.{task.controller}] "
                "section in lethe.toml, so it cannot be notified"
            )
        left = max((ref.answer_by - now).total_seconds(), 0.0)
        return ReferralOpened(left, endpoint is not None, why_not)

    @activity.defn(name="notify_controller")
    async def notify_controller(self, task: ReferralTask) -> None:
        """Send the signed notice (once: a delivered notice is not sent again)."""
        endpoint = self._controllers.get(task.controller)
        if endpoint is None:
            raise ApplicationError(
                f"controller {task.controller!r} is not configured",
                type="ControllerNotConfigured",
                non_retryable=True,
            )
        ref = await self._referrals.get(task.request_id, task.system, task.round)
        if ref is None:
            raise ApplicationError(
                "no referral recorded", type="PermanentError", non_retryable=True
            )
        if ref.notified_at is not None:
            return
        request = await self._ledger.require_request(task.request_id)
        disclosed: dict[str, str] = {}
        if endpoint.disclose:
            try:
                _, ids = await self._ledger.read_identifiers(task.request_id)
            except LedgerError as exc:
                raise ApplicationError(
                    str(exc), type="SubjectUnavailable", non_retryable=True
                ) from None
            disclosed = {k: v for k, v in ids.items() if k in endpoint.disclose and v}
        now = _now()
        notice = build_notice(
            request_id=task.request_id,
            regulation=request.jurisdiction,
            received_at=request.received_at,
            expected_completion=ref.answer_by,
            controller=task.controller,
            system=task.system,
            round_=task.round,
            subject_ref=request.subject_ref,
            disclosed=disclosed,
            status_callback=endpoint.status_callback,
            sent_at=now,
        )
        delivery_id = f"{task.request_id}/{task.system}/{task.round}"
        try:
            status = await deliver(
                endpoint, notice, delivery_id=delivery_id, timeout=self._http_timeout
            )
        except DeliveryError as exc:
            log.warning(
                "referral.delivery_failed",
                request_id=task.request_id,
                system=task.system,
                status=exc.status,
                permanent=exc.permanent,
            )
            raise ApplicationError(
                str(exc),
                type="ControllerRefused" if exc.permanent else "ControllerUnreachable",
                non_retryable=exc.permanent,
            ) from None
        await self._referrals.record_delivery(
            task.request_id,
            task.system,
            task.round,
            {
                "http_status": status,
                "delivery_id": delivery_id,
                "attempt": activity.info().attempt,
                "disclosed": sorted(disclosed),
            },
            at=_now(),
        )
        log.info("referral.notified", request_id=task.request_id, system=task.system)

    @activity.defn(name="escalate_referral")
    async def escalate_referral(self, escalation: ReferralEscalation) -> None:
        ref = await self._referrals.escalate(
            escalation.request_id,
            escalation.system,
            escalation.round,
            reason=escalation.reason,
            at=_now(),
        )
        log.warning(
            "referral.escalated", request_id=escalation.request_id, system=escalation.system
        )
        if self._alerter is not None and ref.state == "escalated":
            await self._alerter.alert(
                escalation.request_id,
                AlertEvent.REFERRAL_ESCALATED,
                system=escalation.system,
                round_=escalation.round,
                detail=f"controller {ref.controller}: {ref.escalation_reason or escalation.reason}",
            )

    @activity.defn(name="record_instruction")
    async def record_instruction(self, record: InstructionRecord) -> None:
        detail: dict[str, Any] = {"carried_out_in_round": record.round + 1}
        if record.instruction == "retain":
            detail |= {
                "legal_basis": record.legal_basis,
                "retained_until": record.retained_until,
                "review_on": record.review_on,
            }
        await self._referrals.instruct(
            record.request_id,
            record.system,
            record.round,
            instruction=record.instruction,
            instructed_by=f"operator:{record.operator}",
            reason=record.reason,
            at=_now(),
            detail=detail,
        )

    @activity.defn(name="record_instructed_retention")
    async def record_instructed_retention(self, record: InstructionRecord) -> SystemOutcome:
        """The controller said keep it: ``Retained`` in the next round, its basis and date."""
        ref = await self._referrals.get(record.request_id, record.system, record.round)
        controller = ref.controller if ref is not None else "the controller"
        # Who entered it and their words stay with the referral and its event: the outcome
        # is sealed into the append-only proof log, where no name or free text may go.
        entry = OutcomeEntry(
            OutcomeKind.RETAINED,
            legal_basis=record.legal_basis,
            basis_note=(
                f"retained on the instruction of {controller} (referral of round"
                f" {record.round}; the instruction is kept with the referral)"
            ),
            retained_until=_date(record.retained_until),
            review_on=_date(record.review_on),
            evidence={
                "connector_called": False,
                "controller": controller,
                "referral_round": record.round,
            },
        )
        try:
            rec = await self._ledger.finish_system(
                record.request_id, record.system, record.round + 1, entry, at=_now()
            )
        except RetentionRuleError as exc:
            raise ApplicationError(
                f"the instruction cannot be recorded: {exc}",
                type="PermanentError",
                non_retryable=True,
            ) from None
        return outcome_from_record(rec)
