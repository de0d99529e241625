"""One erasure request, from receipt to a final status.

    received ─▶ identity gate ─▶ plan ─▶ fan out: one SystemErasureWorkflow per system ─▶ status
                 │                 └─ legal holds ⇒ Retained, connector never called;
                 │                    processor-held systems ⇒ referred to their controller
                 └─ not verified in time ⇒ rejected, nothing erased

The workflow is deterministic orchestration only: every read and write happens in an
activity, time comes from ``workflow.now()`` and timers, logs go through ``workflow.logger``.
Its input and history hold a request id and a pseudonym, never an identifier.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError

# Data classes come from the host, not the sandbox: the sandbox's proxied ``datetime`` is not
# a class Temporal's converter can fill in.
with workflow.unsafe.imports_passed_through():
    from activities import (
        PlanInput,
        PlanningActivities,
        RecordingActivities,
        SealingActivities,
        StatusChange,
        SystemFailure,
        SystemOutcome,
    )

    from .types import (
        ErasureRequest,
        ErasureResult,
        OperatorApproval,
        Progress,
        SystemErasure,
    )

from .status import final_status
from .system_erasure import SystemErasureWorkflow

__all__ = ["VERIFICATION_METHODS", "ErasureWorkflow", "workflow_id_for"]

#: How a requester's identity can be established. ``preverified``: the intake channel (a
#: logged-in privacy portal) already did it. ``operator``: a named operator approves.
VERIFICATION_METHODS = ("operator", "preverified")

# Ledger writes: short, and retried until the database is back (they are idempotent).
_LEDGER_TIMEOUT = timedelta(seconds=60)
_LEDGER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))


def workflow_id_for(request_id: str) -> str:
    return f"erasure/{request_id}"


@workflow.defn(name="ErasureWorkflow")
class ErasureWorkflow:
    def __init__(self) -> None:
        self._stage = "received"
        self._approval: OperatorApproval | None = None
        self._systems: dict[str, str] = {}

    # -- signals and queries ----------------------------------------------------------------

    @workflow.signal
    def approve(self, approval: OperatorApproval) -> None:
        """An operator confirms the requester's identity. Only the first approval counts."""
        if self._approval is None and approval.operator.strip() and approval.reason.strip():
            self._approval = approval

    @workflow.query
    def progress(self) -> Progress:
        return Progress(stage=self._stage, systems=dict(self._systems))

    # -- the request ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ErasureRequest) -> ErasureResult:
        verified, actor, reason = await self._identity_gate(request)
        if not verified:
            return await self._finish(request, "rejected", reason, (), actor=actor)

        self._stage = "erasing"
        self._systems = dict.fromkeys(request.systems, "erasing")
        await self._record(
            StatusChange(
                request.request_id,
                "erasing",
                actor=actor,
                reason=reason,
                event="verified",
                detail={"method": request.verification_method},
            )
        )
        outcomes = await self._plan_and_erase(request)
        status = final_status(o.outcome for o in outcomes)
        return await self._finish(request, status, None, tuple(outcomes), actor="lethe")

    async def _identity_gate(self, request: ErasureRequest) -> tuple[bool, str, str | None]:
        """Whether the requester is who they say. Nothing is erased before this returns True."""
        method = request.verification_method
        if method == "preverified":
            return True, "intake", "identity verified by the intake channel"
        if method != "operator":
            return False, "lethe", f"unknown verification method {method!r}"

        self._stage = "awaiting_verification"
        await self._record(
            StatusChange(
                request.request_id,
                "awaiting_verification",
                actor="lethe",
                detail={"method": method},
            )
        )
        timeout = timedelta(seconds=request.policy.verification_timeout_seconds)
        try:
            await workflow.wait_condition(lambda: self._approval is not None, timeout=timeout)
        except TimeoutError:
            hours = request.policy.verification_timeout_seconds / 3600
            return False, "lethe", f"identity not verified within {hours:g} hours; nothing erased"
        assert self._approval is not None
        return True, f"operator:{self._approval.operator}", self._approval.reason

    async def _plan_and_erase(self, request: ErasureRequest) -> tuple[SystemOutcome, ...]:
        """The plan step, then the fan-out. Held systems are decided by the plan (their
        ``Retained`` is already recorded) and get no child: their connectors are never called."""
        plan = await workflow.execute_activity_method(
            PlanningActivities.plan_erasure,
            PlanInput(request.request_id, request.systems, 0),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        steps = {step.system: step for step in plan.systems}

        async def one(system: str) -> SystemOutcome:
            step = steps.get(system)
            if step is not None and step.outcome is not None:
                self._systems[system] = step.outcome.outcome
                return step.outcome
            refer_to = step.controller if step is not None and step.action == "refer" else None
            return await self._erase_system(request, system, refer_to)

        return tuple(await asyncio.gather(*(one(system) for system in request.systems)))

    async def _erase_system(
        self, request: ErasureRequest, system: str, refer_to: str | None = None
    ) -> SystemOutcome:
        job = SystemErasure(request.request_id, system, 0, request.policy, refer_to=refer_to)
        try:
            outcome = await workflow.execute_child_workflow(
                SystemErasureWorkflow.run,
                job,
                id=f"{workflow.info().workflow_id}/{system}/0",
            )
        except ChildWorkflowError as err:
            # The child itself died (terminated, timed out): record it as this system's failure.
            outcome = await workflow.execute_activity_method(
                RecordingActivities.record_system_failure,
                SystemFailure(request.request_id, system, 0, f"system workflow ended: {err.cause}"),
                start_to_close_timeout=_LEDGER_TIMEOUT,
                retry_policy=_LEDGER_RETRY,
            )
        self._systems[system] = outcome.outcome
        return outcome

    async def _finish(
        self,
        request: ErasureRequest,
        status: str,
        reason: str | None,
        outcomes: tuple[SystemOutcome, ...],
        *,
        actor: str,
    ) -> ErasureResult:
        self._stage = status
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        await self._record(
            StatusChange(request.request_id, status, actor=actor, reason=reason, detail=counts)
        )
        if outcomes:
            await self._seal(request.request_id)
        workflow.logger.info("erasure finished", extra={"status": status})
        return ErasureResult(request.request_id, status, reason, outcomes)

    async def _seal(self, request_id: str) -> None:
        """Proof: the request's receipts go into the proof log under a new signed tree head.

        After the final status is recorded, so that the sealed request receipt carries it.
        Idempotent; a later round that adds outcomes seals again the same way.
        """
        await workflow.execute_activity_method(
            SealingActivities.seal_request,
            request_id,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )

    async def _record(self, change: StatusChange) -> None:
        await workflow.execute_activity_method(
            RecordingActivities.record_status,
            change,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
