"""Verbs of the statutory clock: extend (one extension, with a reason, when the rules allow),
acknowledge (record that receipt was acknowledged by other means than Lethe's mail).

``lethe list --overdue`` and ``--due-within`` live with ``list`` in ``requests.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import click
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from ledger import DeadlineRecords
from workflows import (
    ACKNOWLEDGEMENT_CHANNELS,
    DeadlineExtension,
    ErasureWorkflow,
    ReceiptAcknowledgement,
)

from ..deadlines import STATUTES, ExtensionRefused, decide_extension, zone
from ..errors import LetheError, NotFoundError
from ..free_text import PersonText
from ..runtime import Runtime
from ._app import app, console, emit_json, failure_text, json_option, run, with_runtime
from ._values import operator_name, reason_text, scrubbed

__all__ = ["acknowledge", "extend", "parse_until"]


def parse_until(text: str, timezone: str) -> datetime:
    """``2026-03-15`` (the end of that day in the controller's zone) or an ISO date-time."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(23, 59, 59), zone(timezone)).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LetheError(f"--until: cannot read {text!r} as a date (YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment.astimezone(UTC)


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

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        clock = await DeadlineRecords(rt.ledger).clock(request_id)
        if clock is None or rec.jurisdiction not in STATUTES:
            raise LetheError(
                f"cannot extend {request_id}: no deadline rule is known for it"
                f" (jurisdiction {rec.jurisdiction})"
            )
        if rec.completed_at is not None:
            raise LetheError(f"cannot extend {request_id}: it has finished ({rec.status})")
        wanted = parse_until(until, clock.timezone) if until is not None else None
        try:
            new_due = decide_extension(
                answer_by=rec.due_at,
                extension_limit=clock.extension_limit,
                no_extension_because=clock.no_extension_because,
                extended_at=clock.extended_at,
                now=datetime.now(UTC),
                until=wanted,
            )
        except ExtensionRefused as exc:
            raise LetheError(f"cannot extend {request_id}: {exc}") from None
        person = await PersonText.for_request(rt.ledger, request_id)
        why, by = scrubbed(person, reason, who, limit=1000)
        client = await rt.client()
        handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
        try:
            await handle.execute_update(
                ErasureWorkflow.extend_deadline, DeadlineExtension(new_due, why, by)
            )
        except WorkflowUpdateFailedError as exc:
            raise LetheError(f"cannot extend {request_id}: {failure_text(exc)}") from None
        except RPCError as exc:
            raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
        if as_json:
            emit_json(
                {
                    "request_id": request_id,
                    "due_at": new_due.isoformat(),
                    "previous_due_at": rec.due_at.isoformat(),
                    "extended_by": by,
                    "reason": why,
                }
            )
        else:
            console.print(
                f"Extended {request_id}: answer due {new_due:%Y-%m-%d %H:%M} UTC"
                f" (was {rec.due_at:%Y-%m-%d %H:%M}). The requester is told, with the reason."
            )

    run(with_runtime(go))


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

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        records = DeadlineRecords(rt.ledger)
        clock = await records.clock(request_id)
        if clock is None:
            raise LetheError(
                f"cannot acknowledge {request_id}: it was filed before deadlines were kept"
            )
        if clock.acknowledged_at is not None:
            event = await records.acknowledgement(request_id)
            how = f"{event.detail.get('how', '?')}, by {event.actor}" if event else "?"
            raise LetheError(
                f"{request_id} was already acknowledged on"
                f" {clock.acknowledged_at:%Y-%m-%d %H:%M} UTC ({how})"
            )
        person = await PersonText.for_request(rt.ledger, request_id)
        why, by = scrubbed(person, reason, who)

        async def refused(because: str) -> LetheError:
            # The requester was told, but the record could not take it: it keeps a trace
            # (who, how, the reference) instead of nothing.
            await rt.ledger.add_event(
                request_id,
                "acknowledgement_refused",
                at=datetime.now(UTC),
                actor=by[:120],
                detail={"channel": channel, "reason": why, "refused_because": because[:300]},
            )
            return LetheError(f"cannot acknowledge {request_id}: {because}")

        def finished(status: str) -> str:
            return (
                f"it has finished ({status}) and its answer went out; an acknowledgement no"
                " longer matters (recorded as acknowledgement_refused)"
            )

        if rec.completed_at is not None:
            raise await refused(finished(rec.status))
        client = await rt.client()
        handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
        try:
            done = await handle.execute_update(
                ErasureWorkflow.acknowledge_receipt, ReceiptAcknowledgement(channel, why, by)
            )
        except WorkflowUpdateFailedError as exc:
            # Refused by the request itself: it finished in the meantime, or was acknowledged.
            because = f"{failure_text(exc)} (recorded as acknowledgement_refused)"
            raise await refused(because) from None
        except RPCError as exc:
            now = await rt.ledger.get_request(request_id)
            if now is not None and now.completed_at is not None:
                # It finished between our look and the update: its workflow is closed.
                raise await refused(finished(now.status)) from None
            raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
        if as_json:
            emit_json(
                {
                    "request_id": request_id,
                    "acknowledged_at": done.at.isoformat(),
                    "acknowledge_by": (
                        done.acknowledge_by.isoformat() if done.acknowledge_by else None
                    ),
                    "on_time": done.on_time,
                    "channel": channel,
                    "acknowledged_by": by,
                    "reason": why,
                }
            )
            return
        due = f" (due by {done.acknowledge_by:%Y-%m-%d %H:%M} UTC)" if done.acknowledge_by else ""
        console.print(
            f"Acknowledged {request_id} by {channel} as {by}:"
            f" {'on time' if done.on_time else 'LATE'}{due}."
        )

    run(with_runtime(go))
