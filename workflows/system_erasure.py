"""One system's part of a request: erase → (poll while pending) → verify → outcome.

A system that answers at once is erased and verified by the request's own workflow
(:func:`erase_at_once`). One that must wait gets a child workflow (:func:`erase_in_child`,
``SystemErasureWorkflow``), which keeps its timers, retries and history apart: one slow
system never holds up the others, and can be retried alone.

A processor-held system (``job.refer_to``), or one whose connector answers ``Referred``, is
referred to its controller instead:

    record the referral ─▶ notify the controller (signed webhook) ─▶ wait for its instruction
        └─ no answer by the deadline, or it cannot be notified ⇒ escalated to an operator,
           who gives the instruction instead (the wait goes on without a timer)
    erase  ⇒ the next round erases through the connector (erase → poll → verify)
    retain ⇒ the next round records Retained with the instruction's basis and date

A system a person erases (``job.manual``, ``connectors.manual``) gets a task instead:

    open the task, alert ─▶ wait for the operator's answer (``answer_task``)
        └─ not answered when due (before the request's deadline) ⇒ escalated, alerted;
           the wait goes on without a timer
    done   ⇒ erased (the operator's evidence is kept with the task's event)
    retain ⇒ Retained with the answer's basis and date
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    RetryState,
)
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities import (
        ErasureActivities,
        InstructionRecord,
        ManualAnswerRecord,
        ManualTaskActivities,
        ManualTaskEscalation,
        ProcessorOverdue,
        RecordingActivities,
        ReferralActivities,
        ReferralEscalation,
        ReferralTask,
        SystemFailure,
        SystemOutcome,
        SystemTask,
        TaskAnswer,
        system_activity_id,
    )
    from activities.erasure import SYSTEM_NOT_ON_THIS_WORKER
    from vocabulary import OutcomeKind

    from .round_types import ControllerInstruction, EscalationChange
    from .types import ErasurePolicy, SystemErasure

from .activity_options import (
    INSTRUCTED_RETENTION,
    LEDGER,
    NOTICE_ERRORS,
    connector_call,
    connector_retry,
)
from .ids import request_id_of, workflow_id_for
from .refusals import Refused, SignalReader

__all__ = [
    "AWAIT_PROCESSOR",
    "ESCALATION_TO_REQUEST",
    "VERIFY_NOT_SEARCHED",
    "WAIT_FOR_SYSTEM_WORKER",
    "SystemErasureWorkflow",
    "describe_activity_failure",
    "erase_at_once",
    "erase_in_child",
]

#: Patch: a system not searched in full (``not_searched``) that erased what the identifiers
#: present found is verified after the erase, like an erased one. Asked only on that path,
#: which no history recorded before the outcome existed can reach.
VERIFY_NOT_SEARCHED = "verify-not-searched"

#: Patch: a task no worker with the system took is scheduled again after a wait, never
#: recorded as the system's failure (SystemNotConfigured used to be a permanent error).
WAIT_FOR_SYSTEM_WORKER = "wait-for-system-worker"
_LONGEST_WAIT = timedelta(hours=1)

#: Patch: a system's child tells its request's workflow when its referral is escalated and
#: when the instruction comes (a signal), so the request's ``LetheStatus`` says "escalated"
#: while an operator must decide. Histories before it send nothing.
ESCALATION_TO_REQUEST = "escalation-to-request"

#: Patch: a pending system whose processor promised a time (``answer_by``: the ``webhook``
#: connector) waits until then, woken early by its callback (the ``processor_answered``
#: signal) and polled on timers meanwhile, then escalates to the operators. Asked only with
#: a promise, which no outcome carried before the patch.
AWAIT_PROCESSOR = "await-processor-answer"
#: The stages in which a referred system waits for its controller's instruction.
_AWAITING_INSTRUCTION = (OutcomeKind.REFERRED, "escalated")
#: The stages in which a manual system waits for an operator's answer.
_AWAITING_A_PERSON = ("manual_task", "manual_task_overdue")
T = TypeVar("T")


def _instruction_refusal(instruction: ControllerInstruction) -> str | None:
    """Why an instruction cannot be carried out as given, or None: ``erase``, or ``retain``
    with a legal basis and exactly one of a date kept until or a review date."""
    if not instruction.operator.strip() or not instruction.reason.strip():
        return "an instruction needs who enters it and what the controller said"
    if instruction.action == "erase":
        return None
    if instruction.action != "retain":
        return f"an instruction is erase or retain, not {instruction.action!r}"
    if not instruction.legal_basis:
        return "a retention needs its legal basis"
    if (instruction.retained_until is None) == (instruction.review_on is None):
        return "a retention needs exactly one of a date kept until or a review date"
    return None


def _answer_refusal(answer: TaskAnswer) -> str | None:
    """Why an answer to a manual task cannot be recorded as given, or None."""
    if not answer.operator.strip() or not answer.evidence.strip():
        return "an answer needs who gives it and what was done (or why it is kept)"
    if answer.action == "done":
        if answer.legal_basis or answer.retained_until or answer.review_on:
            return "a legal basis and dates go with retain, not with done"
        return None
    if answer.action != "retain":
        return f"an answer is done or retain, not {answer.action!r}"
    if not answer.legal_basis:
        return "a retention needs its legal basis"
    if (answer.retained_until is None) == (answer.review_on is None):
        return "a retention needs exactly one of a date kept until or a review date"
    return None


def describe_activity_failure(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        what = f"{cause.type}: {cause.message}" if cause.type else cause.message
    elif isinstance(cause, TemporalTimeout):
        what = f"timed out ({cause.type.name.lower() if cause.type else 'unknown'})"
    else:
        what = str(cause or err)
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        what += " (retries exhausted)"
    return what


def _needs_verifying(outcome: SystemOutcome) -> bool:
    """Whether the system is asked again, after the erase, what still matches."""
    return outcome.verifiable and (
        outcome.outcome in {OutcomeKind.ERASED, OutcomeKind.RETAINED}
        or (
            outcome.outcome == OutcomeKind.NOT_SEARCHED
            and any(outcome.counts.values())
            and workflow.patched(VERIFY_NOT_SEARCHED)
        )
    )


async def _verified(
    task: SystemTask,
    call: Mapping[str, Any],
    outcome: SystemOutcome,
    activity_id: str | None = None,
) -> SystemOutcome:
    """The outcome after the system was asked what still matches: ``failed`` when anything
    does (the activity records the residue)."""
    check = await workflow.execute_activity_method(
        ErasureActivities.verify_in_system,
        task,
        activity_id=activity_id,
        **call,
    )
    if check.clean:
        return outcome
    left = ", ".join(f"{k}={v}" for k, v in sorted(check.remaining.items()))
    return replace(
        outcome,
        outcome=OutcomeKind.FAILED,
        error=f"verification after erase found items left: {left}",
    )


def _unserved(err: ActivityError) -> bool:
    """The activity failed only because no worker that has the system took it."""
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == SYSTEM_NOT_ON_THIS_WORKER


async def erase_at_once(
    job: SystemErasure, on_stage: Callable[[str], None]
) -> SystemOutcome | SystemErasure:
    """One system's erase and verification run by the calling workflow itself, for a system
    that answers at once: the outcome, recorded by the activities as a child records it.

    Or, when the system needs a workflow of its own (:func:`erase_in_child`), the child's
    job: it answered ``pending`` (polls and timers) or ``referred`` (a controller's
    instruction), and the child carries on from that answer (``answered``); or no worker that
    has it took the task, and the child waits for one. Most systems answer at once: this
    saves a workflow execution, its sandbox and its history per system.
    """
    task = SystemTask(job.request_id, job.system, job.round)
    call = connector_call(job.policy)
    try:
        outcome = await workflow.execute_activity_method(
            ErasureActivities.erase_in_system,
            task,
            activity_id=system_activity_id("erase", job.system, job.round),
            **call,
        )
        if outcome.outcome in (OutcomeKind.PENDING, OutcomeKind.REFERRED):
            return replace(job, answered=outcome)
        if _needs_verifying(outcome):
            on_stage("verifying")
            verify_id = system_activity_id("verify", job.system, job.round)
            outcome = await _verified(task, call, outcome, verify_id)
    except ActivityError as err:
        if _unserved(err):
            return job
        on_stage(OutcomeKind.FAILED)
        return await workflow.execute_activity_method(
            RecordingActivities.record_system_failure,
            SystemFailure(job.request_id, job.system, job.round, describe_activity_failure(err)),
            **LEDGER,
        )
    return outcome


async def erase_in_child(job: SystemErasure, workflow_id: str) -> SystemOutcome:
    """One system's erasure as a child workflow of the caller (a request, or a later round),
    and its outcome. A child that itself died (terminated, timed out) is recorded as the
    system's failure: the caller always gets an outcome the ledger holds."""
    try:
        return await workflow.execute_child_workflow(SystemErasureWorkflow.run, job, id=workflow_id)
    except ChildWorkflowError as err:
        return await workflow.execute_activity_method(
            RecordingActivities.record_system_failure,
            SystemFailure(
                job.request_id, job.system, job.round, f"system workflow ended: {err.cause}"
            ),
            **LEDGER,
        )


