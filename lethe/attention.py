"""What an operator needs to know about one request beyond its status: the clock (acknowledged?
extended? how long left?) and what the request waits for next, with the command that does it.

``lethe status`` prints these lines after the summary, and its ``--json`` carries the clock as
data (``clock_to_dict``). Everything here reads ledger records; nothing is written.
``next_steps`` lives in ``activities/next_steps.py``: the operators' alerts, sent by activities,
carry the same ``Next:`` lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from activities.next_steps import ACKNOWLEDGE_SOON, next_steps, when_text
from ledger import ErasureRequestRecord, RequestClock, RequestEvent

from .terminal import visible

__all__ = ["ACKNOWLEDGE_SOON", "clock_lines", "clock_to_dict", "next_steps"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_when = when_text


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
        # Who and why were typed by an operator: shown as text, on this one line.
        lines.append(
            f"extended on {clock.extended_at:%Y-%m-%d} by {visible(clock.extended_by or '?')}"
            f" from {_when(clock.original_due_at)}:"
            f" {visible(clock.extension_reason or '')}".rstrip(": ")
        )
    elif rec.completed_at is None and clock.extension_limit is not None:
        lines.append(f"may be extended once, to {_when(clock.extension_limit)} at most")
    if clock.acknowledge_by is not None:
        if clock.acknowledged_at is not None:
            on_time = "on time" if clock.acknowledged_at <= clock.acknowledge_by else "LATE"
            how = ""
            if acknowledgement is not None:
                how = f" by {visible(str(acknowledgement.detail.get('how', '?')))}"
                if acknowledgement.actor != "lethe":
                    how += f", {visible(acknowledgement.actor)}"
            lines.append(f"receipt acknowledged {_when(clock.acknowledged_at)}{how} ({on_time})")
        elif rec.completed_at is None:
            lines.append(f"receipt not acknowledged yet; due by {_when(clock.acknowledge_by)}")
    return lines
