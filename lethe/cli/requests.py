"""Verbs an operator uses on requests: submit, approve, status, list."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from ledger import DeadlineRecords
from workflows import CancelOrder, ErasureWorkflow, OperatorApproval

from ..deadlines import parse_duration
from ..errors import LetheError, NotFoundError
from ..intake import submit_request, validate_request
from ..render import outcome_table, request_summary, request_table, request_to_dict
from ..runtime import Runtime, load_registry
from ..settings import build_connectors, load_settings
from ._app import app, console, emit_json, failure_text, json_option, run, with_runtime

__all__ = ["CHANNELS", "approve", "cancel", "list_requests", "status", "submit"]

#: How a person can make a request; "cli" when an operator does not say.
CHANNELS = ("email", "web-form", "portal", "phone", "mail", "in-person", "cli")


def _operator(explicit: str | None) -> str:
    name = explicit or os.environ.get("LETHE_OPERATOR")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = ""
    if not name or not name.strip():
        raise LetheError("say who you are: --operator NAME or LETHE_OPERATOR")
    return name.strip()


async def _show(rt: Runtime, request_id: str, *, as_json: bool, events: bool = False) -> None:
    rec = await rt.ledger.get_request(request_id)
    if rec is None:
        raise NotFoundError(f"no erasure request with id {request_id!r}")
    outcomes = await rt.ledger.outcomes(request_id)
    if as_json:
        emit_json(
            request_to_dict(
                rec,
                outcomes,
                await rt.ledger.exceptions(request_id),
                await rt.ledger.events(request_id),
            )
        )
        return
    console.print(request_summary(rec))
    if outcomes:
        console.print(outcome_table(outcomes))
    elif rec.status in {"received", "awaiting_verification"}:
        console.print(f"No system has been touched yet; systems: {', '.join(rec.systems)}")
    if events:
        for e in await rt.ledger.events(request_id):
            console.print(f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<24} {e.actor}", style="dim")


@app.command()
@click.argument("email")
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
@json_option
def submit(
    email: str,
    jurisdiction: str | None,
    systems: str | None,
    verification: str | None,
    assertion: str | None,
    assertion_file: str | None,
    wait: bool,
    timeout: float,
    allow_duplicate: bool,
    channel: str,
    as_json: bool,
) -> None:
    """Receive an erasure request for EMAIL and start it. Prints the request id."""
    settings = load_settings()
    chosen = systems.split(",") if systems is not None else None
    if assertion is not None and assertion_file is not None:
        raise LetheError("give --assertion or --assertion-file, not both")
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
    )
    # Options typos fail now, with the system's name, not halfway through a request.
    build_connectors({n: settings.systems[n] for n in draft.systems}, load_registry())

    async def go(rt: Runtime) -> None:
        client = await rt.client()
        done = await submit_request(
            draft,
            settings=settings,
            ledger=rt.ledger,
            client=client,
            keys=rt.keys,
            allow_duplicate=allow_duplicate,
            channel=channel,
        )
        if not as_json:
            console.print(
                f"Received {done.request_id} ({draft.jurisdiction.upper()}, answer due "
                f"{done.due_at:%Y-%m-%d}); systems: {', '.join(done.systems)}"
            )
            if done.verification_method == "operator":
                console.print(
                    f"Waiting for identity verification: lethe approve {done.request_id} "
                    "--reason '…'"
                )
            elif done.verification_method == "email":
                console.print(
                    "A code goes to the address on file; when the requester gives it back: "
                    f"lethe verify {done.request_id} --code …"
                )
        if wait:
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            try:
                await asyncio.wait_for(handle.result(), timeout=timeout)
            except TimeoutError:
                raise LetheError(
                    f"{done.request_id} did not finish within {timeout:g} s; "
                    f"it goes on: lethe status {done.request_id}"
                ) from None
            except WorkflowFailureError as exc:
                raise LetheError(f"{done.request_id} failed: {exc.cause}") from None
            await _show(rt, done.request_id, as_json=as_json)
        elif as_json:
            emit_json(
                {
                    "request_id": done.request_id,
                    "workflow_id": done.workflow_id,
                    "subject_ref": done.subject_ref,
                    "systems": list(done.systems),
                    "received_at": done.received_at.isoformat(),
                    "due_at": done.due_at.isoformat(),
                    "verification_method": done.verification_method,
                    "status": "received",
                }
            )

    run(with_runtime(go, settings))


@app.command()
@click.argument("request_id")
@click.option("--reason", required=True, help="How the identity was confirmed.")
@click.option("--operator", help="Who approves (default: LETHE_OPERATOR or your login).")
@json_option
def approve(request_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Confirm the requester's identity (verification method 'operator')."""
    if not reason.strip():
        raise LetheError("--reason must say how the identity was confirmed")
    if len(reason.strip()) > 500:
        raise LetheError("--reason is longer than 500 characters")
    who = _operator(operator)

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        if rec.verification_method != "operator":
            raise LetheError(
                f"{request_id} is verified by {rec.verification_method!r}, not by an operator"
            )
        if rec.status not in {"received", "awaiting_verification"}:
            raise LetheError(f"{request_id} is not waiting for verification (status {rec.status})")
        client = await rt.client()
        try:
            await client.get_workflow_handle(rec.workflow_id).signal(
                ErasureWorkflow.approve, OperatorApproval(who, reason.strip())
            )
        except RPCError as exc:
            raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
        if as_json:
            emit_json({"request_id": request_id, "approved_by": who, "reason": reason.strip()})
        else:
            console.print(f"Approved {request_id} as {who}; erasure starts now.")

    run(with_runtime(go))


