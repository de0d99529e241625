"""Erasure requests, as an operator handles them: receive one, see where it stands and what
it waits for, list them, withdraw one before its identity is verified.

Temporal's client and the workflows are imported by the operations that talk to them: status
and list of a finished request read the ledger alone (``lethe/cli/_app.py``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors import Subject
from ledger import (
    ControllerReferral,
    ControllerReferrals,
    DeadlineRecords,
    ErasureRequestRecord,
    ErasureRounds,
    ProofLog,
    RequestClock,
    RequestEvent,
    RetainedException,
    SystemOutcomeRecord,
)
from ledger.next_steps import next_steps
from vocabulary import UNVERIFIED_STATUSES, RequestStatus

from ..attention import ProgressCheck, check_progress
from ..errors import LetheError
from ..free_text import PersonText, Rewritten
from ..intake import RequestDraft, Submitted, submit_request
from ..runtime import Runtime
from .lookups import find_request

__all__ = [
    "Cancelled",
    "Received",
    "RequestList",
    "RequestView",
    "await_answer",
    "cancel_request",
    "find_requests",
    "receive_request",
    "request_view",
]


@dataclass(frozen=True)
class Received:
    submitted: Submitted
    #: Who entered a request received earlier, as the record keeps it (``operator:NAME``).
    entered_by: str | None


async def receive_request(
    rt: Runtime,
    draft: RequestDraft,
    *,
    allow_duplicate: bool,
    channel: str,
    entered_by: str | None = None,
    actor: str = "cli",
) -> Received:
    """Record the receipt of a validated request and start its workflow (``lethe/intake.py``).
    ``entered_by``: the operator who enters a request received earlier (``draft.received_at``);
    their name is kept in the ledger's events without the person's identifiers. ``actor``:
    who records the receipt (``cli``; ``api:NAME`` for an API client)."""
    if entered_by is not None:
        person = Subject(ref="", email=draft.email, identifiers=dict(draft.extra_identifiers))
        entered_by = f"operator:{PersonText((person,)).operator(entered_by)}"
    submitted = await submit_request(
        draft,
        settings=rt.settings,
        ledger=rt.ledger,
        client=await rt.client(),
        keys=rt.keys,
        allow_duplicate=allow_duplicate,
        channel=channel,
        actor=actor,
        entered_by=entered_by,
    )
    return Received(submitted, entered_by)


@dataclass(frozen=True)
class RequestView:
    """Where a request stands, from the ledger, and whether Temporal says it is moving."""

    request: ErasureRequestRecord
    outcomes: list[SystemOutcomeRecord]
    exceptions: list[RetainedException]
    events: list[RequestEvent]
    clock: RequestClock | None
    sealed: bool  # the proof log holds the request as it stands
    #: None: finished, with no round running (nothing to ask Temporal).
    progress: ProgressCheck | None
    #: What the request waits for, with the command for whoever must act.
    next_steps: list[str]

    @property
    def acknowledgement(self) -> RequestEvent | None:
        """The event that recorded the receipt as acknowledged (how, by whom)."""
        return next((e for e in self.events if e.kind == "acknowledged"), None)


async def request_view(rt: Runtime, request_id: str) -> RequestView:
    rec = await find_request(rt.ledger, request_id)
    clock = await DeadlineRecords(rt.ledger).clock(request_id)
    progress = await check_progress(rt, rec)
    latest = await ErasureRounds(rt.ledger).latest_outcomes(request_id)
    referrals: list[ControllerReferral] = await ControllerReferrals(rt.ledger).for_request(
        request_id
    )
    # Nobody asked Temporal (or it could not be asked): "nothing from you" is never said.
    fixes = None if progress is None or progress.unchecked else [h.fix for h in progress.holdups]
    return RequestView(
        rec,
        await rt.ledger.outcomes(request_id),
        await rt.ledger.exceptions(request_id),
        await rt.ledger.events(request_id),
        clock,
        request_id in await ProofLog(rt.ledger).sealed_requests([rec]),
        progress,
        next_steps(rec, latest, referrals, clock, datetime.now(UTC), fixes=fixes),
    )


async def await_answer(rt: Runtime, submitted: Submitted, timeout: float) -> RequestView:
    """Wait (at most ``timeout`` seconds) for a request just received to be answered."""
    from temporalio.client import WorkflowFailureError

    from workflows import ErasureWorkflow

    client = await rt.client()
    handle = client.get_workflow_handle_for(ErasureWorkflow.run, submitted.workflow_id)
    try:
        await asyncio.wait_for(handle.result(), timeout=timeout)
    except TimeoutError:
        raise LetheError(
            f"{submitted.request_id} did not finish within {timeout:g} s; "
            f"it goes on: lethe status {submitted.request_id}"
        ) from None
    except WorkflowFailureError as exc:
        raise LetheError(f"{submitted.request_id} failed: {exc.cause}") from None
    return await request_view(rt, submitted.request_id)


@dataclass(frozen=True)
class RequestList:
    requests: list[ErasureRequestRecord]
    more: bool  # others match beyond the limit
    sealed: set[str]  # the ids whose state the proof log holds


async def find_requests(
    rt: Runtime,
    *,
    status: str | None = None,
    overdue: bool = False,
    due_within: timedelta | None = None,
    limit: int = 50,
) -> RequestList:
    """Requests, newest first; open ones past or near their deadline (``overdue``,
    ``due_within``) soonest deadline first."""
    if overdue or due_within is not None:
        recs = list(
            await DeadlineRecords(rt.ledger).due_requests(
                now=datetime.now(UTC),
                overdue=overdue,
                within=due_within,
                status=status,
                limit=limit + 1,
            )
        )
    else:
        recs = await rt.ledger.list_requests(status=status, limit=limit + 1)
    more, recs = len(recs) > limit, recs[:limit]  # one more than shown: are there others?
    return RequestList(recs, more, await ProofLog(rt.ledger).sealed_requests(recs))


@dataclass(frozen=True)
class Cancelled:
    request: ErasureRequestRecord  # as recorded after the cancellation
    cancelled_by: str


async def cancel_request(
    rt: Runtime,
    request_id: str,
    reason: str,
    operator: str,
    *,
    rewritten: Rewritten | None = None,
) -> Cancelled:
    """Withdraw a request before its identity is verified (nothing has been erased yet).
    Once identity is verified, erasure may be under way and cannot be called back."""
    from workflows import CancelOrder, ErasureWorkflow

    from .workflow_calls import UpdateRefused, update_request

    rec = await find_request(rt.ledger, request_id)
    if rec.completed_at is not None:
        raise LetheError(f"{request_id} has already finished ({rec.status})")
    if rec.status not in UNVERIFIED_STATUSES:
        raise LetheError(
            f"{request_id} is {rec.status}: what is erased cannot be called back"
            " (place a legal hold to keep what is not erased yet)"
        )
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(reason, operator, rewritten=rewritten)
    try:
        await update_request(rt, rec, ErasureWorkflow.cancel_request, CancelOrder(by, why))
    except UpdateRefused as exc:
        raise LetheError(f"{request_id}: not cancelled: {exc.because}") from None
    # The workflow records the final status itself; wait (briefly) to report it.
    for _ in range(100):
        rec = await rt.ledger.require_request(request_id)
        if rec.status == RequestStatus.CANCELLED:
            break
        await asyncio.sleep(0.1)
    return Cancelled(rec, by)
