"""Verbs that erase a system again, as a later round of the same request:
``lethe sweeper install|run-once``, ``lethe retry``, ``lethe backups replay``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

from connectors import Subject
from ledger import (
    ErasureRequestRecord,
    ErasureRounds,
    LedgerError,
    SubjectVaultEntry,
    SystemOutcomeRecord,
    add_identifiers,
    missing_identifiers,
)
from vocabulary import FINAL_OUTCOMES, NOT_DONE, REFUSALS, OutcomeKind
from workflows import StartedRound, SystemRoundWorkflow

from ..errors import LetheError, NotFoundError
from ..free_text import PersonText
from ..intake import EXTRA_KINDS, parse_identifiers
from ..intake import _check_identifiers as check_identifiers
from ..runtime import Runtime
from ..settings import load_settings
from ..sweeper import RoundRefused, install_sweeper, run_sweep_once, schedule_id, start_round
from ._app import app, console, emit_json, json_option, run, with_runtime
from ._values import PSEUDONYM, operator_name, reason_text, scrubbed, stdin_line, systems_among

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


async def _wait_rounds(rt: Runtime, started: list[StartedRound], timeout: float) -> dict[str, str]:
    client = await rt.client()

    async def all_of() -> dict[str, str]:
        out = {}
        for s in started:
            handle = client.get_workflow_handle_for(SystemRoundWorkflow.run, s.workflow_id)
            out[s.workflow_id] = (await handle.result()).outcome
        return out

    try:
        return await asyncio.wait_for(all_of(), timeout=timeout)
    except TimeoutError:
        raise LetheError(
            f"the rounds did not finish within {timeout:g} s; they go on (lethe status ID)"
        ) from None


# -- sweeper ----------------------------------------------------------------------------------


@app.group()
def sweeper() -> None:
    """The retention sweeper: re-erases what was kept once its date passes."""


@sweeper.command("install")
@json_option
def sweeper_install(as_json: bool) -> None:
    """Create or update the sweeper's Temporal Schedule (workers also do it at start)."""
    settings = load_settings()

    async def go(rt: Runtime) -> None:
        how = await install_sweeper(await rt.client(), settings)
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

    run(with_runtime(go, settings))


@sweeper.command("run-once")
@click.option("--wait", is_flag=True, help="Also wait for the rounds the sweep starts.")
@_TIMEOUT
@json_option
def sweeper_run_once(wait: bool, timeout: float, as_json: bool) -> None:
    """Run one sweep now (a worker must be running)."""
    settings = load_settings()

    async def go(rt: Runtime) -> None:
        client = await rt.client()
        try:
            done = await asyncio.wait_for(
                run_sweep_once(client, settings, wait=wait), timeout=timeout
            )
        except TimeoutError:
            raise LetheError(
                f"the sweep did not finish within {timeout:g} s: is a worker running on "
                f"task queue {settings.temporal.task_queue}?"
            ) from None
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

    run(with_runtime(go, settings))


# -- retry ------------------------------------------------------------------------------------

#: A system's answers that end its erasure (``referred`` is not one while its request is open:
#: the system waits for the controller's instruction).
_SETTLED = FINAL_OUTCOMES - {OutcomeKind.REFERRED}


def _settled(latest: SystemOutcomeRecord | None) -> bool:
    return latest is not None and latest.outcome in _SETTLED


#: A system's latest outcomes that ``lethe retry`` erases again: it failed, or the request
#: lacked an identifier one of its rules needs (add it with ``--identifier``).
_RETRIABLE = NOT_DONE


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
    reason = reason_text(reason, "why a retry should work now")
    who = operator_name(operator)
    extra = _identifiers(identifiers)
    settings = load_settings()
    request_id, system = request_id.strip(), system.strip()

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        if system not in rec.systems:
            raise LetheError(
                f"{request_id} has no system {system!r} (its systems: {', '.join(rec.systems)})"
            )
        rounds = ErasureRounds(rt.ledger)
        latest = (await rounds.latest_outcomes(request_id)).get(system)
        unfinished = await rounds.unfinished(request_id, system)
        if unfinished is None and rec.completed_at is None and not _settled(latest):
            # The request's own erasure of the system is under way (or waits): not a failure.
            said = f"round {latest.round} is {latest.outcome}" if latest else "not started"
            raise LetheError(
                f"{system} of {request_id} has no final outcome yet ({said}); "
                "retry it once it has failed"
            )
        if unfinished is None and (latest is None or latest.outcome not in _RETRIABLE):
            said = latest.outcome if latest is not None else "none"
            raise LetheError(
                f"{system} did not fail in {request_id} (its latest outcome is {said}); "
                "nothing to retry"
            )
        person = await PersonText.for_request(rt.ledger, request_id)
        if extra:
            # What the operator types about the person may name the new identifiers too.
            person = PersonText((*person.people, Subject(ref="", email="", identifiers=extra)))
        why, by = scrubbed(person, reason, who)
        added: list[str] = []
        if extra:
            try:
                added = await add_identifiers(
                    rt.ledger,
                    request_id,
                    extra,
                    at=datetime.now(UTC),
                    actor=f"operator:{by}",
                    detail={"system": system, "reason": why},
                )
            except LedgerError as exc:
                raise LetheError(str(exc)) from None
        try:
            started = await start_round(
                await rt.client(),
                settings,
                rt.ledger,
                request_id=request_id,
                system=system,
                trigger="retry",
                actor=f"operator:{by}",
                reason=why,
            )
        except RoundRefused as exc:
            raise LetheError(str(exc)) from None
        finished = await _wait_rounds(rt, [started], timeout) if wait else {}
        if as_json:
            emit_json(
                {
                    **_started(started),
                    "outcome": finished.get(started.workflow_id),
                    "identifiers_added": added,
                }
            )
            return
        if added:
            console.print(f"Sealed in {request_id}'s vault: {', '.join(added)}.")
        still = (
            sorted(set(missing_identifiers(latest.evidence)) - set(extra))
            if latest is not None and latest.outcome == OutcomeKind.NOT_SEARCHED
            else []
        )
        if still:
            console.print(
                f"Note: {system} also lacked {', '.join(still)}; what needs it is still not"
                " searched (add it with --identifier in another retry)."
            )
        console.print(
            f"Retrying {system} of {request_id} as round {started.round} "
            f"({started.workflow_id})" + (f": {finished[started.workflow_id]}" if finished else ".")
        )

    run(with_runtime(go, settings))


