"""What an operator needs to know about one request beyond its status: the clock (acknowledged?
extended? how long left?) and what the request waits for next, with the command that does it.

``lethe status`` prints these lines after the summary, and its ``--json`` carries the clock as
data (``clock_to_dict``). Everything here reads ledger records; nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ledger import (
    ControllerReferral,
    ErasureRequestRecord,
    RequestClock,
    RequestEvent,
    SystemOutcomeRecord,
)

__all__ = ["clock_lines", "clock_to_dict", "next_steps"]

_OPEN = {"received", "awaiting_verification", "erasing", "escalated"}
#: How close to its acknowledge-by date an unacknowledged request gets the hint to acknowledge
#: it by other means (Lethe's own mail goes out within minutes of receipt, when it can).
ACKNOWLEDGE_SOON = timedelta(hours=12)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _left(due: datetime, now: datetime) -> str:
    seconds = (due - now).total_seconds()
    days, hours = int(abs(seconds) // 86400), int(abs(seconds) % 86400 // 3600)
    span = f"{days} day(s)" if days else f"{hours} hour(s)"
    return f"{span} left" if seconds >= 0 else f"OVERDUE by {span}"


def clock_to_dict(clock: RequestClock | None) -> dict[str, Any] | None:
    """The statutory clock as ``lethe status --json`` shows it (``null`` for old requests)."""
    if clock is None:
        return None
    return {
        "timezone": clock.timezone,
        "answer_rule": clock.answer_rule,
        "original_due_at": _iso(clock.original_due_at),
        "acknowledge_by": _iso(clock.acknowledge_by),
        "acknowledge_rule": clock.acknowledge_rule,
        "acknowledged_at": _iso(clock.acknowledged_at),
        "extension_limit": _iso(clock.extension_limit),
        "no_extension_because": clock.no_extension_because,
        "extended_at": _iso(clock.extended_at),
        "extended_by": clock.extended_by,
        "extension_reason": clock.extension_reason,
        "reminded_at": _iso(clock.reminded_at),
        "overdue_at": _iso(clock.overdue_at),
    }


def clock_lines(
    rec: ErasureRequestRecord,
    clock: RequestClock | None,
    now: datetime,
    acknowledgement: RequestEvent | None = None,
) -> list[str]:
    """The deadline with the time left, the extension, the acknowledgement (and, given its
    event, how and by whom)."""
    lines = []
    if rec.completed_at is None:
        lines.append(f"answer due {_when(rec.due_at)}: {_left(rec.due_at, now)}")
    if clock is None:
        return lines
    if clock.extended_at is not None:
        lines.append(
            f"extended on {clock.extended_at:%Y-%m-%d} by {clock.extended_by or '?'} from "
            f"{_when(clock.original_due_at)}: {clock.extension_reason or ''}".rstrip(": ")
        )
    elif rec.completed_at is None and clock.extension_limit is not None:
        lines.append(f"may be extended once, to {_when(clock.extension_limit)} at most")
    if clock.acknowledge_by is not None:
        if clock.acknowledged_at is not None:
            on_time = "on time" if clock.acknowledged_at <= clock.acknowledge_by else "LATE"
            how = ""
            if acknowledgement is not None:
                how = f" by {acknowledgement.detail.get('how', '?')}"
                if acknowledgement.actor != "lethe":
                    how += f", {acknowledgement.actor}"
            lines.append(f"receipt acknowledged {_when(clock.acknowledged_at)}{how} ({on_time})")
        elif rec.completed_at is None:
            lines.append(f"receipt not acknowledged yet; due by {_when(clock.acknowledge_by)}")
    return lines


def next_steps(
    rec: ErasureRequestRecord,
    latest: Mapping[str, SystemOutcomeRecord],
    referrals: Sequence[ControllerReferral],
    clock: RequestClock | None = None,
    now: datetime | None = None,
) -> list[str]:
    """What the request waits for, and the command for whoever must act (empty: nothing).
    Given the clock and the time: an open request not acknowledged by (or within
    ACKNOWLEDGE_SOON of) its acknowledge-by date is acknowledged by other means."""
    rid = rec.request_id
    steps: list[str] = []
    if (
        clock is not None
        and now is not None
        and rec.completed_at is None
        and clock.acknowledge_by is not None
        and clock.acknowledged_at is None
        and now >= clock.acknowledge_by - ACKNOWLEDGE_SOON
    ):
        when = "was" if now >= clock.acknowledge_by else "is"
        steps.append(
            f"receipt is not acknowledged and {when} due by {_when(clock.acknowledge_by)}:"
            f" tell the requester, then lethe acknowledge {rid} --channel phone|mail|…"
            " --reason '…'"
        )
    if rec.status in {"received", "awaiting_verification"}:
        if rec.verification_method == "operator":
            steps.append(
                f"an operator confirms who asks: lethe approve {rid} --reason '…'"
                f" (or lethe cancel {rid} --reason '…')"
            )
        elif rec.verification_method == "email":
            steps.append(
                f"the requester's emailed code: lethe verify {rid} --code …"
                f" (lost or expired in spam: lethe verify {rid} --resend;"
                f" withdrawn: lethe cancel {rid} --reason '…')"
            )
    for ref in referrals:
        if ref.state == "awaiting":
            steps.append(
                f"{ref.system}: {ref.controller}'s instruction (asked until "
                f"{ref.answer_by:%Y-%m-%d}): lethe controller-instruction {rid} --system "
                f"{ref.system} --erase | --retain --basis … --until …"
            )
        elif ref.state == "escalated":
            steps.append(
                f"{ref.system}: {ref.controller} did not answer in time or could not be told;"
                " an operator decides: "
                f"lethe controller-instruction {rid} --system {ref.system} --erase | --retain "
                "--basis … --until …"
            )
    for system, outcome in sorted(latest.items()):
        if outcome.outcome != "failed":
            continue
        when = "" if rec.completed_at is not None else "once the request has finished, "
        steps.append(f"{system} failed: {when}lethe retry {rid} --system {system} --reason '…'")
    if not steps and rec.status in _OPEN and rec.status != "escalated":
        steps.append("nothing from you: the systems are being erased")
    return steps
