"""Verbs of the statutory clock: extend (one extension, with a reason, when the rules allow),
acknowledge (record that receipt was acknowledged by other means than Lethe's mail).

``lethe list --overdue`` and ``--due-within`` live with ``list`` in ``requests.py``.
"""

from __future__ import annotations

from datetime import date, datetime

import click

from workflows import ACKNOWLEDGEMENT_CHANNELS

from ..errors import LetheError
from ..operations.clock import acknowledge_receipt, extend_deadline
from ._app import app, call, console, emit_json, json_option
from ._values import note_rewritten, operator_name, reason_text

__all__ = ["acknowledge", "extend", "parse_until"]


def parse_until(text: str) -> date | datetime:
    """``2026-03-15`` (a day: its end in the controller's zone) or an ISO date-time."""
    text = text.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise LetheError(f"--until: cannot read {text!r} as a date (YYYY-MM-DD)") from None


@app.command()
@click.argument("request_id")
@click.option(
    "--reason",
    required=True,
    help="Why more time is needed (the requester is told; their details are removed).",
)
@click.option("--until", help="A date earlier than the most the rules allow (YYYY-MM-DD).")
@click.option("--operator", help="Who decides (default: LETHE_OPERATOR or your login).")
@json_option
def extend(
    request_id: str, reason: str, until: str | None, operator: str | None, as_json: bool
) -> None:
    """Extend a request's answer deadline once, as far as the rules that apply allow."""
    reason = reason_text(reason, "why more time is needed", limit=1000)
    if until is not None and not until.strip():
        # Never read as "no --until": that would spend the one extension on the maximum.
        raise LetheError(
            "--until is empty: give a date (YYYY-MM-DD), or leave it out for the most the"
            " rules allow"
        )
    who = f"operator:{operator_name(operator)}"  # as every other operator's act is recorded
    request_id = request_id.strip()
    wanted = parse_until(until) if until is not None else None
    done = call(extend_deadline, request_id, reason, who, until=wanted, rewritten=note_rewritten)
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "due_at": done.due_at.isoformat(),
                "previous_due_at": done.previous_due_at.isoformat(),
                "extended_by": done.extended_by,
                "reason": done.reason,
            }
        )
    else:
        console.print(
            f"Extended {request_id}: answer due {done.due_at:%Y-%m-%d %H:%M} UTC"
            f" (was {done.previous_due_at:%Y-%m-%d %H:%M}). The requester is told, with the"
            " reason."
        )


@app.command()
@click.argument("request_id")
@click.option(
    "--channel",
    type=click.Choice(ACKNOWLEDGEMENT_CHANNELS),
    help="Required: how the requester was told (the words of submit --channel; mail: a letter"
    " by post).",
)
@click.option(
    "--reason",
    required=True,
    help="A reference: the call log entry, the letter's number (the person's details are removed).",
)
@click.option("--operator", help="Who acknowledged (default: LETHE_OPERATOR or your login).")
@json_option
def acknowledge(
    request_id: str, channel: str | None, reason: str, operator: str | None, as_json: bool
) -> None:
    """Record that receipt of a request was acknowledged to the requester by other means
    (Lethe could not mail it: no mail server, or the mail failed).

    The record keeps who, how and when, on time or late against the acknowledge-by date;
    status, audit show and audit export then see the request as acknowledged, and the
    acknowledgement escalation does not fire (if it has not yet). Only for a request still
    open: a finished request has had its answer, which says more than a receipt. One that the
    request refuses (it finished first) leaves an acknowledgement_refused event: who, how,
    the reference and why, so that the record shows the requester was told.
    """
    if channel is None:  # not click's required=True: its message lists the choices on 7 lines
        raise LetheError(
            f"--channel is missing: how the requester was told"
            f" ({', '.join(ACKNOWLEDGEMENT_CHANNELS)})"
        )
    reason = reason_text(reason, "how the requester was told (a reference)")
    who = f"operator:{operator_name(operator)}"
    request_id = request_id.strip()
    done = call(acknowledge_receipt, request_id, channel, reason, who, rewritten=note_rewritten)
    answer, by = done.answer, done.acknowledged_by
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "acknowledged_at": answer.at.isoformat(),
                "acknowledge_by": (
                    answer.acknowledge_by.isoformat() if answer.acknowledge_by else None
                ),
                "on_time": answer.on_time,
                "channel": channel,
                "acknowledged_by": by,
                "reason": done.reason,
            }
        )
        return
    due = f" (due by {answer.acknowledge_by:%Y-%m-%d %H:%M} UTC)" if answer.acknowledge_by else ""
    console.print(
        f"Acknowledged {request_id} by {channel} as {by}:"
        f" {'on time' if answer.on_time else 'LATE'}{due}."
    )
