"""Verbs that erase a system again, as a later round of the same request:
``lethe sweeper install|run-once``, ``lethe retry``, ``lethe backups replay``.

What may be erased again, and why not, is ``lethe/operations/later_rounds.py``'s."""

from __future__ import annotations

from typing import Any

import click

from workflows import StartedRound

from ..errors import LetheError
from ..intake import EXTRA_KINDS, check_identifiers, parse_identifiers
from ..operations.later_rounds import (
    Replay,
    Retry,
    install_sweeper_schedule,
    replay_backup,
    retry_system,
    sweep_now,
)
from ..sweeper import schedule_id
from ._app import app, call, console, emit_json, invocation_settings, json_option
from ._values import (
    PSEUDONYM,
    note_rewritten,
    operator_name,
    reason_text,
    stdin_line,
    system_names,
)

__all__ = ["backups", "retry", "sweeper"]

_TIMEOUT = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds --wait waits at most.",
)


def _started(s: StartedRound) -> dict[str, Any]:
    return {
        "request_id": s.request_id,
        "system": s.system,
        "round": s.round,
        "trigger": s.trigger,
        "workflow_id": s.workflow_id,
    }


# -- sweeper ----------------------------------------------------------------------------------


@app.group()
def sweeper() -> None:
    """The retention sweeper: re-erases what was kept once its date passes."""


@sweeper.command("install")
@json_option
def sweeper_install(as_json: bool) -> None:
    """Create or update the sweeper's Temporal Schedule (workers also do it at start)."""
    settings = invocation_settings()
    how = call(install_sweeper_schedule)
    info = {
        "schedule_id": schedule_id(settings.temporal.task_queue),
        "result": how,
        "every_minutes": settings.retention.sweep_every_minutes,
        "task_queue": settings.temporal.task_queue,
    }
    if as_json:
        emit_json(info)
    else:
        console.print(
            f"Schedule {info['schedule_id']} {how}: a sweep every "
            f"{info['every_minutes']} minutes on task queue {info['task_queue']}."
        )


@sweeper.command("run-once")
@click.option("--wait", is_flag=True, help="Also wait for the rounds the sweep starts.")
@_TIMEOUT
@json_option
def sweeper_run_once(wait: bool, timeout: float, as_json: bool) -> None:
    """Run one sweep now (a worker must be running)."""
    done = call(sweep_now, wait=wait, timeout=timeout)
    r = done.result
    if as_json:
        emit_json(
            {
                "workflow_id": done.workflow_id,
                "started": [_started(s) for s in r.started],
                "already_running": list(r.already_running),
                "shredded": list(r.shredded),
                "finished": done.finished,
            }
        )
        return
    if not r.started and not r.already_running:
        console.print("Nothing is due.")
    for s in r.started:
        outcome = done.finished.get(s.workflow_id)
        console.print(
            f"{s.request_id} {s.system}: round {s.round} ({s.trigger})"
            + (f" → {outcome}" if outcome else " started")
        )
    for wid in r.already_running:
        console.print(f"{wid}: already running")
    if r.shredded:
        console.print(f"Identifiers shredded for {len(r.shredded)} finished request(s).")


# -- retry ------------------------------------------------------------------------------------