# -- backups replay ---------------------------------------------------------------------------


@app.group()
def backups() -> None:
    """After restoring a backup: erase again what the restore brought back."""


async def _shredded(rt: Runtime, request_id: str) -> bool:
    async with rt.ledger.session() as s:
        entry = await s.get(SubjectVaultEntry, request_id)
    return entry is None or entry.wrapped_key is None


async def _replay_targets(
    rt: Runtime, ps: str | None, request_id: str | None
) -> list[ErasureRequestRecord]:
    if request_id is not None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        return [rec]
    async with rt.ledger.session() as s:
        found = list(
            (
                await s.scalars(
                    sa.select(ErasureRequestRecord)
                    .where(ErasureRequestRecord.subject_ref == ps)
                    .order_by(ErasureRequestRecord.received_at)
                )
            ).all()
        )
    if not found:
        raise NotFoundError(f"no erasure request for pseudonym {ps}")
    return found


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
    reason = reason_text(reason, "which restore (system and backup date)")
    who = operator_name(operator)
    settings = load_settings()

    async def go(rt: Runtime) -> None:
        targets = await _replay_targets(
            rt, ps.strip() if ps else None, request_id.strip() if request_id else None
        )
        plan: list[tuple[ErasureRequestRecord, list[str]]] = []
        skipped: list[dict[str, str]] = []
        rounds = ErasureRounds(rt.ledger)
        for rec in targets:
            chosen = systems_among(systems, rec.systems, what=f"{rec.request_id}'s systems")
            names = chosen or list(rec.systems)
            if rec.completed_at is None:
                # Open: only the systems whose own erasure has ended; the others still run.
                latest = await rounds.latest_outcomes(rec.request_id)
                running = [n for n in names if not _settled(latest.get(n))]
                names = [n for n in names if n not in running]
                if running:
                    skipped.append(
                        {
                            "request_id": rec.request_id,
                            "why": f"still {rec.status}, no final outcome yet in "
                            + ", ".join(running),
                        }
                    )
            if not names:
                continue
            if rec.status in REFUSALS:
                skipped.append({"request_id": rec.request_id, "why": f"{rec.status}: never erased"})
            elif await _shredded(rt, rec.request_id):
                skipped.append(
                    {"request_id": rec.request_id, "why": "identifiers already shredded"}
                )
            else:
                plan.append((rec, names))
        if not plan:
            why_not = "; ".join(f"{s['request_id']}: {s['why']}" for s in skipped)
            raise LetheError(f"nothing to replay ({why_not})")
        person = await PersonText.for_pseudonym(rt.ledger, targets[0].subject_ref)
        why, by = scrubbed(person, reason, who)
        client = await rt.client()
        started: list[StartedRound] = []
        for rec, names in plan:
            for name in names:
                try:
                    started.append(
                        await start_round(
                            client,
                            settings,
                            rt.ledger,
                            request_id=rec.request_id,
                            system=name,
                            trigger="backup_restore",
                            actor=f"operator:{by}",
                            reason=why,
                        )
                    )
                except RoundRefused as exc:
                    skipped.append({"request_id": rec.request_id, "why": str(exc)})
        finished = await _wait_rounds(rt, started, timeout) if wait else {}
        if as_json:
            emit_json(
                {
                    "started": [
                        {**_started(s), "outcome": finished.get(s.workflow_id)} for s in started
                    ],
                    "skipped": skipped,
                }
            )
            return
        for s in started:
            tail = f" → {finished[s.workflow_id]}" if s.workflow_id in finished else " started"
            console.print(f"{s.request_id} {s.system}: round {s.round}{tail}")
        for sk in skipped:
            console.print(f"{sk['request_id']}: skipped ({sk['why']})")

    run(with_runtime(go, settings))
