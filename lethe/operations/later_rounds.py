"""Later rounds of a request's systems: a retry, a replay after a backup is restored, and
the retention sweep on demand.

Each erases one system again as round N+1 of the same request (``lethe/sweeper.py``
:func:`~lethe.sweeper.start_round`). What may be erased again, and why not, is decided here:

    retry          a system that failed, or was not searched for want of an identifier (which
                   the retry may add to the request's vault); not while its own erasure runs
    backup replay  every request of a person (or one), in the systems whose own erasure has
                   ended; never a request refused (nothing was erased), nor one whose
                   identifiers are shredded (there is nothing left to search with)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors import Subject
from ledger import (
    ErasureRequestRecord,
    ErasureRound,
    ErasureRounds,
    LedgerError,
    SystemOutcomeRecord,
    add_identifiers,
    missing_identifiers,
)
from ledger.queries import identifiers_shredded, requests_of_subject
from vocabulary import FINAL_OUTCOMES, NOT_DONE, REFUSALS, OutcomeKind
from workflows import StartedRound, SystemRoundWorkflow

from ..errors import LetheError, NotFoundError
from ..free_text import PersonText, Rewritten
from ..runtime import Runtime
from ..sweeper import RoundRefused, SweepRun, install_sweeper, run_sweep_once, start_round
from .lookups import find_request, systems_among

__all__ = [
    "RETRIABLE",
    "SETTLED",
    "Replay",
    "Replayed",
    "Retried",
    "Retry",
    "Skipped",
    "install_sweeper_schedule",
    "replay_backup",
    "replay_systems",
    "retry_refusal",
    "retry_system",
    "settled",
    "sweep_now",
    "wait_for_rounds",
]

#: A system's answers that end its erasure (``referred`` is not one while its request is open:
#: the system waits for the controller's instruction).
SETTLED = FINAL_OUTCOMES - {OutcomeKind.REFERRED}

#: A system's latest outcomes that a retry erases again: it failed, or the request lacked an
#: identifier one of its rules needs (the retry may add it).
RETRIABLE = NOT_DONE


def settled(latest: SystemOutcomeRecord | None) -> bool:
    """Whether a system's own erasure has ended (given its latest outcome)."""
    return latest is not None and latest.outcome in SETTLED


async def wait_for_rounds(
    rt: Runtime, started: Sequence[StartedRound], timeout: float
) -> dict[str, str]:
    """Each round's outcome by its workflow id, once all have finished."""
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


# -- the sweeper --------------------------------------------------------------------------------


async def install_sweeper_schedule(rt: Runtime) -> str:
    """Create or update the sweeper's Schedule: ``created`` or ``updated``."""
    return await install_sweeper(await rt.client(), rt.settings)


async def sweep_now(rt: Runtime, *, wait: bool, timeout: float) -> SweepRun:
    """One sweep now (a worker must be running); with ``wait``, also its rounds."""
    try:
        return await asyncio.wait_for(
            run_sweep_once(await rt.client(), rt.settings, wait=wait), timeout=timeout
        )
    except TimeoutError:
        raise LetheError(
            f"the sweep did not finish within {timeout:g} s: is a worker running on "
            f"task queue {rt.settings.temporal.task_queue}?"
        ) from None


# -- retry --------------------------------------------------------------------------------------


def retry_refusal(
    rec: ErasureRequestRecord,
    system: str,
    latest: SystemOutcomeRecord | None,
    unfinished: ErasureRound | None,
) -> str | None:
    """Why ``system`` of ``rec`` is not retried now, or None when it may be.

    ``latest``: the system's latest outcome; ``unfinished``: a round of it that started and
    never finished (a worker died): that one is resumed. A system whose own erasure is still
    under way (or waits) has not failed; one that did not fail has nothing to retry. Once it
    has failed it may be retried while the request is still open (another system waits for a
    controller, say): the request's status, when it is answered, counts the retry."""
    rid = rec.request_id
    if system not in rec.systems:
        return f"{rid} has no system {system!r} (its systems: {', '.join(rec.systems)})"
    if unfinished is None and rec.completed_at is None and not settled(latest):
        said = f"round {latest.round} is {latest.outcome}" if latest else "not started"
        return f"{system} of {rid} has no final outcome yet ({said}); retry it once it has failed"
    if unfinished is None and (latest is None or latest.outcome not in RETRIABLE):
        said = latest.outcome if latest is not None else "none"
        return f"{system} did not fail in {rid} (its latest outcome is {said}); nothing to retry"
    return None


@dataclass(frozen=True)
class Retry:
    """An operator's retry of one system of a request, as typed (reason and name scrubbed
    when kept). ``identifiers``: kinds the request lacked, checked, to seal in its vault."""

    request_id: str
    system: str
    reason: str
    operator: str
    identifiers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Retried:
    started: StartedRound
    identifiers_added: list[str]
    #: Kinds the system also lacked that this retry did not add: what needs them is still
    #: not searched.
    still_missing: list[str]
    finished: dict[str, str]  # round workflow id -> outcome (when waited for)


