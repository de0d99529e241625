"""What an operator needs to know about one request beyond its status: the clock (acknowledged?
extended? how long left?) and what the request waits for next, with the command that does it.

``lethe status`` prints these lines after the summary, and its ``--json`` carries the clock as
data (``clock_to_dict``). Everything here reads ledger records; nothing is written.
``next_steps`` lives in ``ledger/next_steps.py``: the operators' alerts, sent by activities,
carry the same ``Next:`` lines.

For an open request (or one with a later round under way) :func:`check_progress` also asks
Temporal whether anything holds it up (``activities/progress.py``: failing workflow tasks, no
worker polling, a system retried or waiting for a worker that has it, a workflow gone), so
that status never says "the systems are being erased" of a request that is not moving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors import Subject
from ledger import ErasureRequestRecord, ErasureRounds, LedgerError, RequestClock, RequestEvent
from ledger.next_steps import ACKNOWLEDGE_SOON, next_steps
from vocabulary import AlertEvent, iso, when

from .errors import UnreachableError
from .runtime import Runtime
from .terminal import visible

if TYPE_CHECKING:
    from activities import Holdup

__all__ = [
    "ACKNOWLEDGE_SOON",
    "ProgressCheck",
    "check_progress",
    "clock_lines",
    "clock_to_dict",
    "next_steps",
    "progress_lines",
]


@dataclass(frozen=True)
class ProgressCheck:
    """What Temporal says of an open request: ``holdups`` found, or why it could not be asked."""

    holdups: list[Holdup] = field(default_factory=list)
    unchecked: str | None = None  # Temporal could not be asked, and why

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.unchecked is None,
            "unchecked_because": self.unchecked,
            "holdups": [h.to_dict() for h in self.holdups],
        }


async def check_progress(
    rt: Runtime, rec: ErasureRequestRecord, *, timeout: float = 5.0
) -> ProgressCheck | None:
    """Whether anything holds ``rec`` up; None for a finished request with no round running
    (nothing to ask Temporal about)."""
    if rec.completed_at is not None and not any(
        r.finished_at is None for r in await ErasureRounds(rt.ledger).rounds(rec.request_id)
    ):
        return None
    try:
        ref, ids = await rt.ledger.read_identifiers(rec.request_id)
        person: Subject | None = Subject(ref=ref, email=ids.pop("email", ""), identifiers=ids)
    except LedgerError:
        person = None
    # Only here is Temporal asked: status of a finished request never loads its client.
    from temporalio.service import RPCError

    from activities import holdups

    from .temporal import connect

    address = rt.settings.temporal.address
    try:
        client = await connect(rt.settings.temporal, rt.keys, timeout=timeout)
        found = await holdups(client, rt.ledger, rec, person=person, now=datetime.now(UTC))
    except UnreachableError as exc:
        return ProgressCheck(unchecked=str(exc).split(" — ")[0])
    except RPCError as exc:
        first = exc.message.splitlines()[0] if exc.message else exc.status.name
        return ProgressCheck(unchecked=f"Temporal at {address} refused: {first}")
    except (RuntimeError, TimeoutError) as exc:
        return ProgressCheck(unchecked=f"cannot reach Temporal at {address}: {str(exc)[:120]}")
    return ProgressCheck(found)


def progress_lines(progress: ProgressCheck | None, events: Sequence[RequestEvent]) -> list[str]:
    """What ``lethe status`` says of a request's progress, and of signals refused."""
    lines = []
    refused = [e for e in events if e.kind == AlertEvent.PAYLOAD_REFUSED]
    if refused:
        last = refused[-1]
        lines.append(
            f"Refused: {len(refused)} signal(s) not encrypted under the payload key (last:"
            f" {visible(str(last.detail.get('signal', '?')))} at {last.at:%Y-%m-%d %H:%M} UTC);"
            " nothing changed."
            " Someone reached Temporal without Lethe's keys: see docs/threat-model.md"
        )
    lines += manual_task_lines(events)

    for e in events:
        if e.kind == AlertEvent.PROCESSOR_OVERDUE:
            system = visible(str(e.detail.get("system", "?")))
            lines.append(
                f"Escalated: the processor of {system} did not answer by"
                f" {visible(str(e.detail.get('answer_by', '?')))}, the time it promised"
                f" (ticket {visible(str(e.detail.get('ticket', '?')))}): ask it, then"
                f" lethe retry {e.request_id} --system {system}"
            )
    if progress is None:
        return lines
    lines += [f"Not progressing: {visible(h.what)}" for h in progress.holdups]
    if progress.unchecked:
        lines.append(
            f"Progress unknown: {visible(progress.unchecked)}; whether the systems are being erased"
            " cannot be told from here"
        )
    return lines


def manual_task_lines(events: Sequence[RequestEvent]) -> list[str]:
    """A line for each manual task still waiting for its answer (``connectors.manual``)."""
    answered = {
        (e.detail.get("system"), e.detail.get("round"))
        for e in events
        if e.kind in ("manual_task_done", "manual_task_retained")
    }
    overdue = {
        (e.detail.get("system"), e.detail.get("round"))
        for e in events
        if e.kind == "manual_task_overdue"
    }
    lines = []
    for e in events:
        where = (e.detail.get("system"), e.detail.get("round"))
        if e.kind != "manual_task_opened" or where in answered:
            continue
        system = visible(str(where[0]))
        late = "OVERDUE, " if where in overdue else ""
        lines.append(
            f"Manual task: {system} waits for {visible(str(e.detail.get('assignee', '?')))}"
            f" ({late}due {str(e.detail.get('due_at', '?'))[:16].replace('T', ' ')} UTC):"
            f" lethe task show {e.request_id} --system {system}, then lethe task done …"
            " or lethe task retain …"
        )
    return lines


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
        "original_due_at": iso(clock.original_due_at),
        "acknowledge_by": iso(clock.acknowledge_by),
        "acknowledge_rule": clock.acknowledge_rule,
        "acknowledged_at": iso(clock.acknowledged_at),
        "extension_limit": iso(clock.extension_limit),
        "no_extension_because": clock.no_extension_because,
        "extended_at": iso(clock.extended_at),
        "extended_by": clock.extended_by,
        "extension_reason": clock.extension_reason,
        "reminded_at": iso(clock.reminded_at),
        "overdue_at": iso(clock.overdue_at),
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
        lines.append(f"answer due {when(rec.due_at)}: {_left(rec.due_at, now)}")
    if clock is None:
        return lines
    if clock.extended_at is not None:
        # Who and why were typed by an operator: shown as text, on this one line.
        lines.append(
            f"extended on {clock.extended_at:%Y-%m-%d} by {visible(clock.extended_by or '?')}"
            f" from {when(clock.original_due_at)}:"
            f" {visible(clock.extension_reason or '')}".rstrip(": ")
        )
    elif rec.completed_at is None and clock.extension_limit is not None:
        lines.append(f"may be extended once, to {when(clock.extension_limit)} at most")
    if clock.acknowledge_by is not None:
        if clock.acknowledged_at is not None:
            on_time = "on time" if clock.acknowledged_at <= clock.acknowledge_by else "LATE"
            how = ""
            if acknowledgement is not None:
                how = f" by {visible(str(acknowledgement.detail.get('how', '?')))}"
                if acknowledgement.actor != "lethe":
                    how += f", {visible(acknowledgement.actor)}"
            lines.append(f"receipt acknowledged {when(clock.acknowledged_at)}{how} ({on_time})")
        elif rec.completed_at is None:
            lines.append(f"receipt not acknowledged yet; due by {when(clock.acknowledge_by)}")
    return lines