@app.command()
@click.argument("request_id")
@click.option("--reason", required=True, help="Why the request is withdrawn.")
@click.option("--operator", help="Who cancels (default: LETHE_OPERATOR or your login).")
@json_option
def cancel(request_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Withdraw a request before its identity is verified (nothing has been erased yet).

    Once identity is verified, erasure may be under way and cannot be called back: use
    `lethe hold add` to keep what has not been erased yet.
    """
    if not reason.strip():
        raise LetheError("--reason must say why the request is withdrawn")
    if len(reason.strip()) > 500:
        raise LetheError("--reason is longer than 500 characters")
    who = _operator(operator)

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        if rec.completed_at is not None:
            raise LetheError(f"{request_id} has already finished ({rec.status})")
        if rec.status not in {"received", "awaiting_verification"}:
            raise LetheError(
                f"{request_id} is {rec.status}: what is erased cannot be called back"
                " (place a legal hold to keep what is not erased yet)"
            )
        client = await rt.client()
        handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
        try:
            await handle.execute_update(
                ErasureWorkflow.cancel_request, CancelOrder(who, reason.strip())
            )
        except WorkflowUpdateFailedError as exc:
            raise LetheError(f"{request_id}: not cancelled: {failure_text(exc)}") from None
        except RPCError as exc:
            raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
        # The workflow records the final status itself; wait (briefly) to report it.
        for _ in range(100):
            rec = await rt.ledger.require_request(request_id)
            if rec.status == "cancelled":
                break
            await asyncio.sleep(0.1)
        if as_json:
            emit_json({"request_id": request_id, "status": rec.status, "cancelled_by": who})
        else:
            console.print(f"Cancelled {request_id} as {who}: nothing was erased ({rec.status}).")

    run(with_runtime(go))


@app.command()
@click.argument("request_id")
@click.option("--events", is_flag=True, help="Also list the request's events.")
@json_option
def status(request_id: str, events: bool, as_json: bool) -> None:
    """Show a request: its clock, status and every system's outcome (from the ledger)."""

    async def go(rt: Runtime) -> None:
        await _show(rt, request_id.strip(), as_json=as_json, events=events)

    run(with_runtime(go))


@app.command("list")
@click.option("--status", "status_filter", help="Only requests with this status.")
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

    async def go(rt: Runtime) -> None:
        if overdue or within is not None:
            recs = [
                r
                for r in await DeadlineRecords(rt.ledger).due_requests(
                    now=datetime.now(UTC), overdue=overdue, within=within, limit=limit
                )
                if status_filter is None or r.status == status_filter
            ]
        else:
            recs = await rt.ledger.list_requests(status=status_filter, limit=limit)
        if as_json:
            emit_json([request_to_dict(r) for r in recs])
        elif recs:
            console.print(request_table(recs))
        else:
            filtered = overdue or within is not None or status_filter is not None
            console.print("No request matches." if filtered else "No requests yet.")

    run(with_runtime(go))