async def retry_system(
    rt: Runtime,
    order: Retry,
    *,
    wait: float | None = None,
    rewritten: Rewritten | None = None,
) -> Retried:
    """Erase a failed or not-searched system again, as the next round of the same request
    (after sealing any identifiers given in the request's vault). ``wait``: seconds to wait
    for the round's outcome."""
    request_id, system, extra = order.request_id, order.system, dict(order.identifiers)
    rec = await find_request(rt.ledger, request_id)
    rounds = ErasureRounds(rt.ledger)
    latest = (await rounds.latest_outcomes(request_id)).get(system)
    unfinished = await rounds.unfinished(request_id, system)
    refused = retry_refusal(rec, system, latest, unfinished)
    if refused is not None:
        raise LetheError(refused)
    person = await PersonText.for_request(rt.ledger, request_id)
    if extra:
        # What the operator types about the person may name the new identifiers too.
        person = PersonText((*person.people, Subject(ref="", email="", identifiers=extra)))
    why, by = person.kept(order.reason, order.operator, rewritten=rewritten)
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
    started = await start_round(
        await rt.client(),
        rt.settings,
        rt.ledger,
        request_id=request_id,
        system=system,
        trigger="retry",
        actor=f"operator:{by}",
        reason=why,
    )
    still = (
        sorted(set(missing_identifiers(latest.evidence)) - set(extra))
        if latest is not None and latest.outcome == OutcomeKind.NOT_SEARCHED
        else []
    )
    finished = await wait_for_rounds(rt, [started], wait) if wait is not None else {}
    return Retried(started, added, still, finished)


# -- backup replay ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A request (or some of its systems) not replayed, and why."""

    request_id: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"request_id": self.request_id, "why": self.why}


def replay_systems(
    rec: ErasureRequestRecord,
    names: Sequence[str],
    latest: Mapping[str, SystemOutcomeRecord],
    *,
    shredded: bool,
) -> tuple[list[str], list[Skipped]]:
    """Of ``names`` (systems of ``rec``), those a backup replay erases again, and what is
    skipped and why. An open request is replayed only in the systems whose own erasure has
    ended (``latest``: each system's latest outcome); the others still run. A request refused
    was never erased; one whose identifiers are shredded cannot be searched for."""
    skipped: list[Skipped] = []
    chosen = list(names)
    if rec.completed_at is None:
        running = [n for n in chosen if not settled(latest.get(n))]
        chosen = [n for n in chosen if n not in running]
        if running:
            skipped.append(
                Skipped(
                    rec.request_id,
                    f"still {rec.status}, no final outcome yet in " + ", ".join(running),
                )
            )
    if not chosen:
        return [], skipped
    if rec.status in REFUSALS:
        return [], [*skipped, Skipped(rec.request_id, f"{rec.status}: never erased")]
    if shredded:
        return [], [*skipped, Skipped(rec.request_id, "identifiers already shredded")]
    return chosen, skipped


@dataclass(frozen=True)
class Replay:
    """An operator's replay after a restore: every request of a pseudonym, or one request
    (exactly one of them), in ``systems`` (None: all of each request's)."""

    reason: str
    operator: str
    subject_ref: str | None = None
    request_id: str | None = None
    systems: Sequence[str] | None = None


@dataclass(frozen=True)
class Replayed:
    started: list[StartedRound]
    skipped: list[Skipped]
    finished: dict[str, str]  # round workflow id -> outcome (when waited for)


async def _replay_targets(rt: Runtime, order: Replay) -> list[ErasureRequestRecord]:
    if order.request_id is not None:
        return [await find_request(rt.ledger, order.request_id)]
    assert order.subject_ref is not None
    found = await requests_of_subject(rt.ledger, order.subject_ref)
    if not found:
        raise NotFoundError(f"no erasure request for pseudonym {order.subject_ref}")
    return found


async def replay_backup(
    rt: Runtime,
    order: Replay,
    *,
    wait: float | None = None,
    rewritten: Rewritten | None = None,
) -> Replayed:
    """Re-run erasure for requests whose subject a restored backup may bring back: a new
    round in each system :func:`replay_systems` allows; refused when there is none."""
    targets = await _replay_targets(rt, order)
    plan: list[tuple[ErasureRequestRecord, list[str]]] = []
    skipped: list[Skipped] = []
    rounds = ErasureRounds(rt.ledger)
    for rec in targets:
        names = (
            systems_among(order.systems, rec.systems, what=f"{rec.request_id}'s systems")
            if order.systems is not None
            else list(rec.systems)
        )
        open_latest = (
            await rounds.latest_outcomes(rec.request_id) if rec.completed_at is None else {}
        )
        shredded = await identifiers_shredded(rt.ledger, rec.request_id)
        chosen, passed = replay_systems(rec, names, open_latest, shredded=shredded)
        skipped += passed
        if chosen:
            plan.append((rec, chosen))
    if not plan:
        why_not = "; ".join(f"{s.request_id}: {s.why}" for s in skipped)
        raise LetheError(f"nothing to replay ({why_not})")
    person = await PersonText.for_pseudonym(rt.ledger, targets[0].subject_ref)
    why, by = person.kept(order.reason, order.operator, rewritten=rewritten)
    client = await rt.client()
    started: list[StartedRound] = []
    for rec, names in plan:
        for name in names:
            try:
                started.append(
                    await start_round(
                        client,
                        rt.settings,
                        rt.ledger,
                        request_id=rec.request_id,
                        system=name,
                        trigger="backup_restore",
                        actor=f"operator:{by}",
                        reason=why,
                    )
                )
            except RoundRefused as exc:
                skipped.append(Skipped(rec.request_id, str(exc)))
    finished = await wait_for_rounds(rt, started, wait) if wait is not None else {}
    return Replayed(started, skipped, finished)
