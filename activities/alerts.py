"""Operator alerts: when a request needs a person, tell the operators, not only the log.

    acknowledgement_overdue   the receipt was not acknowledged by its deadline
    deadline_reminder         the answer deadline is near
    deadline_overdue          the answer deadline has passed
    referral_escalated        a controller did not answer a referral in time (or could not be told)
    system_failed             a system failed for good (retries spent, or a permanent error)
    system_unserved           no worker that has a system configured took its task (a rolling
                              deploy, or a system removed from one worker's lethe.toml)
    request_stalled           an open request is not progressing: its workflow task keeps
                              failing, its workflow is gone, or a system has been retried long
    payload_refused           a signal to a request was refused: not encrypted under the payload
                              key (someone reached Temporal without Lethe's keys)

The activities that record these events (``record_deadline_event``, ``escalate_referral``,
``record_system_failure``, ``record_refused_signal``; ``erase_in_system`` on a worker without
the system; the retention sweep's ``find_stalled_requests``) hand them to an
:class:`Alerter` after the ledger write, so no workflow's command sequence changes. The
alerter sends through its channels (operators' mail through the ``[mail]`` server, a signed
webhook, or the console in ``lethe dev``), retrying a few times within a bounded time; what
it could not deliver is recorded as an ``alert_failed`` event and logged, and the activity
carries on: an alert never fails a request or holds up an erasure. What was delivered is
recorded as ``alert_sent``, per channel and per alert key (``<request id>/<event>/<deadline
or system/round>``), so a retried activity does not send it again; the webhook carries the
key as ``X-Lethe-Delivery``.

An alert carries no personal data: the request id, the pseudonym, the jurisdiction, what
happened, the deadline, and the ``Next:`` commands (``ledger/next_steps.py``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import structlog

from connectors import redact
from ledger import ControllerReferrals, DeadlineRecords, ErasureRounds, Ledger
from ledger.next_steps import next_steps
from vocabulary import ALERT_EVENTS, AlertEvent

from .controller_webhook import DeliveryError, post_signed
from .mail import Mailer, MailRejected, MailUnavailable

__all__ = [
    "Alert",
    "AlertChannel",
    "AlertUndelivered",
    "Alerter",
    "ConsoleAlerts",
    "MailAlerts",
    "WebhookAlerts",
]

log = structlog.get_logger("lethe.activities")

ALERT_VERSION = "lethe-alert/1"

_HEADLINES: dict[str, str] = {
    AlertEvent.ACKNOWLEDGEMENT_OVERDUE: "the receipt was not acknowledged by its deadline",
    AlertEvent.DEADLINE_REMINDER: "the answer deadline is near",
    AlertEvent.DEADLINE_OVERDUE: "the answer deadline has passed: the request is OVERDUE",
    AlertEvent.REFERRAL_ESCALATED: (
        "a controller did not answer a referral in time: an operator decides"
    ),
    AlertEvent.SYSTEM_FAILED: "a system failed for good",
    AlertEvent.SYSTEM_UNSERVED: "no worker that has this system configured takes its erasure",
    AlertEvent.REQUEST_STALLED: "the request is not progressing",
    AlertEvent.PAYLOAD_REFUSED: (
        "a signal without Lethe's payload key was refused: nothing changed"
    ),
    AlertEvent.MANUAL_TASK_OPENED: "a system no API reaches needs a person to erase it",
    AlertEvent.MANUAL_TASK_OVERDUE: (
        "a manual erasure task is overdue: do it, or record why the data is kept"
    ),
    AlertEvent.PROCESSOR_OVERDUE: (
        "a processor did not answer an erasure by the time it promised: an operator asks it"
    ),
}
_DEADLINE_EVENTS = frozenset({AlertEvent.DEADLINE_REMINDER, AlertEvent.DEADLINE_OVERDUE})


@dataclass(frozen=True)
class Alert:
    """What an operator is told. No personal data: ids, dates, and what to do."""

    key: str
    request_id: str
    subject_ref: str
    jurisdiction: str
    event: str
    what: str
    deadline: datetime | None
    next: tuple[str, ...]
    system: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def subject_line(self) -> str:
        return f"[lethe] {self.event.replace('_', ' ')}: {self.request_id}"

    def text(self) -> str:
        lines = [
            f"Request {self.request_id} ({self.jurisdiction.upper()}, subject {self.subject_ref})",
            f"What happened: {self.what}",
        ]
        if self.system:
            lines.append(f"System: {self.system}")
        if self.deadline is not None:
            lines.append(f"Deadline: {self.deadline:%Y-%m-%d %H:%M} UTC")
        lines += [f"Next: {step}" for step in self.next]
        lines.append(f"Alert {self.key}, sent {self.at:%Y-%m-%d %H:%M:%S} UTC")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "api_version": ALERT_VERSION,
            "alert_id": self.key,
            "event": self.event,
            "request_id": self.request_id,
            "subject_ref": self.subject_ref,
            "jurisdiction": self.jurisdiction,
            "what": self.what,
            "system": self.system,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "next": list(self.next),
            "sent_time": self.at.isoformat(),
        }


class AlertUndelivered(Exception):
    """A channel could not deliver an alert. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class AlertChannel(Protocol):
    """One way of telling the operators; raises :class:`AlertUndelivered`."""

    @property
    def name(self) -> str: ...

    async def send(self, alert: Alert) -> None: ...