@workflow.defn(name="SystemErasureWorkflow")
class SystemErasureWorkflow:
    def __init__(self) -> None:
        self._stage = "erasing"
        self._round = 0  # the round a referral waits in
        self._instruction: ControllerInstruction | None = None
        self._answer: TaskAnswer | None = None
        self._signals = SignalReader()  # refuses what is not encrypted under the payload key
        self._processor_answered = False  # a callback recorded the processor's answer

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.update
    def instruct(self, instruction: ControllerInstruction) -> str:
        """The controller's answer to a referral, entered by an operator (``lethe
        controller-instruction``). The validator refuses, with the reason, one that cannot
        be carried out; an accepted one is recorded and carried out by the run."""
        self._instruction = instruction
        return f"{instruction.action}: carried out in round {self._round + 1}"

    @instruct.validator
    def _refuse_instruction(self, instruction: ControllerInstruction) -> None:
        if self._instruction is not None:
            given = self._instruction
            raise ValueError(
                f"an instruction was already given ({given.action}, by {given.operator})"
            )
        if self._stage not in _AWAITING_INSTRUCTION:
            raise ValueError(
                f"this system is not waiting for a controller's instruction ({self._stage})"
            )
        why = _instruction_refusal(instruction)
        if why is not None:
            raise ValueError(why)
        if instruction.action == "erase" and (
            instruction.legal_basis or instruction.retained_until or instruction.review_on
        ):
            raise ValueError("a legal basis and dates go with retain, not with erase")

    @workflow.update
    def answer_task(self, answer: TaskAnswer) -> str:
        """An operator's answer to the manual task this system waits on (``lethe task
        done`` / ``lethe task retain``). The validator refuses, with the reason, one that
        cannot be recorded; an accepted one is recorded by the run."""
        self._answer = answer
        return f"{answer.action}: recorded"

    @answer_task.validator
    def _refuse_answer(self, answer: TaskAnswer) -> None:
        if self._answer is not None:
            raise ValueError(
                f"the task was answered already ({self._answer.action}, by {self._answer.operator})"
            )
        if self._stage not in _AWAITING_A_PERSON:
            raise ValueError(f"this system is not waiting for a manual task ({self._stage})")
        why = _answer_refusal(answer)
        if why is not None:
            raise ValueError(why)

    @workflow.signal(name="processor_answered")
    def processor_answered(self) -> None:
        """A processor's callback was verified and its answer recorded in the ledger
        (``lethe serve``): ask the ledger now instead of at the next poll. It carries
        nothing: the answer is read from the ledger, where the callback put it."""
        self._processor_answered = True

    @workflow.signal(name="controller_instruction")
    async def controller_instruction(self, raw: RawValue) -> None:
        """The ``controller_instruction`` signal, as referrals opened before the ``instruct``
        update were answered; kept for them. Only the first well-formed one counts, and
        nobody hears a refusal. One not encrypted under the payload key is refused and
        recorded."""
        instruction = self._signals.read(raw, ControllerInstruction, "controller_instruction")
        if isinstance(instruction, Refused):
            request_id = request_id_of(workflow.info().workflow_id)
            await self._signals.record(request_id, "controller_instruction", instruction)
            return
        if self._instruction is None and _instruction_refusal(instruction) is None:
            self._instruction = instruction

    @workflow.run
    async def run(self, job: SystemErasure) -> SystemOutcome:
        if job.refer_to is not None:
            # Processor-held: the controller decides first; the connector is not called.
            return await self._refer(job, job.round, job.refer_to, connector_called=False)
        if job.manual:
            return await self._manual(job)
        outcome = await self._erase(job, job.round, answered=job.answered)
        if outcome.outcome == OutcomeKind.REFERRED:
            return await self._refer(
                job, job.round, outcome.controller or "", connector_called=True
            )
        return outcome

    async def _erase(
        self, job: SystemErasure, round_: int, *, answered: SystemOutcome | None = None
    ) -> SystemOutcome:
        """erase → (poll while pending) → verify, for one round; failures are recorded.
        ``answered``: the erase was already asked, and this is its answer."""
        policy = job.policy
        task = SystemTask(job.request_id, job.system, round_)
        call = connector_call(policy)
        self._stage = "erasing"
        try:
            if answered is not None:
                outcome = answered
            else:
                outcome = await self._served(
                    lambda: workflow.execute_activity_method(
                        ErasureActivities.erase_in_system,
                        task,
                        **call,
                    ),
                    policy,
                )
            polls = 0
            if (
                outcome.outcome == OutcomeKind.PENDING
                and outcome.answer_by is not None
                and workflow.patched(AWAIT_PROCESSOR)
            ):
                promised = outcome.answer_by
                outcome = await self._await_processor(task, call, policy, outcome)
                if outcome.outcome == OutcomeKind.PENDING:
                    return await self._fail(
                        job,
                        round_,
                        f"the processor promised an answer by {promised} and gave none"
                        f" (ticket {outcome.ticket}); escalated to the operators: ask it, then"
                        " lethe retry asks again",
                    )
            while outcome.outcome == OutcomeKind.PENDING and polls < policy.pending_poll_limit:
                self._stage = OutcomeKind.PENDING
                await workflow.sleep(timedelta(seconds=outcome.poll_after_seconds or 300))
                outcome = await self._served(
                    lambda: workflow.execute_activity_method(
                        ErasureActivities.poll_system,
                        task,
                        **call,
                    ),
                    policy,
                )
                polls += 1
            if outcome.outcome == OutcomeKind.PENDING:
                # Not finished is not done: a request must not end "completed" on a promise.
                return await self._fail(
                    job,
                    round_,
                    f"still pending after {polls} status polls (ticket {outcome.ticket}); "
                    "lethe retry asks the system again",
                )
            if _needs_verifying(outcome):
                self._stage = "verifying"
                outcome = await self._served(lambda: _verified(task, call, outcome), policy)
        except ActivityError as err:
            return await self._fail(job, round_, describe_activity_failure(err))
        self._stage = outcome.outcome
        return outcome

    async def _await_processor(
        self,
        task: SystemTask,
        call: Mapping[str, Any],
        policy: ErasurePolicy,
        outcome: SystemOutcome,
    ) -> SystemOutcome:
        """Wait for a processor that promised an answer by ``outcome.answer_by``: until its
        callback (``processor_answered``) or the next poll, polling with the back-off the
        connector asks for, until the promised time. Still pending then: escalated (a
        ``processor_overdue`` event and the operators' alert) and returned pending. The
        first promise holds: a processor that keeps moving it is escalated all the same."""
        assert outcome.answer_by is not None
        promised = outcome.answer_by
        due = datetime.fromisoformat(promised)
        while outcome.outcome == OutcomeKind.PENDING:
            left = due - workflow.now()
            if left <= timedelta(0):
                break
            self._stage = OutcomeKind.PENDING
            wait = min(timedelta(seconds=outcome.poll_after_seconds or 300), left)
            with suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._processor_answered, timeout=wait)
            self._processor_answered = False
            outcome = await self._served(
                lambda: workflow.execute_activity_method(
                    ErasureActivities.poll_system,
                    task,
                    **call,
                ),
                policy,
            )
        if outcome.outcome == OutcomeKind.PENDING:
            await workflow.execute_activity_method(
                ErasureActivities.escalate_pending,
                ProcessorOverdue(
                    task.request_id,
                    task.system,
                    task.round,
                    outcome.ticket or "",
                    promised,
                ),
                **LEDGER,
            )
        return outcome

    async def _served(self, call: Callable[[], Awaitable[T]], policy: ErasurePolicy) -> T:
        """An activity of this system, run until a worker that has the system runs it.

        A worker without the system fails the task retryably (``SystemNotOnThisWorker``), so
        its retries go to whichever worker polls next. When they are spent, that is still
        not a failure of the system (a rolling deploy, a system missing from one worker's
        lethe.toml): wait (the retry policy's longest interval, doubling each time, an hour at
        most) and schedule it again. The
        activity records it and alerts the operators; ``lethe status`` shows the wait.
        """
        waits = 0
        while True:
            try:
                return await call()
            except ActivityError as err:
                if not _unserved(err) or not workflow.patched(WAIT_FOR_SYSTEM_WORKER):
                    raise
            waits += 1
            stage, self._stage = self._stage, "waiting_for_worker"
            pause = timedelta(seconds=policy.retry_max_interval_seconds * 2 ** (waits - 1))
            await workflow.sleep(min(pause, _LONGEST_WAIT))
            self._stage = stage

    async def _refer(
        self, job: SystemErasure, round_: int, controller: str, *, connector_called: bool
    ) -> SystemOutcome:
        """Refer the system to its controller and carry out the instruction that comes back."""
        self._stage = OutcomeKind.REFERRED
        self._round = round_
        task = ReferralTask(job.request_id, job.system, round_, controller, connector_called)
        opened = await workflow.execute_activity_method(
            ReferralActivities.open_referral,
            task,
            **LEDGER,
        )
        trouble = opened.why_not
        if trouble is None:
            try:
                await workflow.execute_activity_method(
                    ReferralActivities.notify_controller,
                    task,
                    start_to_close_timeout=timedelta(seconds=job.policy.erase_timeout_seconds),
                    retry_policy=connector_retry(job.policy, NOTICE_ERRORS),
                )
            except ActivityError as err:
                trouble = f"the controller could not be notified: {describe_activity_failure(err)}"
        if trouble is None:
            within = timedelta(seconds=opened.answer_within_seconds)
            try:
                if within > timedelta(0):
                    await workflow.wait_condition(
                        lambda: self._instruction is not None, timeout=within
                    )
            except TimeoutError:
                pass
            if self._instruction is None:
                days = opened.answer_within_seconds / 86400
                trouble = f"no instruction from {controller} within {days:g} days"
        if self._instruction is None:
            await workflow.execute_activity_method(
                ReferralActivities.escalate_referral,
                ReferralEscalation(job.request_id, job.system, round_, trouble or "no answer"),
                **LEDGER,
            )
            self._stage = "escalated"
            told = await self._tell_the_request(job, escalated=True)
            # An operator decides now. No timer: the wait adds nothing to the history.
            await workflow.wait_condition(lambda: self._instruction is not None)
        else:
            told = False
        instruction = self._instruction
        assert instruction is not None
        record = InstructionRecord(
            job.request_id,
            job.system,
            round_,
            instruction.action,
            instruction.operator,
            instruction.reason,
            legal_basis=instruction.legal_basis,
            retained_until=instruction.retained_until,
            review_on=instruction.review_on,
        )
        await workflow.execute_activity_method(
            ReferralActivities.record_instruction,
            record,
            **LEDGER,
        )
        if told:
            await self._tell_the_request(job, escalated=False)
        if instruction.action == "erase":
            # A connector that answers Referred again ends referred: no second referral.
            return await self._erase(job, round_ + 1)
        try:
            outcome = await workflow.execute_activity_method(
                ReferralActivities.record_instructed_retention,
                record,
                **INSTRUCTED_RETENTION,
            )
        except ActivityError as err:
            return await self._fail(job, round_ + 1, describe_activity_failure(err))
        self._stage = outcome.outcome
        return outcome

    async def _manual(self, job: SystemErasure) -> SystemOutcome:
        """A person erases the system: open the task, wait for the answer, escalate when due."""
        self._stage = "manual_task"
        task = SystemTask(job.request_id, job.system, job.round)
        opened = await self._served(
            lambda: workflow.execute_activity_method(
                ManualTaskActivities.open_manual_task, task, **LEDGER
            ),
            job.policy,
        )
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._answer is not None,
                timeout=timedelta(seconds=max(opened.wait_seconds, 1.0)),
            )
        if self._answer is None:
            await workflow.execute_activity_method(
                ManualTaskActivities.escalate_manual_task,
                ManualTaskEscalation(
                    job.request_id,
                    job.system,
                    job.round,
                    f"not done by {opened.due_at[:16]} (assigned to {opened.assignee})",
                ),
                **LEDGER,
            )
            self._stage = "manual_task_overdue"
            # An operator answers now. No timer: the wait adds nothing to the history.
            await workflow.wait_condition(lambda: self._answer is not None)
        answer = self._answer
        assert answer is not None
        try:
            outcome = await workflow.execute_activity_method(
                ManualTaskActivities.record_manual_answer,
                ManualAnswerRecord(job.request_id, job.system, job.round, answer),
                **INSTRUCTED_RETENTION,
            )
        except ActivityError as err:
            return await self._fail(job, job.round, describe_activity_failure(err))
        self._stage = outcome.outcome
        return outcome

    async def _tell_the_request(self, job: SystemErasure, *, escalated: bool) -> bool:
        """Signal the request's workflow, when it is this child's parent, that the system's
        referral is escalated (or no longer): it keeps its search attributes current. Whether
        it was told (never, in histories before the patch)."""
        parent = workflow.info().parent
        if parent is None or parent.workflow_id != workflow_id_for(job.request_id):
            return False  # a later round's child: the request's workflow may be closed
        if not workflow.patched(ESCALATION_TO_REQUEST):
            return False
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "system_escalated", EscalationChange(job.system, escalated)
            )
        except FailureError:  # the request goes on; only its search attribute lags
            workflow.logger.warning("escalation not signalled", extra={"system": job.system})
        return True

    async def _fail(self, job: SystemErasure, round_: int, error: str) -> SystemOutcome:
        self._stage = OutcomeKind.FAILED
        return await workflow.execute_activity_method(
            RecordingActivities.record_system_failure,
            SystemFailure(job.request_id, job.system, round_, error),
            **LEDGER,
        )
