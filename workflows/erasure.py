"""One erasure request, from receipt to a final status.

    received ─▶ identity gate ─▶ plan ─▶ fan out: one SystemErasureWorkflow per system ─▶ status
                 │                 └─ legal holds ⇒ Retained, connector never called;
                 │                    processor-held systems ⇒ referred to their controller
                 └─ not verified in time, locked, or no evidence ⇒ rejected, nothing erased
    alongside:  the deadline clock (acknowledgement, reminder, overdue; moved by an extension)
    at the end: seal — the request's receipts enter the proof log under a signed tree head

Identity gate, by the request's verification method:
    email        a code mailed to the address on file; the requester's code comes back as the
                 ``submit_code`` update, checked by an activity; ``code_attempts`` wrong codes
                 lock the request, and after ``code_ttl_seconds`` it is rejected as unverified.
                 An operator may have a new code mailed (the ``resend_code`` update, at most
                 ``code_resends`` times): the old code stops working, wrong tries carry over
                 (a locked request stays locked), and the new code is good for
                 ``code_ttl_seconds`` but never past the verification window, which closes
                 ``max(code_ttl, verification_timeout)`` after the first code went out and
                 is never moved. The statutory clock is not touched by any of this.
    preverified  a portal assertion that intake checked and recorded; the gate confirms the
                 ledger holds it (a workflow started without one is rejected)
    operator     a named operator approves with a reason (the ``approve`` signal)

The workflow is deterministic orchestration only: every read and write happens in an
activity, time comes from ``workflow.now()`` and timers, logs go through ``workflow.logger``.
Its input and history hold a request id and a pseudonym, never an identifier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

# Data classes come from the host, not the sandbox: the sandbox's proxied ``datetime`` is not
# a class Temporal's converter can fill in.
with workflow.unsafe.imports_passed_through():
    from activities import (
        AcknowledgementNotice,
        AcknowledgementOrder,
        CodeAttempt,
        CodeChallenge,
        CodeResend,
        DeadlineActivities,
        ExtensionOrder,
        PlanInput,
        PlanningActivities,
        RecordingActivities,
        RequestAnswer,
        SealingActivities,
        StatusChange,
        SystemFailure,
        SystemOutcome,
        VerificationActivities,
    )
    from vocabulary import FINAL_STATUSES, RequestStatus, VerificationMethod, request_status

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

from .deadline_clock import DeadlineClock
from .refusals import Refused, SignalReader
from .system_erasure import SystemErasureWorkflow, describe_activity_failure

__all__ = ["STATUS_FROM_LEDGER", "ErasureWorkflow", "workflow_id_for"]

#: Patch: the final status is computed by an activity from the ledger's latest outcomes
#: (``record_answer``), no longer here from the fan-out's own (``record_status``).
STATUS_FROM_LEDGER = "status-from-ledger"

# Ledger writes: short, and retried until the database is back (they are idempotent).
_LEDGER_TIMEOUT = timedelta(seconds=60)
_LEDGER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))
# Mail: retried while the server is down; a refused recipient is final.
_MAIL_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["MailNotConfigured", "MailRejected", "SubjectUnavailable"],
)
# A resend answers the operator who waits on it: a few quick tries, then a clear failure.
_RESEND_RETRY = RetryPolicy(
    maximum_attempts=3,
    non_retryable_error_types=[
        "MailNotConfigured",
        "MailRejected",
        "MailUnavailable",
        "SubjectUnavailable",
    ],
)
_CODE_OUTCOMES = {
    "accepted": "code accepted: identity verified, erasure starts",
    "wrong_code": "wrong code",
    "locked": "too many wrong codes: the request is locked and will be rejected, nothing erased",
    "expired": "the code has expired: the request is rejected as unverified, nothing erased",
    "used": "this code was already used; a code is good once",
    "no_code": "no code has been sent for this request yet (or a new one is on its way)",
}
_FINAL_VERDICTS = ("accepted", "locked", "expired")


def _digits(code: str) -> str:
    """A code as typed ("3141 5926", "3141-5926") as the digits it stands for."""
    return "".join(ch for ch in code.strip() if ch not in " -")


def workflow_id_for(request_id: str) -> str:
    return f"erasure/{request_id}"


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
        self._clock = DeadlineClock(request)
        self._policy = request.policy
        self._code_sent = False
        self._code_verdict: str | None = None  # accepted | locked | expired, once decided
        self._code_expires_at: datetime | None = None  # the current code's; a resend moves it
        self._verify_by: datetime | None = None  # the gate's window; nothing moves it
        self._code_moved = 0  # bumped by each resend: the gate re-reads the expiry
        self._resends = 0
        self._resending = False
        self._attempts_left = request.policy.code_attempts
        self._verified: bool | None = None  # decided by the identity gate
        self._cancel: CancelOrder | None = None  # accepted only while the gate is undecided
        self._signals = SignalReader()  # refuses what is not encrypted under the payload key

    # -- signals, updates and queries -------------------------------------------------------

    @workflow.signal(name="approve")
    async def approve(self, raw: RawValue) -> None:
        """An operator confirms the requester's identity (an ``OperatorApproval``). Only the
        first approval counts, and only for a request verified by an operator, while its gate
        is open. A payload not encrypted under the payload key is refused and recorded."""
        approval = self._signals.read(raw, OperatorApproval, "approve")
        if isinstance(approval, Refused):
            await self._signals.record(self._request_id, "approve", approval)
            return
        if (
            self._approval is None
            and self._method == VerificationMethod.OPERATOR
            and self._verified is None
            and approval.operator.strip()
            and approval.reason.strip()
        ):
            self._approval = OperatorApproval(
                approval.operator.strip()[:100], approval.reason.strip()[:500]
            )

    @workflow.update
    async def submit_code(self, submission: CodeSubmission) -> CodeCheck:
        """The requester's emailed code: checked (and recorded) by an activity; answered at
        once. Only ``accepted`` opens the gate; ``locked`` and ``expired`` close it."""
        verdict = await workflow.execute_activity_method(
            VerificationActivities.check_verification_code,
            CodeAttempt(self._request_id, _digits(submission.code), submission.actor.strip()),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        if verdict.outcome in _FINAL_VERDICTS and self._code_verdict is None:
            self._code_verdict = verdict.outcome
        if verdict.outcome in ("wrong_code", "locked"):
            self._attempts_left = verdict.attempts_left
        message = _CODE_OUTCOMES.get(verdict.outcome, verdict.outcome)
        if verdict.outcome == "wrong_code":
            message += f" ({verdict.attempts_left} attempt(s) left)"
        return CodeCheck(
            verdict.outcome == "accepted", verdict.outcome, message, verdict.attempts_left
        )

    @submit_code.validator
    def _refuse_code_early(self, submission: CodeSubmission) -> None:
        """Refusals that need no look at the code (not recorded in the history; the caller
        records them in the ledger)."""
        if self._method != VerificationMethod.EMAIL:
            raise ValueError(
                f"this request is verified by {self._method or 'another method'}, "
                "not by an emailed code"
            )
        if self._code_verdict == "accepted" or self._verified:
            raise ValueError("identity is already verified: a code is good once")
        if self._code_verdict == "locked":
            raise ValueError("locked after too many wrong codes: nothing will be erased")
        if self._code_verdict == "expired" or self._verified is False:
            raise ValueError("the request was rejected; no code can verify it any more")
        if not self._code_sent:
            raise ValueError("no code has been sent for this request yet; try again shortly")
        digits = _digits(submission.code)
        if not (digits.isdigit() and len(digits) == 8):
            raise ValueError("a code is the 8 digits from the message")
        if not submission.actor.strip():
            raise ValueError("say who passes the code on")

    @workflow.update
    async def resend_code(self, order: CodeResendOrder) -> CodeResent:
        """Mail a new code (an operator's ``lethe verify --resend``). The old code stops
        working; wrong tries carry over; the new code's expiry never passes the gate's
        window. Answered once the mail went out (or could not)."""
        assert self._verify_by is not None  # the validator checked a code was sent
        ttl = timedelta(seconds=self._policy.code_ttl_seconds)
        expires_at = min(workflow.now() + ttl, self._verify_by)
        number = self._resends + 1
        self._resending = True
        try:
            state = await workflow.execute_activity_method(
                VerificationActivities.resend_verification_code,
                CodeResend(
                    self._request_id,
                    number,
                    expires_at,
                    self._clock.answer_by,
                    order.actor.strip()[:120],
                    order.reason.strip()[:500],
                ),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_RESEND_RETRY,
            )
        finally:
            self._resending = False
        if state == "locked":
            self._code_verdict = self._code_verdict or "locked"
            raise ApplicationError("locked after too many wrong codes: nothing will be erased")
        if state not in ("sent", "already_sent"):
            raise ApplicationError(f"no new code was sent: {_CODE_OUTCOMES.get(state, state)}")
        self._resends = number
        self._code_expires_at = expires_at
        self._code_moved += 1
        return CodeResent(
            expires_at, max(self._policy.code_resends - number, 0), self._attempts_left
        )

    @resend_code.validator
    def _refuse_resend(self, order: CodeResendOrder) -> None:
        if self._method != VerificationMethod.EMAIL:
            raise ValueError(
                f"this request is verified by {self._method or 'another method'}, "
                "not by an emailed code"
            )
        if self._code_verdict == "accepted" or self._verified:
            raise ValueError("identity is already verified: no new code is needed")
        if self._code_verdict == "locked":
            raise ValueError(
                "locked after too many wrong codes: a new code does not unlock it;"
                " nothing will be erased"
            )
        if self._code_verdict == "expired" or self._verified is False:
            raise ValueError("the request was rejected; no code can verify it any more")
        if self._cancel is not None:
            raise ValueError("the request is being cancelled")
        if not self._code_sent or self._code_expires_at is None:
            raise ValueError("the first code has not gone out yet; try again shortly")
        if workflow.now() >= self._code_expires_at:
            raise ValueError("the code has expired: the request is being rejected as unverified")
        if self._resending:
            raise ValueError("a new code is being sent already")
        limit = self._policy.code_resends
        if self._resends >= limit:
            raise ValueError(
                "resending codes is turned off ([verification] code_resends = 0)"
                if limit == 0
                else f"no more new codes: {limit} per request, all sent"
            )
        if not order.actor.strip():
            raise ValueError("say who asks for the new code")

    @workflow.update
    async def acknowledge_receipt(self, ack: ReceiptAcknowledgement) -> AcknowledgementRecorded:
        """An operator told the requester we have their request, by other means than
        Lethe's mail (``lethe acknowledge``). The ledger records it; the acknowledgement
        timer stops (if it has not fired yet)."""
        outcome = await workflow.execute_activity_method(
            DeadlineActivities.record_acknowledgement,
            AcknowledgementOrder(
                self._request_id, ack.channel, ack.reason.strip(), ack.actor.strip()
            ),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
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
        await workflow.execute_activity_method(
            DeadlineActivities.record_deadline_extension,
            ExtensionOrder(
                self._request_id,
                extension.answer_by,
                extension.reason.strip(),
                extension.actor.strip(),
            ),
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
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
            code_sent=self._code_sent,
            code_expires_at=self._code_expires_at,
            code_resends=self._resends,
            refused_signals=self._signals.refused,
        )

    # -- the request ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ErasureRequest) -> ErasureResult:
        # Both run alongside the gate and the erasure; neither is awaited (see _stop_the_clock).
        self._background = (
            asyncio.create_task(self._clock.run()),
            asyncio.create_task(self._acknowledge(request)),
        )
        verified, actor, reason = await self._identity_gate(request)
        if self._cancel is not None:  # accepted while the gate was open: it wins
            self._verified = False
            return await self._finish(
                request,
                RequestStatus.CANCELLED,
                f"withdrawn before verification: {self._cancel.reason}",
                (),
                actor=f"operator:{self._cancel.operator}",
            )
        self._verified = verified
        if not verified:
            return await self._finish(request, RequestStatus.REJECTED, reason, (), actor=actor)

        self._stage = RequestStatus.ERASING
        self._systems = dict.fromkeys(request.systems, "erasing")  # each system's stage
        await self._record(
            StatusChange(
                request.request_id,
                RequestStatus.ERASING,
                actor=actor,
                reason=reason,
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

    async def _identity_gate(self, request: ErasureRequest) -> tuple[bool, str, str | None]:
        """Whether the requester is who they say. Nothing is erased before this returns True."""
        method = request.verification_method
        if method == VerificationMethod.PREVERIFIED:
            return await self._portal_gate(request)
        if method not in (VerificationMethod.OPERATOR, VerificationMethod.EMAIL):
            return False, "lethe", f"unknown verification method {method!r}"

        self._stage = RequestStatus.AWAITING_VERIFICATION
        await self._record(
            StatusChange(
                request.request_id,
                RequestStatus.AWAITING_VERIFICATION,
                actor="lethe",
                detail={"method": method},
            )
        )
        if method == VerificationMethod.EMAIL:
            return await self._email_gate(request)
        timeout = timedelta(seconds=request.policy.verification_timeout_seconds)
        try:
            await workflow.wait_condition(
                lambda: self._approval is not None or self._cancel is not None, timeout=timeout
            )
        except TimeoutError:
            hours = request.policy.verification_timeout_seconds / 3600
            return False, "lethe", f"identity not verified within {hours:g} hours; nothing erased"
        if self._approval is None:  # woken by a cancellation: ``run`` finishes it
            return False, "lethe", "withdrawn before verification"
        return True, f"operator:{self._approval.operator}", self._approval.reason

    async def _portal_gate(self, request: ErasureRequest) -> tuple[bool, str, str | None]:
        """Intake checked the portal's signed assertion; its evidence must be in the ledger."""
        evidence = await workflow.execute_activity_method(
            VerificationActivities.confirm_portal_assertion,
            request.request_id,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
        if not evidence.found:
            return (
                False,
                "lethe",
                "no accepted portal assertion is on record for this request; nothing erased",
            )
        how = ", ".join(evidence.methods) or "unspecified method"
        return True, f"portal:{evidence.issuer}", f"signed portal assertion ({how})"

    async def _email_gate(self, request: ErasureRequest) -> tuple[bool, str, str | None]:
        """Mail a code; wait for the right one, too many wrong ones, or expiry."""
        policy = request.policy
        ttl = timedelta(seconds=policy.code_ttl_seconds)
        expires_at = workflow.now() + ttl
        self._verify_by = workflow.now() + max(
            ttl, timedelta(seconds=policy.verification_timeout_seconds)
        )
        try:
            await workflow.execute_activity_method(
                VerificationActivities.send_verification_code,
                CodeChallenge(request.request_id, expires_at, policy.code_attempts, request.due_at),
                start_to_close_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=ttl,
                retry_policy=_MAIL_RETRY,
            )
        except ActivityError as err:
            why = describe_activity_failure(err)
            return (
                False,
                "lethe",
                f"the verification code could not be sent ({why}); nothing erased",
            )
        self._code_sent = True
        self._code_expires_at = expires_at
        self._clock.acknowledge()  # the code's message tells the requester we have it
        # Without a resend this is one wait and one look, as it always was (the stored
        # histories in tests/workflows/histories replay on it); a resend moves the expiry
        # and the gate waits again, for the new code.
        while True:
            moved = self._code_moved
            remaining = self._code_expires_at - workflow.now()
            if remaining > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._gate_woken(moved), timeout=remaining)
            # Let a check (or a resend) under way finish before the verdict is read.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._code_verdict is not None or self._cancel is not None:
                break
            if self._code_moved == moved:
                break  # the code expired, and no resend came in time
        hours = policy.code_ttl_seconds / 3600
        if self._code_verdict == "accepted":
            return True, "requester:email-code", "the emailed code was given back"
        if self._code_verdict == "locked":
            return (
                False,
                "lethe",
                f"locked: too many wrong codes ({policy.code_attempts}); identity not verified;"
                " nothing erased",
            )
        self._code_verdict = self._code_verdict or "expired"
        return (
            False,
            "lethe",
            f"identity not verified: the emailed code expired after {hours:g} hours;"
            " nothing erased",
        )

    def _gate_woken(self, moved: int) -> Callable[[], bool]:
        """A verdict, a cancellation, or a resend since ``moved``."""
        return lambda: (
            self._code_verdict is not None or self._cancel is not None or self._code_moved != moved
        )

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
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_MAIL_RETRY,
            )
        except ActivityError:
            return  # recorded by the activity's failure; the acknowledgement timer escalates
        if done:
            self._clock.acknowledge()

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
            status = await workflow.execute_activity_method(
                RecordingActivities.record_answer,
                RequestAnswer(request.request_id, actor, counts),
                start_to_close_timeout=_LEDGER_TIMEOUT,
                retry_policy=_LEDGER_RETRY,
            )
            self._stage = status
        else:
            self._stage = status
            await self._record(
                StatusChange(request.request_id, status, actor=actor, reason=reason, detail=counts)
            )
        await self._seal(request.request_id)
        workflow.logger.info("erasure finished", extra={"status": status})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ErasureResult(request.request_id, status, reason, outcomes)

    async def _seal(self, request_id: str) -> None:
        """Proof: the request's receipts go into the proof log under a new signed tree head.

        Every final status is sealed, refusals included (a rejected request's receipt proves
        it was answered, and when). After the final status is recorded, so that the sealed
        request receipt carries it.
        Idempotent; a later round that adds outcomes seals again the same way.
        """
        await workflow.execute_activity_method(
            SealingActivities.seal_request,
            request_id,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )

    async def _stop_the_clock(self) -> None:
        """The request is decided: its clock has nothing more to say.

        Nothing is cancelled: the workflow completes, and the server drops the timers that
        have not fired (and an acknowledgement still retrying) with the execution. Cancelling
        them would race a timer or an activity finishing at the same moment, for nothing.
        """
        self._clock.stop()

    async def _record(self, change: StatusChange) -> None:
        await workflow.execute_activity_method(
            RecordingActivities.record_status,
            change,
            start_to_close_timeout=_LEDGER_TIMEOUT,
            retry_policy=_LEDGER_RETRY,
        )