class MailAlerts:
    """One message to the operators' addresses (``[alerts] mail_to``) through ``[mail]``."""

    name = "mail"

    def __init__(self, mailer: Mailer, recipients: Sequence[str]) -> None:
        self._mailer = mailer
        self._recipients = tuple(recipients)

    async def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["From"] = self._mailer.sender
        msg["To"] = ", ".join(self._recipients)
        msg["Subject"] = alert.subject_line()
        msg["X-Lethe-Alert"] = alert.key
        msg.set_content(alert.text())
        try:
            await self._mailer.send(msg)
        except MailRejected as exc:
            raise AlertUndelivered(str(exc), permanent=True) from None
        except MailUnavailable as exc:
            raise AlertUndelivered(str(exc), permanent=False) from None


@dataclass(frozen=True, repr=False)
class WebhookAlerts:
    """A signed JSON POST, as the controller webhook is signed (``controller_webhook.sign``)."""

    url: str
    secret: bytes
    timeout: float = 10.0
    name: str = "webhook"

    def __repr__(self) -> str:
        return "WebhookAlerts(url=<hidden>, secret=<hidden>)"

    async def send(self, alert: Alert) -> None:
        try:
            await post_signed(
                self.url,
                self.secret,
                alert.to_json(),
                delivery_id=alert.key,
                user_agent=ALERT_VERSION,
                who="the alert webhook",
                timeout=self.timeout,
            )
        except DeliveryError as exc:
            raise AlertUndelivered(str(exc), permanent=exc.permanent) from None


class ConsoleAlerts:
    """Prints alerts instead of sending them: ``lethe dev`` and the demo."""

    name = "console"

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda text: print(text, file=sys.stderr, flush=True))
        self.printed: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.printed.append(alert)
        self._write(
            "── operator alert (console: printed here, NOT sent) ──\n"
            f"{alert.subject_line()}\n\n{alert.text().rstrip()}\n"
            "──────────────────────────────────────────────────────"
        )


