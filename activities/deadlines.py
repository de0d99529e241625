"""Activities of a request's clock: acknowledge receipt, record reminders and escalations,
record an extension.

Each writes the ledger (an event with the request id, the kind and the date: nothing about
the person) and logs the same; reminders and escalations also alert the operators
(``activities/alerts.py``) when ``[alerts]`` is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors import redact
from ledger import DeadlineRecords, Ledger, LedgerError

from .alerts import Alerter
from .mail import Mailer, MailRejected, MailUnavailable

__all__ = [
    "AcknowledgementNotice",
    "DeadlineActivities",
    "DeadlineEvent",
    "ExtensionOrder",
]

log = structlog.get_logger("lethe.activities")


@dataclass(frozen=True)
class AcknowledgementNotice:
    request_id: str
    answer_by: datetime


@dataclass(frozen=True)
class DeadlineEvent:
    request_id: str
    kind: str  # acknowledgement_overdue | deadline_reminder | deadline_overdue
    due: datetime


@dataclass(frozen=True)
class ExtensionOrder:
    request_id: str
    answer_by: datetime
    reason: str
    actor: str


def _now() -> datetime:
    return datetime.now(UTC)


class DeadlineActivities:
    def __init__(
        self, ledger: Ledger, mailer: Mailer | None, alerter: Alerter | None = None
    ) -> None:
        self._ledger = ledger
        self._deadlines = DeadlineRecords(ledger)
        self._mailer = mailer
        self._alerter = alerter

    @activity.defn(name="send_acknowledgement")
    async def send_acknowledgement(self, notice: AcknowledgementNotice) -> bool:
        """Tell the requester, at the address on file, that we have their request and when
        they will hear from us. False if no mail server is configured (then the
        acknowledgement timer escalates, and an operator must acknowledge by other means)."""
        rid = notice.request_id
        clock = await self._deadlines.clock(rid)
        if clock is not None and clock.acknowledged_at is not None:
            return True  # a retry after the mail went out
        if self._mailer is None:
            await self._ledger.add_event(
                rid,
                "acknowledgement_not_sent",
                at=_now(),
                actor="lethe",
                detail={"reason": "no mail server is configured on the worker"},
            )
            log.warning("deadline.acknowledgement_not_sent", request_id=rid)
            return False
        try:
            _, ids = await self._ledger.read_identifiers(rid)
        except LedgerError as exc:
            raise ApplicationError(
                str(exc), type="SubjectUnavailable", non_retryable=True
            ) from None
        msg = EmailMessage()
        msg["From"] = self._mailer.sender
        msg["To"] = ids["email"]
        msg["Subject"] = f"We received your erasure request {rid}"
        msg.set_content(
            f"We received your request to erase your personal data (request {rid}).\n"
            f"We will answer by {notice.answer_by:%d %B %Y}. Before we erase anything we"
            " confirm that the request comes from you; we ask for nothing more than that needs.\n"
        )
        try:
            await self._mailer.send(msg)
        except MailRejected as exc:
            raise ApplicationError(
                redact(str(exc)), type="MailRejected", non_retryable=True
            ) from None
        except MailUnavailable as exc:
            raise ApplicationError(redact(str(exc)), type="MailUnavailable") from None
        if clock is not None:
            await self._deadlines.mark_acknowledged(rid, at=_now(), how="receipt mail")
        log.info("deadline.acknowledged", request_id=rid)
        return True

    @activity.defn(name="record_deadline_event")
    async def record_deadline_event(self, event: DeadlineEvent) -> datetime:
        """Record a reminder or an escalation; returns the answer deadline now in force."""
        try:
            current = await self._deadlines.record_deadline_event(
                event.request_id, event.kind, at=_now(), due=event.due
            )
        except LedgerError as exc:
            raise ApplicationError(str(exc), type="LedgerError", non_retryable=True) from None
        level = log.info if event.kind == "deadline_reminder" else log.warning
        level(
            f"deadline.{event.kind}",
            request_id=event.request_id,
            due=event.due.isoformat(),
            answer_by=current.isoformat(),
        )
        if self._alerter is not None and self._alerter.wants(event.kind):
            # Only an event the ledger holds (not one for a deadline since moved, nor an
            # acknowledgement that came in time): a retry finds it recorded, and the alerter
            # finds the alert sent.
            due = event.due.isoformat()
            recorded = any(
                e.kind == event.kind and e.detail.get("due") == due
                for e in await self._ledger.events(event.request_id)
            )
            if recorded:
                await self._alerter.alert(event.request_id, event.kind, deadline=event.due)
        return current

    @activity.defn(name="record_deadline_extension")
    async def record_deadline_extension(self, order: ExtensionOrder) -> datetime:
        """Move the answer deadline in the ledger; returns the deadline it replaces."""
        try:
            previous = await self._deadlines.extend(
                order.request_id,
                new_due=order.answer_by,
                reason=order.reason,
                actor=order.actor,
                at=_now(),
            )
        except LedgerError as exc:
            raise ApplicationError(str(exc), type="ExtensionRefused", non_retryable=True) from None
        log.warning(
            "deadline.extended",
            request_id=order.request_id,
            answer_by=order.answer_by.isoformat(),
            previous=previous.isoformat(),
        )
        await self._tell_of_extension(order)
        return previous

    async def _tell_of_extension(self, order: ExtensionOrder) -> None:
        """The requester must hear of an extension and its reasons (GDPR Art. 12(3)). Best
        effort: a failure is recorded for the operator, and the extension stands."""
        rid = order.request_id
        why = "no mail server is configured on the worker"
        if self._mailer is not None:
            try:
                _, ids = await self._ledger.read_identifiers(rid)
                msg = EmailMessage()
                msg["From"] = self._mailer.sender
                msg["To"] = ids["email"]
                msg["Subject"] = f"Your erasure request {rid}: we need more time"
                msg.set_content(
                    f"We need more time to answer your erasure request {rid}. We will answer"
                    f" by {order.answer_by:%d %B %Y}.\n\nThe reason: {order.reason}\n"
                )
                await self._mailer.send(msg)
                await self._ledger.add_event(
                    rid, "extension_notice_sent", at=_now(), actor="lethe", detail={}
                )
                return
            except (LedgerError, MailRejected, MailUnavailable) as exc:
                why = redact(str(exc))
        await self._ledger.add_event(
            rid, "extension_notice_not_sent", at=_now(), actor="lethe", detail={"reason": why}
        )
        log.warning("deadline.extension_notice_not_sent", request_id=rid)
