"""Is an open request progressing? What Temporal and the ledger say, in an operator's words.

A request can stand still with nothing in the ledger to show it: no worker polls its task
queue; its workflow task fails on every attempt (a worker with another payload key, code that
no longer replays); a system's activity is retried again and again (its database is down);
a system waits for a worker that has it configured; its workflow was terminated or is gone
while its record is open; or Temporal cannot be reached at all. :func:`holdups` finds each
from the request's workflow, its pending children and its unfinished later rounds (describe:
pending workflow task and activities, with attempts and last failures) and the task queue's
pollers (describe_task_queue), and names the fix.

``lethe status`` shows them instead of "the systems are being erased"; the retention sweep
runs :meth:`ProgressActivities.find_stalled_requests` every hour and alerts the operators
(``request_stalled``) about a request that is stuck, long before its deadline. Neither can
see the case where no worker runs at all: the sweep runs on a worker (watch the task
queue's pollers from outside; ``lethe status`` says so when asked).

Texts that come from a failure (an activity's last error) are scrubbed of the person's
identifiers (as the ledger holds errors) before they are shown or alerted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.converter import ActivitySerializationContext
from temporalio.service import RPCError, RPCStatusCode

from connectors import Subject, redact
from ledger import ErasureRequestRecord, ErasureRounds, Ledger, LedgerError, RequestEvent
from vocabulary import OPEN_STATUSES, AlertEvent, RequestStatus

from .alerts import Alerter
from .erasure import SYSTEM_NOT_ON_THIS_WORKER
from .types import system_of_activity_id

__all__ = [
    "Holdup",
    "ProgressActivities",
    "StallQuery",
    "StallReport",
    "holdups",
    "polled",
]

log = structlog.get_logger("lethe.activities")

_UNSERVED = AlertEvent.SYSTEM_UNSERVED  # the event erase_in_system records (activities.erasure)
#: A worker that has not polled for this long is taken to be gone.
POLLER_WINDOW = timedelta(minutes=3)
#: From this attempt on, a retried activity or workflow task counts as a hold-up.
RETRIED_FROM = 3


@dataclass(frozen=True)
class Holdup:
    """Why a request is not progressing (``kind``), in words (``what``), and the fix."""

    kind: str
    what: str
    fix: str
    system: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "system": self.system, "what": self.what, "fix": self.fix}


#: Hold-ups the hourly check alerts about (retries of a few minutes are not a stall).
STALLS = frozenset(
    {"workflow_missing", "workflow_closed", "workflow_task_failing", "activity_retrying"}
)


def _system_of(workflow_id: str) -> str | None:
    """``crm`` of ``erasure/ID/crm/0`` and of ``erasure/ID/round/crm/2``."""
    parts = workflow_id.split("/")
    if len(parts) == 4:
        return parts[2]
    if len(parts) == 5 and parts[2] == "round":
        return parts[3]
    return None


async def holdups(
    client: Client,
    ledger: Ledger,
    rec: ErasureRequestRecord,
    *,
    person: Subject | None = None,
    now: datetime | None = None,
    check_pollers: bool = True,
) -> list[Holdup]:
    """Everything that keeps ``rec`` from progressing (empty: nothing found).

    Raises ``RPCError`` (other than not-found) when Temporal refuses, and whatever the
    client raises when it cannot reach Temporal: the caller says so."""
    now = now or datetime.now(UTC)
    found: list[Holdup] = []
    workflow_ids: list[str] = []
    if rec.completed_at is None:
        workflow_ids.append(rec.workflow_id)
    rounds = await ErasureRounds(ledger).rounds(rec.request_id)
    workflow_ids += [r.workflow_id for r in rounds if r.finished_at is None]
    queues: set[str] = set()
    seen: set[str] = set()
    while workflow_ids:
        wid = workflow_ids.pop(0)
        if wid in seen:
            continue
        seen.add(wid)
        described = await _describe(client, wid, rec, found)
        if described is None:
            continue
        raw = described.raw_description
        queues.add(raw.execution_config.task_queue.name)
        system = _system_of(wid)
        found += await _workflow_task(described, system)
        for pending in raw.pending_activities:
            whose = system or system_of_activity_id(pending.activity_id)
            holdup = await _activity(client, wid, pending, whose, person)
            if holdup is not None:
                found.append(holdup)
        workflow_ids += [child.workflow_id for child in raw.pending_children]
    found += _unserved(await ledger.events(rec.request_id), found)
    if check_pollers:
        for queue in sorted(queues):
            if not await polled(client, queue, now):
                found.insert(
                    0,
                    Holdup(
                        "no_worker",
                        f"no worker polls the task queue {queue!r}"
                        f" (namespace {client.namespace}): nothing runs until one does",
                        f"start one: lethe worker (LETHE_TASK_QUEUE={queue})",
                    ),
                )
    return found


async def _describe(
    client: Client, wid: str, rec: ErasureRequestRecord, found: list[Holdup]
) -> WorkflowExecutionDescription | None:
    system = _system_of(wid)
    whose = f"{system}'s workflow" if system else "the request's workflow"
    try:
        described = await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        found.append(
            Holdup(
                "workflow_missing",
                f"{whose} ({wid}) is not on the Temporal cluster (namespace {client.namespace})"
                " although the record is open: nothing runs it",
                "point LETHE_TEMPORAL_ADDRESS/NAMESPACE at the cluster that ran it, or see"
                " docs/threat-model.md (a workflow deleted by someone with API access)",
                system,
            )
        )
        return None
    status = described.status
    if status != WorkflowExecutionStatus.RUNNING:
        if system is not None and status == WorkflowExecutionStatus.COMPLETED:
            return None  # a round that ended a moment ago: its record follows
        name = status.name.lower() if status is not None else "ended"
        found.append(
            Holdup(
                "workflow_closed",
                f"{whose} ({wid}) is {name} although the record is open"
                f" ({rec.status}): nothing will finish it",
                f"lethe retry {rec.request_id} --system SYSTEM for what is left, and find out"
                " who ended it (Temporal's history shows the identity)",
                system,
            )
        )
        return None
    return described


async def _workflow_task(
    described: WorkflowExecutionDescription, system: str | None
) -> list[Holdup]:
    task = described.raw_description.pending_workflow_task
    if task.attempt < RETRIED_FROM:
        return []
    whose = f"{system}'s workflow" if system else "the request's workflow"
    return [
        Holdup(
            "workflow_task_failing",
            f"{whose} fails on every worker that runs it ({task.attempt} attempts): a worker"
            " cannot decode or replay it",
            "read the workers' log for the failing workflow task (another payload key than"
            " the one it was started with? code that does not replay?)",
            system,
        )
    ]


async def _activity(
    client: Client,
    workflow_id: str,
    pending: PendingActivityInfo,
    system: str | None,
    person: Subject | None,
) -> Holdup | None:
    if pending.attempt < 2 or not pending.HasField("last_failure"):
        return None
    # Decoded as the workflow that ran it decodes it: payloads are bound to their workflow.
    converter = client.data_converter.with_context(
        ActivitySerializationContext(
            namespace=client.namespace,
            activity_id=pending.activity_id,
            activity_type=pending.activity_type.name,
            activity_task_queue=None,
            workflow_id=workflow_id,
            workflow_type=None,
            is_local=False,
        )
    )
    failure = await converter.decode_failure(pending.last_failure)
    why, kind = _innermost(failure)
    why = redact(why, person)[:300]
    name = pending.activity_type.name
    if kind == SYSTEM_NOT_ON_THIS_WORKER:
        return Holdup(
            "system_unserved",
            f"{system or name} waits for a worker that has it configured ({why})",
            f"run a worker whose lethe.toml has [systems.{system or '…'}]",
            system,
        )
    if pending.attempt < RETRIED_FROM:
        return None
    what = f"{system}: {name}" if system else name
    return Holdup(
        "activity_retrying",
        f"{what} is being retried (attempt {pending.attempt}): {why}",
        "fix what the error names; the next retry picks it up by itself"
        + (f" (or wait for it to fail, then lethe retry … --system {system})" if system else ""),
        system,
    )


def _innermost(exc: BaseException) -> tuple[str, str | None]:
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause  # type: ignore[attr-defined]
    return getattr(exc, "message", None) or str(exc), getattr(exc, "type", None)


def _unserved(events: Sequence[RequestEvent], found: Sequence[Holdup]) -> list[Holdup]:
    """Systems a worker without them took, from the ledger (also while the workflow waits
    between tries, when no activity is pending); not those already found waiting."""
    waiting = {h.system for h in found if h.kind == "system_unserved"}
    done: set[tuple[str, int]] = set()
    out: list[Holdup] = []
    for e in reversed(events):
        system, round_ = e.detail.get("system"), e.detail.get("round")
        if not isinstance(system, str) or not isinstance(round_, int):
            continue
        if e.kind.startswith("system_") and e.kind not in {_UNSERVED, "system_pending"}:
            done.add((system, round_))  # system_erased, system_failed, …: an outcome since
        if e.kind == _UNSERVED and (system, round_) not in done and system not in waiting:
            waiting.add(system)
            has = ", ".join(e.detail.get("worker_has") or []) or "no system"
            out.append(
                Holdup(
                    "system_unserved",
                    f"{system} waits for a worker that has it configured (a worker with {has}"
                    " took its task)",
                    f"run a worker whose lethe.toml has [systems.{system}]",
                    system,
                )
            )
    return out


async def polled(client: Client, queue: str, now: datetime) -> bool:
    """Whether a worker polled ``queue`` (workflow or activity tasks) within the window."""
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
            )
        )
        for poller in described.pollers:
            seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
            if now - seen <= POLLER_WINDOW:
                return True
    return False


@dataclass(frozen=True)
class StallQuery:
    """The retention sweep's hourly look at open requests."""

    at: str  # ISO time
    limit: int = 200