class Alerter:
    """Builds an alert from the ledger and delivers it through every channel, at most once.

    ``attempts`` tries per channel, ``backoff`` seconds before the second (doubling), all
    within ``budget`` seconds: the activity that calls it has a timeout of its own.
    """

    def __init__(
        self,
        ledger: Ledger,
        channels: Sequence[AlertChannel],
        *,
        on: Collection[str] = ALERT_EVENTS,
        attempts: int = 3,
        backoff: float = 2.0,
        budget: float = 30.0,
    ) -> None:
        unknown = set(on) - set(ALERT_EVENTS)
        if unknown:
            raise ValueError(f"unknown alert event(s): {', '.join(sorted(unknown))}")
        self._ledger = ledger
        self._channels = tuple(channels)
        self._on = frozenset(on)
        self._attempts = max(attempts, 1)
        self._backoff = backoff
        self._budget = budget

    def wants(self, event: str) -> bool:
        return bool(self._channels) and event in self._on

    async def alert(
        self,
        request_id: str,
        event: str,
        *,
        deadline: datetime | None = None,
        system: str | None = None,
        round_: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Tell the operators of ``event``. Never raises (cancellation aside)."""
        if not self.wants(event):
            return
        where = f"{system}/{round_}" if system is not None else ""
        key = f"{request_id}/{event}/{where or (deadline.isoformat() if deadline else '-')}"
        try:
            done = await self._done(request_id, key)
            pending = [c for c in self._channels if c.name not in done]
            if not pending:
                return
            alert = await self._build(key, request_id, event, deadline, system, detail)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an alert must never fail the activity that records
            log.warning("alert.failed", request_id=request_id, alert=event, error=str(exc)[:200])
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + self._budget
        results = await asyncio.gather(*(self._deliver(c, alert, until) for c in pending))
        for channel, error in zip(pending, results, strict=True):
            await self._record(alert, channel.name, error)

    async def _done(self, request_id: str, key: str) -> set[str]:
        return {
            str(e.detail.get("channel"))
            for e in await self._ledger.events(request_id)
            if e.kind in {"alert_sent", "alert_failed"} and e.detail.get("key") == key
        }

    async def _build(
        self,
        key: str,
        request_id: str,
        event: str,
        deadline: datetime | None,
        system: str | None,
        detail: str | None,
    ) -> Alert:
        rec = await self._ledger.require_request(request_id)
        latest = await ErasureRounds(self._ledger).latest_outcomes(request_id)
        referrals = await ControllerReferrals(self._ledger).for_request(request_id)
        steps = next_steps(rec, latest, referrals)
        if event in _DEADLINE_EVENTS and rec.completed_at is None:
            clock = await DeadlineRecords(self._ledger).clock(request_id)
            if clock is not None and clock.extended_at is None and clock.extension_limit:
                steps.append(
                    f"if the rules allow more time: lethe extend {request_id} --reason '…'"
                    f" (to {clock.extension_limit:%Y-%m-%d} at most)"
                )
        if event == AlertEvent.ACKNOWLEDGEMENT_OVERDUE:
            steps.insert(
                0,
                "acknowledge the receipt to the requester by other means (no receipt mail went"
                f" out: check [mail]), then record it: lethe acknowledge {request_id}"
                " --channel phone|mail|… --reason '…'",
            )
        if not steps:
            steps = [f"lethe status {request_id}"]
        if deadline is None:  # a system's or a referral's trouble: the answer deadline
            deadline = rec.due_at
        what = _HEADLINES[event]
        if detail:
            # Texts the ledger holds already (scrubbed where they entered it); once more here.
            what += f" ({redact(detail)[:300]})"
        return Alert(
            key=key,
            request_id=request_id,
            subject_ref=rec.subject_ref,
            jurisdiction=rec.jurisdiction,
            event=event,
            what=what,
            deadline=deadline,
            next=tuple(steps),
            system=system,
        )

    async def _deliver(self, channel: AlertChannel, alert: Alert, until: float) -> str | None:
        """None if delivered, else why not (after the retries that could help)."""
        loop = asyncio.get_running_loop()
        wait = self._backoff
        why = "no attempt made"
        for attempt in range(1, self._attempts + 1):
            left = until - loop.time()
            if left <= 0:
                return f"{why}; gave up after {attempt - 1} attempt(s): out of time"
            try:
                await asyncio.wait_for(channel.send(alert), timeout=left)
                return None
            except AlertUndelivered as exc:
                why = str(exc)
                if exc.permanent:
                    return why
            except TimeoutError:
                return f"{why}; out of time on attempt {attempt}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a channel's bug: report it, never raise it
                why = f"{type(exc).__name__}: {str(exc)[:200]}"
            if attempt < self._attempts:
                await asyncio.sleep(max(min(wait, until - loop.time()), 0))
                wait *= 2
        return f"{why} ({self._attempts} attempts)"

    async def _record(self, alert: Alert, channel: str, error: str | None) -> None:
        detail: Mapping[str, Any] = {"key": alert.key, "event": alert.event, "channel": channel}
        # One record per alert and channel, sent or not: what ``_done`` looks for.
        once = f"alert/{alert.key}/{channel}"
        try:
            if error is None:
                await self._ledger.add_event(
                    alert.request_id,
                    "alert_sent",
                    at=datetime.now(UTC),
                    actor="lethe",
                    detail=dict(detail),
                    write_key=once,
                )
                log.info(
                    "alert.sent", request_id=alert.request_id, alert=alert.event, channel=channel
                )
                return
            await self._ledger.add_event(
                alert.request_id,
                "alert_failed",
                at=datetime.now(UTC),
                actor="lethe",
                detail={**detail, "reason": redact(error)[:500]},
                write_key=once,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("alert.not_recorded", request_id=alert.request_id, error=str(exc)[:200])
        if error is not None:
            log.warning(
                "alert.failed",
                request_id=alert.request_id,
                alert=alert.event,
                channel=channel,
                error=redact(error)[:200],
            )
