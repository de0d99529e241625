"""Verbs an operator uses on requests: submit, approve, status, list."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from vocabulary import UNVERIFIED_STATUSES, RequestStatus, VerificationMethod

from ..attention import clock_lines, clock_to_dict, progress_lines
from ..deadlines import parse_duration
from ..errors import LetheError
from ..intake import (
    CHANNELS,
    EXTRA_KINDS,
    parse_identifiers,
    parse_received_at,
    validate_request,
)
from ..operations.requests import (
    RequestView,
    await_answer,
    cancel_request,
    find_requests,
    receive_request,
    request_view,
)
from ..render import outcome_table, request_summary, request_table, request_to_dict
from ..runtime import load_registry
from ..terminal import visible
from ._app import app, call, console, emit_json, invocation_settings, json_option, look
from ._values import (
    address_argument,
    choice_of,
    note_rewritten,
    operator_name,
    reason_text,
    stdin_line,
)

__all__ = ["approve", "cancel", "list_requests", "status", "submit"]

_DETAIL_KEYS = frozenset({"outcomes", "retained_exceptions", "events"})


def _show(view: RequestView, *, as_json: bool, events: bool = False) -> None:
    rec = view.request
    if as_json:
        emit_json(
            {
                **request_to_dict(
                    rec, view.outcomes, view.exceptions, view.events, sealed=view.sealed
                ),
                "clock": clock_to_dict(view.clock),
                "progress": view.progress.to_dict() if view.progress is not None else None,
            }
        )
        return
    console.print(request_summary(rec, sealed=view.sealed))
    for e in view.events:
        if e.kind == "entered":  # received earlier (by post, in a mailbox), entered late
            console.print(
                f"  received by {rec.channel}, entered {e.at:%Y-%m-%d %H:%M} UTC by"
                f" {visible(e.actor)} (the deadlines count from the receipt)"
            )
    for line in clock_lines(rec, view.clock, datetime.now(UTC), view.acknowledgement):
        console.print(f"  {line}")
    if view.outcomes:
        console.print(outcome_table(view.outcomes))
    elif rec.status in UNVERIFIED_STATUSES:
        console.print(f"No system has been touched yet; systems: {', '.join(rec.systems)}")
    for line in progress_lines(view.progress, view.events):
        console.print(visible(line), style="bold red" if line.startswith("Not") else None)
    for step in view.next_steps:
        console.print(f"Next: {visible(step)}")
    if events:
        for e in view.events:
            console.print(
                f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<24} {visible(e.actor)}", style="dim"
            )


@app.command()
@click.argument("email", required=False)
@click.option(
    "--from",
    "from_file",
    metavar="FILE",
    help="Submit every request of FILE, one a line: JSON Lines or CSV with a header ('-' for"
    " stdin; fields: email, jurisdiction, systems, verification, assertion, channel,"
    " received_at and identifier kinds). Options given here are the lines' defaults. A bad"
    " line submits nothing unless --keep-going.",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="With --from: submit the good lines even if others are refused or fail.",
)
@click.option("--jurisdiction", "-j", help="gdpr or ccpa (default from lethe.toml: gdpr).")
@click.option("--systems", help="Comma-separated systems to erase from (default: all configured).")
@click.option(
    "--verification",
    help="How identity is established: email (a code to the address), operator, or"
    " preverified (with --assertion).",
)
@click.option("--assertion", help="The privacy portal's signed assertion (pre-verified).")
@click.option(
    "--assertion-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the assertion from a file ('-' for stdin) instead of the command line.",
)
@click.option("--wait", is_flag=True, help="Wait for the request to finish.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds --wait waits at most.",
)
@click.option(
    "--allow-duplicate", is_flag=True, help="File even if this person already has an open request."
)
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default="cli",
    show_default=True,
    help="How the person made the request (the record keeps it: CCPA §7101 'manner').",
)
@click.option(
    "--identifier",
    "identifiers",
    metavar="KIND=VALUE",
    multiple=True,
    help="Another identifier of the person, for systems keyed on it (repeatable); KIND is one"
    f" of {', '.join(EXTRA_KINDS)}. Sealed in the vault with the address. VALUE '-' reads it"
    " from the next line of stdin (after EMAIL's, if EMAIL is '-').",
)
@click.option(
    "--received-at",
    metavar="TIME",
    help="When the request arrived, if earlier (by post, in a mailbox): a date"
    " (midnight in [deadlines] timezone) or an ISO 8601 time with its zone"
    " (2026-03-02T09:30:00+01:00). Every deadline counts from it. At most 60 days ago.",
)
@click.option(
    "--operator",
    help="Who enters a --received-at request (default: LETHE_OPERATOR or your login).",
)
@json_option
def submit(
    email: str | None,
    from_file: str | None,
    keep_going: bool,
    jurisdiction: str | None,
    systems: str | None,
    verification: str | None,
    assertion: str | None,
    assertion_file: str | None,
    wait: bool,
    timeout: float,
    allow_duplicate: bool,
    channel: str,
    identifiers: tuple[str, ...],
    received_at: str | None,
    operator: str | None,
    as_json: bool,
) -> None:
    """Receive an erasure request for EMAIL and start it. Prints the request id.

    EMAIL '-' reads the address from stdin, out of the process list and shell history; so
    does an --identifier KIND=- (one line each, EMAIL's first, then in the order given).
    --from FILE submits many, each as one would be (see docs/operators-guide.md).
    """
    if from_file is not None:
        given = [
            flag
            for flag, used in (
                ("EMAIL", email is not None),
                ("--identifier", bool(identifiers)),
                ("--assertion", assertion is not None),
                ("--assertion-file", assertion_file is not None),
                ("--wait", wait),
            )
            if used
        ]
        if given:
            raise LetheError(f"--from reads each request from the file: {given[0]} goes with one")
        from .request_files import submit_from_file

        submit_from_file(
            from_file,
            jurisdiction=jurisdiction,
            systems=systems,
            verification=verification,
            channel=channel,
            received_at=received_at,
            operator=operator,
            allow_duplicate=allow_duplicate,
            keep_going=keep_going,
            as_json=as_json,
        )
        return
    if email is None:
        raise click.UsageError(
            "Missing argument 'EMAIL' (or --from FILE).", ctx=click.get_current_context()
        )
    if keep_going:
        raise LetheError("--keep-going goes with --from FILE")
    settings = invocation_settings()
    chosen = systems.split(",") if systems is not None else None
    if assertion is not None and assertion_file is not None:
        raise LetheError("give --assertion or --assertion-file, not both")
    extra = parse_identifiers(identifiers)
    from_stdin = [kind for kind, value in extra.items() if value == "-"]
    if email.strip() == "-" and assertion_file == "-":
        raise LetheError("EMAIL and --assertion-file cannot both come from stdin")
    if from_stdin and assertion_file == "-":
        raise LetheError(
            f"--identifier {from_stdin[0]} and --assertion-file cannot both come from stdin"
        )
    received = (
        parse_received_at(received_at, timezone=settings.deadlines.timezone)
        if received_at is not None
        else None
    )
    if operator is not None and received is None:
        raise LetheError("--operator names who enters a request received earlier: --received-at")
    entered_by = operator_name(operator) if received is not None else None
    email = address_argument(email)
    for kind in from_stdin:
        extra[kind] = stdin_line(f"--identifier {kind}=-")
    if assertion_file is not None:
        try:
            assertion = (
                sys.stdin.read() if assertion_file == "-" else Path(assertion_file).read_text()
            )
        except OSError as exc:
            raise LetheError(f"cannot read {assertion_file}: {exc.strerror}") from None
    draft = validate_request(
        settings,
        email=email,
        jurisdiction=jurisdiction,
        systems=chosen,
        verification=verification,
        assertion=assertion,
        extra_identifiers=extra,
        received_at=received,
    )
    from ..preflight import check_systems

    # What the worker would refuse, refused now, before anything is written; its secrets are
    # the worker's alone (lethe/preflight.py says what cannot be checked without them).
    check_systems(settings, load_registry(), jurisdiction=draft.jurisdiction, systems=draft.systems)

    received_as = call(
        receive_request,
        draft,
        allow_duplicate=allow_duplicate,
        channel=channel,
        entered_by=entered_by,
    )
    done = received_as.submitted
    if not as_json:
        console.print(
            f"Received {done.request_id} ({draft.jurisdiction.upper()}, answer due "
            f"{done.due_at:%Y-%m-%d}); systems: {', '.join(done.systems)}"
        )
        if received is not None:
            console.print(
                f"Received on {done.received_at:%Y-%m-%d %H:%M} UTC, entered now by"
                f" {received_as.entered_by}: the deadlines count from the receipt."
            )
            now = datetime.now(UTC)
            if done.acknowledge_by is not None and done.acknowledge_by < now:
                console.print(
                    f"The acknowledgement was due {done.acknowledge_by:%Y-%m-%d %H:%M} UTC:"
                    " it goes out now, and is recorded as late."
                )
            if done.due_at < now:
                console.print(
                    f"The answer was due {done.due_at:%Y-%m-%d %H:%M} UTC: it is OVERDUE.",
                    style="bold red",
                )
        if done.verification_method == VerificationMethod.OPERATOR:
            console.print(
                f"Waiting for identity verification: lethe approve {done.request_id} "
                "--reason '…'"
            )
        elif done.verification_method == VerificationMethod.EMAIL:
            console.print(
                "A code goes to the address on file; when the requester gives it back: "
                f"lethe verify {done.request_id} --code …"
            )
    if wait:
        _show(call(await_answer, done, timeout), as_json=as_json)
    elif as_json:
        from .request_files import submitted_to_dict

        emit_json(submitted_to_dict(done, draft.jurisdiction))


@app.command()
@click.argument("request_id")
@click.option(
    "--reason",
    required=True,
    help="How the identity was confirmed (a reference; the person's details are removed).",
)
@click.option("--operator", help="Who approves (default: LETHE_OPERATOR or your login).")
@json_option
def approve(request_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Confirm the requester's identity (verification method 'operator')."""
    reason = reason_text(reason, "how the identity was confirmed")
    who = operator_name(operator)
    request_id = request_id.strip()
    from ..operations.identity import approve_identity

    done = call(approve_identity, request_id, reason, who, rewritten=note_rewritten)
    if as_json:
        emit_json(
            {"request_id": done.request_id, "approved_by": done.approved_by, "reason": done.reason}
        )
    else:
        console.print(f"Approved {done.request_id} as {done.approved_by}; erasure starts now.")


@app.command()
@click.argument("request_id")
@click.option(
    "--reason",
    required=True,
    help="Why the request is withdrawn (a reference; the person's details are removed).",
)
@click.option("--operator", help="Who cancels (default: LETHE_OPERATOR or your login).")
@json_option
def cancel(request_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Withdraw a request before its identity is verified (nothing has been erased yet).

    Once identity is verified, erasure may be under way and cannot be called back: use
    `lethe hold add` to keep what has not been erased yet.
    """
    reason = reason_text(reason, "why the request is withdrawn")
    who = operator_name(operator)
    request_id = request_id.strip()
    done = call(cancel_request, request_id, reason, who, rewritten=note_rewritten)
    rec, by = done.request, done.cancelled_by
    if as_json:
        emit_json({"request_id": request_id, "status": rec.status, "cancelled_by": by})
    else:
        console.print(f"Cancelled {request_id} as {by}: nothing was erased ({rec.status}).")


@app.command()
@click.argument("request_id")
@click.option("--events", is_flag=True, help="Also list the request's events.")
@json_option
def status(request_id: str, events: bool, as_json: bool) -> None:
    """Show a request: its clock, status and every system's outcome (from the ledger)."""

    _show(look(request_view, request_id.strip()), as_json=as_json, events=events)


@app.command("list")
@click.option(
    "--status",
    "status_filter",
    type=choice_of(RequestStatus),
    help="Only requests with this status."
)
@click.option("--overdue", is_flag=True, help="Only open requests past their deadline.")
@click.option("--due-within", help="Only open requests due within this time (7d, 36h, 2w).")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="At most this many.",
)
@json_option
def list_requests(
    status_filter: str | None,
    overdue: bool,
    due_within: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List requests, newest first (with --overdue or --due-within: soonest deadline first)."""
    try:
        within = parse_duration(due_within) if due_within is not None else None
    except ValueError as exc:
        raise LetheError(f"--due-within: {exc}") from None

    found = look(
        find_requests, status=status_filter, overdue=overdue, due_within=within, limit=limit
    )
    recs, sealed = found.requests, found.sealed
    if as_json:
        # A summary per request; `lethe status ID --json` adds its outcomes and events
        # (empty lists here would claim a finished request had none).
        emit_json(
            [
                {
                    k: v
                    for k, v in request_to_dict(r, sealed=r.request_id in sealed).items()
                    if k not in _DETAIL_KEYS
                }
                for r in recs
            ]
        )
    elif recs:
        console.print(request_table(recs, sealed=sealed))
        if found.more:
            console.print(f"Showing the first {limit}; --limit N shows more.", style="dim")
    else:
        filtered = overdue or within is not None or status_filter is not None
        console.print("No request matches." if filtered else "No requests yet.")