@dataclass(frozen=True)
class StallReport:
    stalled: tuple[str, ...] = field(default_factory=tuple)
    checked: int = 0


class ProgressActivities:
    """The hourly stall check: alert about open requests that stopped moving."""

    def __init__(self, ledger: Ledger, client: Client, alerter: Alerter | None = None) -> None:
        self._ledger = ledger
        self._client = client
        self._alerter = alerter

    @activity.defn(name="find_stalled_requests")
    async def find_stalled_requests(self, query: StallQuery) -> StallReport:
        now = datetime.fromisoformat(query.at)
        records: list[ErasureRequestRecord] = []
        for status in [s for s in RequestStatus if s in OPEN_STATUSES]:  # oldest stage first
            records += await self._ledger.list_requests(status=status, limit=query.limit)
        stalled: list[str] = []
        for rec in records[: query.limit]:
            try:
                found = await holdups(self._client, self._ledger, rec, now=now, check_pollers=False)
            except (TimeoutError, RPCError, RuntimeError) as exc:
                log.warning("stall_check.failed", request_id=rec.request_id, error=str(exc)[:200])
                continue
            stalls = [h for h in found if h.kind in STALLS]
            if not stalls:
                continue
            stalled.append(rec.request_id)
            await self._record(rec, stalls, now)
        return StallReport(tuple(stalled), len(records[: query.limit]))

    async def _record(self, rec: ErasureRequestRecord, stalls: list[Holdup], now: datetime) -> None:
        person = await self._person(rec.request_id)
        whats = [redact(h.what, person)[:300] for h in stalls]
        events = await self._ledger.events(rec.request_id)
        known = {str(e.detail.get("what")) for e in events if e.kind == AlertEvent.REQUEST_STALLED}
        for holdup, what in zip(stalls, whats, strict=True):
            if what in known:
                continue
            await self._ledger.add_event(
                rec.request_id,
                AlertEvent.REQUEST_STALLED,
                at=now,
                actor="lethe",
                detail={"kind": holdup.kind, "system": holdup.system, "what": what},
            )
        log.warning("request.stalled", request_id=rec.request_id, kinds=[h.kind for h in stalls])
        if self._alerter is not None:
            await self._alerter.alert(
                rec.request_id, AlertEvent.REQUEST_STALLED, detail="; ".join(whats)
            )

    async def _person(self, request_id: str) -> Subject | None:
        try:
            ref, ids = await self._ledger.read_identifiers(request_id)
        except LedgerError:
            return None
        return Subject(ref=ref, email=ids.pop("email", ""), identifiers=ids)