def _identifiers(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--identifier KIND=VALUE`` as ``lethe submit`` reads and checks them (``KIND=-``: the
    value from the next line of stdin); one line that never repeats a value, else."""
    extra = parse_identifiers(pairs)
    for kind, value in list(extra.items()):
        if value == "-":
            extra[kind] = stdin_line(f"--identifier {kind}=-")
    return dict(check_identifiers(extra))


@app.command()
@click.argument("request_id")
@click.option("--system", "system", required=True, help="The system that failed.")
@click.option(
    "--reason",
    required=True,
    help="Why a retry should work now (the person's details are removed).",
)
@click.option(
    "--identifier",
    "identifiers",
    metavar="KIND=VALUE",
    multiple=True,
    help="An identifier the request lacked (the system was not searched for want of it),"
    f" sealed in the request's vault before the retry (repeatable); KIND is one of"
    f" {', '.join(EXTRA_KINDS)}. VALUE '-' reads it from the next line of stdin.",
)
@click.option("--operator", help="Who retries (default: LETHE_OPERATOR or your login).")
@click.option("--wait", is_flag=True, help="Wait for the round to finish.")
@_TIMEOUT
@json_option
def retry(
    request_id: str,
    system: str,
    reason: str,
    identifiers: tuple[str, ...],
    operator: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Erase a failed or not-searched system again, as the next round of the same request.

    Also while the request is still open (another system waits for a controller, say), once
    this system has failed: the request's status, when it is answered, counts the retry.
    Refused while the system's own erasure is still running, or a round of it already is.

    A system not searched because the request lacked an identifier one of its rules needs
    (lethe status says which): add it with --identifier KIND=VALUE (KIND=- reads the value
    from stdin, out of the process list and shell history); it is sealed in the request's
    vault like the ones given at submit, and the retry searches with it.
    """
    order = Retry(
        request_id.strip(),
        system.strip(),
        reason_text(reason, "why a retry should work now"),
        operator_name(operator),
        _identifiers(identifiers),
    )
    done = call(retry_system, order, wait=timeout if wait else None, rewritten=note_rewritten)
    started, finished = done.started, done.finished
    if as_json:
        emit_json(
            {
                **_started(started),
                "outcome": finished.get(started.workflow_id),
                "identifiers_added": done.identifiers_added,
            }
        )
        return
    if done.identifiers_added:
        console.print(f"Sealed in {order.request_id}'s vault: {', '.join(done.identifiers_added)}.")
    if done.still_missing:
        console.print(
            f"Note: {order.system} also lacked {', '.join(done.still_missing)}; what needs it is"
            " still not searched (add it with --identifier in another retry)."
        )
    console.print(
        f"Retrying {order.system} of {order.request_id} as round {started.round} "
        f"({started.workflow_id})" + (f": {finished[started.workflow_id]}" if finished else ".")
    )


# -- backups replay ---------------------------------------------------------------------------


@app.group()
def backups() -> None:
    """After restoring a backup: erase again what the restore brought back."""


@backups.command("replay")
@click.option("--pseudonym", "ps", help="Every request of this person (ps_…).")
@click.option("--request", "request_id", help="One request.")
@click.option("--systems", help="Only these systems (default: all of the request's).")
@click.option(
    "--reason",
    required=True,
    help="Which restore (system, backup date; the person's details are removed).",
)
@click.option("--operator", help="Who replays (default: LETHE_OPERATOR or your login).")
@click.option("--wait", is_flag=True, help="Wait for the rounds to finish.")
@_TIMEOUT
@json_option
def backups_replay(
    ps: str | None,
    request_id: str | None,
    systems: str | None,
    reason: str,
    operator: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Re-run erasure for requests whose subject a restored backup may bring back.

    The ledger's pseudonyms are the tombstones: every request of the person (or the one
    given) gets a new round in the chosen systems. A request still open is replayed only in
    the systems whose own erasure has ended; the others are listed as skipped. Requests whose
    identifiers were already shredded cannot be replayed and are listed as such.
    """
    if (ps is None) == (request_id is None):
        raise LetheError("name what to replay with one of --pseudonym ps_… or --request ID")
    if ps is not None and not PSEUDONYM.match(ps.strip()):
        raise LetheError("a pseudonym looks like ps_ followed by 32 hex digits (see lethe status)")
    order = Replay(
        reason_text(reason, "which restore (system and backup date)"),
        operator_name(operator),
        subject_ref=ps.strip() if ps else None,
        request_id=request_id.strip() if request_id else None,
        systems=system_names(systems),
    )
    done = call(replay_backup, order, wait=timeout if wait else None, rewritten=note_rewritten)
    if as_json:
        emit_json(
            {
                "started": [
                    {**_started(s), "outcome": done.finished.get(s.workflow_id)}
                    for s in done.started
                ],
                "skipped": [sk.to_dict() for sk in done.skipped],
            }
        )
        return
    for s in done.started:
        outcome = done.finished.get(s.workflow_id)
        tail = f" → {outcome}" if outcome is not None else " started"
        console.print(f"{s.request_id} {s.system}: round {s.round}{tail}")
    for sk in done.skipped:
        console.print(f"{sk.request_id}: skipped ({sk.why})")
