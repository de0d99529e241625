"""Activities of a request's clock: acknowledge receipt (by mail, or record an operator's
acknowledgement by other means), record reminders and escalations, record an extension.

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
from vocabulary import AlertEvent

from .alerts import Alerter
from .mail import Mailer, MailRejected, MailUnavailable
from .write_keys import activity_write_key

__all__ = [
    "AcknowledgementNotice",
    "AcknowledgementOrder",
    "AcknowledgementOutcome",
    "DeadlineActivities",
    "DeadlineEvent",
    "ExtensionOrder",
]

log = structlog.get_logger("lethe.activities")

#: The key of an extension's notice to the requester, sent or not (one extension a request).
_NOTICE_KEY = "extension_notice"


@dataclass(frozen=True)
class AcknowledgementNotice:
    request_id: str
    answer_by: datetime


@dataclass(frozen=True)
class AcknowledgementOrder:
    """An operator acknowledged receipt by ``channel`` (phone, a letter, ...)."""

    request_id: str
    channel: str
    reason: str
    actor: str


@dataclass(frozen=True)
class AcknowledgementOutcome:
    """``recorded`` False: the ledger already had an acknowledgement (``at``, ``how``).
    Times are ISO strings: a dataclass with ``datetime`` fields from this package does not
    decode inside the workflow sandbox (its ``datetime`` is not the module's)."""

    recorded: bool
    at: str | None
    on_time: bool
    how: str = ""
    acknowledge_by: str | None = None


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
                write_key=activity_write_key(),
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

    @activity.defn(name="record_acknowledgement")
    async def record_acknowledgement(self, order: AcknowledgementOrder) -> AcknowledgementOutcome:
        """Record an operator's acknowledgement of receipt (``lethe acknowledge``): when, how,
        by whom, on time or late. Idempotent: a retry finds it recorded and answers the same."""
        rid = order.request_id
        at = _now()
        try:
            fresh = await self._deadlines.mark_acknowledged(
                rid, at=at, how=order.channel, actor=order.actor, reason=order.reason
            )
        except LedgerError as exc:
            raise ApplicationError(str(exc), type="LedgerError", non_retryable=True) from None
        clock = await self._deadlines.clock(rid)
        event = await self._deadlines.acknowledgement(rid)
        when = clock.acknowledged_at if clock is not None else None
        by = clock.acknowledge_by if clock is not None else None
        how = str(event.detail.get("how", "")) if event is not None else ""
        # A retry of this very order (same operator and channel) is not a second one.
        mine = fresh or (
            event is not None
            and event.actor == order.actor[:120]
            and how == order.channel
            and event.detail.get("reason") == order.reason[:500]
        )
        on_time = bool(event.detail.get("on_time", True)) if event is not None else True
        if fresh:
            log.info("deadline.acknowledged", request_id=rid, how=order.channel, on_time=on_time)
        return AcknowledgementOutcome(
            mine,
            when.isoformat() if when else None,
            on_time,
            how,
            by.isoformat() if by else None,
        )

    @activity.defn(name="record_deadline_event")
    async def record_deadline_event(self, event: DeadlineEvent) -> datetime:
        """Record a reminder or an escalation; returns the answer deadline now in force."""
        try:
            current = await self._deadlines.record_deadline_event(
                event.request_id, event.kind, at=_now(), due=event.due
            )
        except LedgerError as exc:
            raise ApplicationError(str(exc), type="LedgerError", non_retryable=True) from None
        level = log.info if event.kind == AlertEvent.DEADLINE_REMINDER else log.warning
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
        effort: a failure is recorded for the operator, and the extension stands. Once: a
        request is extended once, and its notice (sent or not) is keyed
        ``extension_notice``; a retried activity that finds it mails nothing."""
        rid = order.request_id
        if await self._ledger.written(rid, _NOTICE_KEY) is not None:
            return
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
                    rid,
                    "extension_notice_sent",
                    at=_now(),
                    actor="lethe",
                    detail={},
                    write_key=_NOTICE_KEY,
                )
                return
            except (LedgerError, MailRejected, MailUnavailable) as exc:
                why = redact(str(exc))
        await self._ledger.add_event(
            rid,
            "extension_notice_not_sent",
            at=_now(),
            actor="lethe",
            detail={"reason": why},
            write_key=_NOTICE_KEY,
        )
        log.warning("deadline.extension_notice_not_sent", request_id=rid)
