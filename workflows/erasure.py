"""One erasure request, from receipt to a final status.

    received ─▶ identity gate ─▶ plan ─▶ fan out: one SystemErasureWorkflow per system ─▶ status
                 │                 └─ legal holds ⇒ Retained, connector never called;
                 │                    processor-held systems ⇒ referred to their controller
                 └─ not verified in time, locked, or no evidence ⇒ rejected, nothing erased
    alongside:  the deadline clock (acknowledgement, reminder, overdue; moved by an extension)
    at the end: seal — the request's receipts enter the proof log under a signed tree head

Identity gate, by the request's verification method:
    email        a code mailed to the address on file; the requester's code comes back as the
                 ``submit_code`` update; an operator may have a new one mailed (the
                 ``resend_code`` update). The gate's rules live in ``email_gate.py``.
    preverified  a portal assertion that intake checked and recorded; the gate confirms the
                 ledger holds it (a workflow started without one is rejected)
    operator     a named operator approves with a reason (the ``approve_identity`` update;
                 requests started earlier also take the ``approve`` signal)

The workflow is deterministic orchestration only: every read and write happens in an
activity, time comes from ``workflow.now()`` and timers, logs go through ``workflow.logger``.
Its input and history hold a request id and a pseudonym, never an identifier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

# Data classes come from the host, not the sandbox: the sandbox's proxied ``datetime`` is not
# a class Temporal's converter can fill in.
with workflow.unsafe.imports_passed_through():
    from activities import (
        AcknowledgementNotice,
        AcknowledgementOrder,
        DeadlineActivities,
        ExtensionOrder,
        PlanInput,
        PlanningActivities,
        RecordingActivities,
        RequestAnswer,
        SealingActivities,
        StatusChange,
        SystemOutcome,
        VerificationActivities,
    )
    from vocabulary import FINAL_STATUSES, RequestStatus, VerificationMethod, request_status

    from .round_types import EscalationChange
    from .types import (
        ACKNOWLEDGEMENT_CHANNELS,
        AcknowledgementRecorded,
        CancelOrder,
        CodeCheck,
        CodeResendOrder,
        CodeResent,
        CodeSubmission,
        DeadlineExtension,
        ErasureRequest,
        ErasureResult,
        OperatorApproval,
        Progress,
        ReceiptAcknowledgement,
        SystemErasure,
    )

from .activity_options import LEDGER, LEDGER_STEP, MAIL
from .deadline_clock import DeadlineClock
from .email_gate import EmailGate
from .gate_decision import GateDecision
from .ids import system_erasure_id_under
from .refusals import Refused, SignalReader
from .search_attributes import DUE_DATE, OVERDUE, SEARCH_ATTRIBUTES_PATCH, STATUS
from .system_erasure import erase_at_once, erase_in_child

__all__ = ["LEDGER_STEPS_LOCAL", "STATUS_FROM_LEDGER", "SYSTEMS_AT_ONCE", "ErasureWorkflow"]

#: Patch: the final status is computed by an activity from the ledger's latest outcomes
#: (``record_answer``), no longer here from the fan-out's own (``record_status``).
STATUS_FROM_LEDGER = "status-from-ledger"

#: Patch: a system is erased and verified by the request's workflow itself, and gets a child
#: workflow only when it must wait (pending, referred, no worker has it: ``erase_at_once``).
#: Before, every system had a child.
SYSTEMS_AT_ONCE = "systems-at-once"

#: Patch: the request's own ledger steps (portal evidence, each status, the plan, the answer,
#: the seal) run as local activities: in the worker that runs the workflow, within its
#: workflow task, each recorded as one marker. Before, each was an activity task of its own
#: (three events and a workflow task more, and a round trip through the server). Decided
#: once, at the start: a request either takes them all locally or none.
LEDGER_STEPS_LOCAL = "ledger-steps-local"

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


@workflow.defn(name="ErasureWorkflow")
class ErasureWorkflow:
    @workflow.init
    def __init__(self, request: ErasureRequest) -> None:
        # The input is known here so that a signal or update arriving with the first task
        # (before ``run`` starts) is judged against the right request.
        self._stage: str = RequestStatus.RECEIVED
        self._request_id = request.request_id
        self._method = request.verification_method
        self._approval: OperatorApproval | None = None
        self._systems: dict[str, str] = {}
        self._indexed = request.search_attributes  # keeps Lethe's search attributes current
        self._clock = DeadlineClock(request, on_change=self._deadline_changed)
        self._email = EmailGate(request, self._clock)
        self._verified: bool | None = None  # decided by the identity gate
        self._cancel: CancelOrder | None = None  # accepted only while the gate is undecided
        self._signals = SignalReader()  # refuses what is not encrypted under the payload key
        self._escalated: set[str] = set()  # systems whose referral waits for an operator
        self._local_steps = False  # the ledger steps run as local activities (see run)
        self._update_task = -1  # the workflow task that delivered the latest update

    # -- signals, updates and queries -------------------------------------------------------

    @workflow.update
    def approve_identity(self, approval: OperatorApproval) -> str:
        """An operator confirms the requester's identity (``lethe approve``). The validator
        refuses, with the reason, an approval that cannot count; an accepted one opens the
        gate. Its payload is read like every update's: one not encrypted under the payload
        key (or bound to another workflow) is refused before the validator sees it."""
        self._heard_an_update()
        self._accept_approval(approval)
        return "identity approved: erasure starts"

    @approve_identity.validator
    def _refuse_approval(self, approval: OperatorApproval) -> None:
        why = self._approval_refusal(approval)
        if why is not None:
            raise ValueError(why)

    @workflow.signal(name="approve")
    async def approve(self, raw: RawValue) -> None:
        """The ``approve`` signal, as requests started before ``approve_identity`` were
        approved; kept for them. The same rule as the update, but nobody hears a refusal:
        one that does not count is dropped. A payload not encrypted under the payload key
        is refused and recorded."""
        approval = self._signals.read(raw, OperatorApproval, "approve")
        if isinstance(approval, Refused):
            await self._signals.record(self._request_id, "approve", approval)
            return
        if self._approval_refusal(approval) is None:
            self._accept_approval(approval)

    @workflow.signal(name="system_escalated")
    async def system_escalated(self, raw: RawValue) -> None:
        """From a system's child workflow: its referral was escalated to an operator, or the
        instruction came. While any system waits for an operator, ``LetheStatus`` says
        "escalated" (as the ledger's status does), then "erasing" again."""
        change = self._signals.read(raw, EscalationChange, "system_escalated")
        if isinstance(change, Refused):
            await self._signals.record(self._request_id, "system_escalated", change)
            return
        if change.escalated:
            self._escalated.add(change.system)
        else:
            self._escalated.discard(change.system)
        if self._stage == RequestStatus.ERASING:
            escalated = RequestStatus.ESCALATED if self._escalated else RequestStatus.ERASING
            self._index(STATUS.value_set(escalated))

    def _approval_refusal(self, approval: OperatorApproval) -> str | None:
        """Why an approval cannot count now, or None. Only the first counts, only for a
        request verified by an operator, only while its gate is open."""
        if self._method != VerificationMethod.OPERATOR:
            return (
                f"this request is verified by {self._method or 'another method'},"
                " not by an operator"
            )
        if self._approval is not None:
            return f"identity is already approved (by {self._approval.operator})"
        if self._stage in FINAL_STATUSES:
            return f"the request has already finished ({self._stage})"
        if self._cancel is not None:
            return "the request is being cancelled"
        if self._verified is not None:
            return "the identity gate has closed: the request is being rejected"
        if not approval.operator.strip() or not approval.reason.strip():
            return "an approval needs who approves and how the identity was confirmed"
        return None

    def _accept_approval(self, approval: OperatorApproval) -> None:
        self._approval = OperatorApproval(
            approval.operator.strip()[:100], approval.reason.strip()[:500]
        )

    @workflow.update
    async def submit_code(self, submission: CodeSubmission) -> CodeCheck:
        """The requester's emailed code: checked (and recorded) by an activity; answered at
        once. Only ``accepted`` opens the gate; ``locked`` and ``expired`` close it."""
        self._heard_an_update()
        return await self._email.check(submission)

    @submit_code.validator
    def _refuse_code_early(self, submission: CodeSubmission) -> None:
        """Refusals that need no look at the code (not recorded in the history; the caller
        records them in the ledger)."""
        self._email.refuse_code(submission, verified=self._verified)

    @workflow.update
    async def resend_code(self, order: CodeResendOrder) -> CodeResent:
        """Mail a new code (an operator's ``lethe verify --resend``); answered once the mail
        went out (or could not)."""
        self._heard_an_update()
        return await self._email.resend(order)

    @resend_code.validator
    def _refuse_resend(self, order: CodeResendOrder) -> None:
        self._email.refuse_resend(
            order, verified=self._verified, cancelling=self._cancel is not None
        )

    @workflow.update
    async def acknowledge_receipt(self, ack: ReceiptAcknowledgement) -> AcknowledgementRecorded:
        """An operator told the requester we have their request, by other means than
        Lethe's mail (``lethe acknowledge``). The ledger records it; the acknowledgement
        timer stops (if it has not fired yet)."""
        self._heard_an_update()
        outcome = await workflow.execute_activity_method(
            DeadlineActivities.record_acknowledgement,
            AcknowledgementOrder(
                self._request_id, ack.channel, ack.reason.strip(), ack.actor.strip()
            ),
            **LEDGER,
        )
        self._clock.acknowledge()  # either way, the ledger holds an acknowledgement now
        at = datetime.fromisoformat(outcome.at) if outcome.at else workflow.now()
        if not outcome.recorded:
            raise ApplicationError(
                f"receipt was already acknowledged on {at:%Y-%m-%d %H:%M} UTC"
                f" ({outcome.how or 'by mail'})"
            )
        by = datetime.fromisoformat(outcome.acknowledge_by) if outcome.acknowledge_by else None
        return AcknowledgementRecorded(at, outcome.on_time, by)

    @acknowledge_receipt.validator
    def _refuse_acknowledgement(self, ack: ReceiptAcknowledgement) -> None:
        if self._stage in FINAL_STATUSES:
            raise ValueError(f"the request has already finished ({self._stage})")
        if self._clock.acknowledged:
            raise ValueError("receipt is already acknowledged")
        if ack.channel not in ACKNOWLEDGEMENT_CHANNELS:
            raise ValueError(
                f"unknown channel {ack.channel!r}: one of {', '.join(ACKNOWLEDGEMENT_CHANNELS)}"
            )
        if not ack.reason.strip() or not ack.actor.strip():
            raise ValueError("an acknowledgement needs a reference and who made it")

    @workflow.update
    def cancel_request(self, order: CancelOrder) -> str:
        """Withdraw the request before anything is erased. The gate stops waiting; the
        request ends ``cancelled`` (its state is sealed like any other answer)."""
        self._heard_an_update()
        self._cancel = CancelOrder(order.operator.strip()[:100], order.reason.strip()[:500])
        return "cancelled before verification: nothing was erased"

    @cancel_request.validator
    def _refuse_cancel(self, order: CancelOrder) -> None:
        if self._cancel is not None:
            raise ValueError("the request is already being cancelled")
        if self._stage in FINAL_STATUSES:
            raise ValueError(f"the request has already finished ({self._stage})")
        if self._verified is not None:
            raise ValueError(
                "identity is verified and erasure is under way: what is erased cannot be called"
                " back (place a legal hold to keep what is not erased yet)"
            )
        if not order.operator.strip() or not order.reason.strip():
            raise ValueError("a cancellation needs who decided it and why")

    @workflow.update
    async def extend_deadline(self, extension: DeadlineExtension) -> str:
        """Move the answer deadline (once). The ledger records it; the timers follow."""
        self._heard_an_update()
        await workflow.execute_activity_method(
            DeadlineActivities.record_deadline_extension,
            ExtensionOrder(
                self._request_id,
                extension.answer_by,
                extension.reason.strip(),
                extension.actor.strip(),
            ),
            **LEDGER,
        )
        self._clock.move(extension.answer_by)
        return extension.answer_by.isoformat()

    @extend_deadline.validator
    def _refuse_extension(self, extension: DeadlineExtension) -> None:
        clock = self._clock
        if self._stage in FINAL_STATUSES:
            raise ValueError("the request has already finished")
        if clock.extended:
            raise ValueError("the deadline was already extended; the rules allow one extension")
        if workflow.now() >= clock.answer_by:
            raise ValueError("too late: an extension must be announced before the deadline")
        if extension.answer_by <= clock.answer_by:
            raise ValueError("the new deadline must be later than the current one")
        if not extension.reason.strip() or not extension.actor.strip():
            raise ValueError("an extension needs a reason and who decided it")

    @workflow.query
    def progress(self) -> Progress:
        return Progress(
            stage=self._stage,
            systems=dict(self._systems),
            answer_by=self._clock.answer_by,
            extended=self._clock.extended,
            acknowledged=self._clock.acknowledged,
            code_sent=self._email.code_sent,
            code_expires_at=self._email.expires_at,
            code_resends=self._email.resends,
            refused_signals=self._signals.refused,
        )

    # -- the request ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ErasureRequest) -> ErasureResult:
        self._local_steps = workflow.patched(LEDGER_STEPS_LOCAL)
        # Both run alongside the gate and the erasure; neither is awaited (see _stop_the_clock).
        self._background = (
            asyncio.create_task(self._clock.run()),
            asyncio.create_task(self._acknowledge(request)),
        )
        gate = await self._identity_gate(request)
        if self._cancel is not None:  # accepted while the gate was open: it wins
            self._verified = False
            return await self._finish(
                request,
                RequestStatus.CANCELLED,
                f"withdrawn before verification: {self._cancel.reason}",
                (),
                actor=f"operator:{self._cancel.operator}",
            )
        self._verified = gate.verified
        if not gate.verified:
            return await self._finish(
                request, RequestStatus.REJECTED, gate.reason, (), actor=gate.actor
            )

        self._stage = RequestStatus.ERASING
        self._index(STATUS.value_set(RequestStatus.ERASING))
        self._systems = dict.fromkeys(request.systems, "erasing")  # each system's stage
        await self._record(
            StatusChange(
                request.request_id,
                RequestStatus.ERASING,
                actor=gate.actor,
                reason=gate.reason,
                event="verified",
                detail={"method": request.verification_method},
            )
        )
        outcomes = await self._plan_and_erase(request)
        if workflow.patched(STATUS_FROM_LEDGER):
            # The ledger decides, from each system's latest outcome: a later round of a
            # system (lethe retry) may have ended while this request was still open.
            return await self._finish(request, None, None, tuple(outcomes), actor="lethe")
        status = request_status(o.outcome for o in outcomes)
        return await self._finish(request, status, None, tuple(outcomes), actor="lethe")

    async def _identity_gate(self, request: ErasureRequest) -> GateDecision:
        """Whether the requester is who they say. Nothing is erased before this returns True."""
        method = request.verification_method
        if method == VerificationMethod.PREVERIFIED:
            return await self._portal_gate(request)
        if method not in (VerificationMethod.OPERATOR, VerificationMethod.EMAIL):
            return GateDecision.refused(f"unknown verification method {method!r}")

        self._stage = RequestStatus.AWAITING_VERIFICATION
        self._index(STATUS.value_set(RequestStatus.AWAITING_VERIFICATION))
        await self._record(
            StatusChange(
                request.request_id,
                RequestStatus.AWAITING_VERIFICATION,
                actor="lethe",
                detail={"method": method},
            )
        )
        if method == VerificationMethod.EMAIL:
            return await self._email.run(request, lambda: self._cancel is not None)
        timeout = timedelta(seconds=request.policy.verification_timeout_seconds)
        try:
            await workflow.wait_condition(
                lambda: self._approval is not None or self._cancel is not None, timeout=timeout
            )
        except TimeoutError:
            hours = request.policy.verification_timeout_seconds / 3600
            return GateDecision.refused(
                f"identity not verified within {hours:g} hours; nothing erased"
            )
        if self._approval is None:  # woken by a cancellation: ``run`` finishes it
            return GateDecision.refused("withdrawn before verification")
        return GateDecision(True, f"operator:{self._approval.operator}", self._approval.reason)

    async def _portal_gate(self, request: ErasureRequest) -> GateDecision:
        """Intake checked the portal's signed assertion; its evidence must be in the ledger."""
        evidence = await self._step(
            VerificationActivities.confirm_portal_assertion, request.request_id
        )
        if not evidence.found:
            return GateDecision.refused(
                "no accepted portal assertion is on record for this request; nothing erased"
            )
        how = ", ".join(evidence.methods) or "unspecified method"
        return GateDecision(True, f"portal:{evidence.issuer}", f"signed portal assertion ({how})")

    async def _acknowledge(self, request: ErasureRequest) -> None:
        """Tell the requester we have their request (the code's message does, for ``email``)."""
        if (
            request.verification_method == VerificationMethod.EMAIL
            or request.acknowledge_by is None
        ):
            return
        try:
            done = await workflow.execute_activity_method(
                DeadlineActivities.send_acknowledgement,
                AcknowledgementNotice(request.request_id, request.due_at),
                **MAIL,
            )
        except ActivityError:
            return  # recorded by the activity's failure; the acknowledgement timer escalates
        if done:
            self._clock.acknowledge()

    async def _plan_and_erase(self, request: ErasureRequest) -> tuple[SystemOutcome, ...]:
        """The plan step, then the fan-out. Held systems are decided by the plan (their
        ``Retained`` is already recorded) and get no child: their connectors are never called."""
        plan = await self._step(
            PlanningActivities.plan_erasure, PlanInput(request.request_id, request.systems, 0)
        )
        steps = {step.system: step for step in plan.systems}
        at_once = workflow.patched(SYSTEMS_AT_ONCE)

        async def one(system: str) -> SystemOutcome:
            step = steps.get(system)
            if step is not None and step.outcome is not None:
                self._systems[system] = step.outcome.outcome
                return step.outcome
            refer_to = step.controller if step is not None and step.action == "refer" else None
            manual = step is not None and step.action == "manual"
            return await self._erase_system(
                request, system, refer_to, at_once=at_once, manual=manual
            )

        return tuple(await asyncio.gather(*(one(system) for system in request.systems)))

    async def _erase_system(
        self,
        request: ErasureRequest,
        system: str,
        refer_to: str | None = None,
        *,
        at_once: bool = False,
        manual: bool = False,
    ) -> SystemOutcome:
        job = SystemErasure(
            request.request_id, system, 0, request.policy, refer_to=refer_to, manual=manual
        )
        # A system a person erases waits for them: always a child of its own.
        if at_once and refer_to is None and not manual:

            def stage(name: str) -> None:
                self._systems[system] = name

            done = await erase_at_once(job, stage)
            if isinstance(done, SystemErasure):
                job = done  # it must wait: a child carries on
            else:
                self._systems[system] = done.outcome
                return done
        parent = workflow.info().workflow_id
        outcome = await erase_in_child(job, system_erasure_id_under(parent, system, 0))
        self._systems[system] = outcome.outcome
        return outcome

    async def _finish(
        self,
        request: ErasureRequest,
        status: str | None,
        reason: str | None,
        outcomes: tuple[SystemOutcome, ...],
        *,
        actor: str,
    ) -> ErasureResult:
        """Record the final status (``None``: the ledger computes it), then seal."""
        await self._stop_the_clock()
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        if status is None:
            status = await self._step(
                RecordingActivities.record_answer, RequestAnswer(request.request_id, actor, counts)
            )
            self._stage = status
        else:
            self._stage = status
            await self._record(
                StatusChange(request.request_id, status, actor=actor, reason=reason, detail=counts)
            )
        self._index(STATUS.value_set(status))
        await self._seal(request.request_id)
        await self._acknowledgement_sent()
        workflow.logger.info("erasure finished", extra={"status": status})
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._not_in_an_updates_task()
        return ErasureResult(request.request_id, status, reason, outcomes)

    async def _seal(self, request_id: str) -> None:
        """Proof: the request's receipts go into the proof log under a new signed tree head.

        Every final status is sealed, refusals included (a rejected request's receipt proves
        it was answered, and when). After the final status is recorded, so that the sealed
        request receipt carries it.
        Idempotent; a later round that adds outcomes seals again the same way.
        """
        await self._step(SealingActivities.seal_request, request_id)

    async def _stop_the_clock(self) -> None:
        """The request is decided: its clock has nothing more to say.

        Nothing is cancelled: the workflow completes, and the server drops the timers that
        have not fired (and an acknowledgement still retrying) with the execution. Cancelling
        them would race a timer or an activity finishing at the same moment, for nothing.
        """
        self._clock.stop()

    def _heard_an_update(self) -> None:
        """Note the workflow task that delivered an update (see _not_in_an_updates_task)."""
        self._update_task = workflow.info().get_current_history_length()

    async def _not_in_an_updates_task(self) -> None:
        """Close in a later workflow task than one that delivered an update.

        With the ledger steps local, a request decided by an update (a cancellation) would be
        answered, sealed and closed in the very task that delivered it. Should that task fail
        (another event arrives while it closes the execution: the server refuses the close,
        as it must), Temporal fails an update it delivered but had not yet accepted: the
        caller hears "unexpected workflow task failure" and the request was cancelled all the
        same. One short timer first (three events, one task) keeps the update's task from
        closing anything; requests no update reached in their last task close at once."""
        if self._local_steps and self._update_task == workflow.info().get_current_history_length():
            await workflow.sleep(timedelta(milliseconds=1))

    async def _acknowledgement_sent(self) -> None:
        """With the ledger steps local, a request can be answered in the workflow task that
        asked for its acknowledgement (a portal request rejected at once), or before the mail
        went out: closing then would leave the activity scheduled as the execution closes (run
        or not, nobody could tell) or abandoned. The requester is owed the acknowledgement
        either way, so the execution waits for it (sent, or failed and recorded) first."""
        if self._local_steps:
            await self._background[1]

    def _index(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Keep the search attributes current: only for a request started with them, and only
        in histories that took the patch (those recorded before replay as they were)."""
        if self._indexed and workflow.patched(SEARCH_ATTRIBUTES_PATCH):
            workflow.upsert_search_attributes(list(updates))

    def _deadline_changed(self) -> None:
        """The clock says the deadline passed, or moved (an extension)."""
        answer_by = self._clock.answer_by
        self._index(DUE_DATE.value_set(answer_by), OVERDUE.value_set(workflow.now() >= answer_by))

    async def _record(self, change: StatusChange) -> None:
        await self._step(RecordingActivities.record_status, change)

    async def _step(
        self, activity: Callable[[Any, _Arg], Awaitable[_Result]], arg: _Arg
    ) -> _Result:
        """One of the request's ledger steps: a local activity (``ledger-steps-local``), or,
        in histories recorded before that patch, an activity task of its own. Either way
        idempotent (write keys) and retried until the ledger answers."""
        if self._local_steps:
            return await workflow.execute_local_activity_method(activity, arg, **LEDGER_STEP)
        return await workflow.execute_activity_method(activity, arg, **LEDGER)
