"""ErasureWorkflow on the time-skipping test server, activities replaced by fakes.

The fakes keep the real activity names, so the workflow code under test is exactly what runs in
production; what each system answers is scripted per test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import (
    AcknowledgementNotice,
    AcknowledgementOrder,
    AcknowledgementOutcome,
    AssertionEvidence,
    CodeAttempt,
    CodeChallenge,
    CodeResend,
    CodeSent,
    CodeVerdict,
    DeadlineEvent,
    DueQuery,
    DueRound,
    DueRounds,
    ErasurePlan,
    ExtensionOrder,
    InstructionRecord,
    ManualAnswerRecord,
    ManualTaskEscalation,
    ManualTaskOpened,
    PlanInput,
    ReferralEscalation,
    ReferralOpened,
    ReferralTask,
    RequestAnswer,
    RoundClosed,
    RoundStatus,
    RoundTask,
    SealResult,
    ShredQuery,
    ShredReport,
    StallQuery,
    StallReport,
    StatusChange,
    SystemFailure,
    SystemOutcome,
    SystemPlan,
    SystemTask,
    Verification,
)
from activities.write_keys import activity_write_key
from lethe.worker import workflow_runner
from vocabulary import request_status
from workflows import (
    ALL_WORKFLOWS,
    CancelOrder,
    ErasurePolicy,
    ErasureRequest,
    ErasureResult,
    ErasureWorkflow,
    OperatorApproval,
)

FAST = ErasurePolicy(
    verification_timeout_seconds=72 * 3600,
    attempt_limit=3,
    retry_initial_seconds=1,
    retry_max_interval_seconds=2,
)

Script = Callable[[SystemTask, int], SystemOutcome]


def erased(task: SystemTask, _: int) -> SystemOutcome:
    return SystemOutcome(task.system, "erased", counts={"rows.deleted": 1}, verifiable=True)


@dataclass
class Fakes:
    scripts: dict[str, Script] = field(default_factory=dict)
    residue: dict[str, dict[str, int]] = field(default_factory=dict)
    erase_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    erase_rounds: list[tuple[str, int]] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: list[StatusChange] = field(default_factory=list)
    failures: list[SystemFailure] = field(default_factory=list)
    # (request id, the last status recorded when sealing was asked for)
    seals: list[tuple[str, str | None]] = field(default_factory=list)
    # The plan step: systems under a legal hold (system -> hold id), processor-held systems.
    holds: dict[str, str] = field(default_factory=dict)
    processors: dict[str, str] = field(default_factory=dict)
    # Systems a person erases (manual tasks): how long until a task is due.
    manual: dict[str, float] = field(default_factory=dict)
    tasks_opened: list[SystemTask] = field(default_factory=list)
    tasks_overdue: list[ManualTaskEscalation] = field(default_factory=list)
    task_answers: list[ManualAnswerRecord] = field(default_factory=list)
    plans: list[PlanInput] = field(default_factory=list)
    # Controller referrals.
    answer_within_seconds: float = 14 * 86400
    notify_error: ApplicationError | None = None
    referrals: list[ReferralTask] = field(default_factory=list)
    notices: list[ReferralTask] = field(default_factory=list)
    escalations: list[ReferralEscalation] = field(default_factory=list)
    instructions: list[InstructionRecord] = field(default_factory=list)
    # Later rounds and the sweep.
    latest: dict[str, str] = field(default_factory=dict)
    rounds_opened: list[RoundTask] = field(default_factory=list)
    rounds_closed: list[RoundTask] = field(default_factory=list)
    round_statuses: list[RoundStatus] = field(default_factory=list)
    due: list[DueRound] = field(default_factory=list)
    shred: tuple[str, ...] = ()
    stall_checks: list[StallQuery] = field(default_factory=list)
    # The identity gate and the clock (tests/workflows/test_identity_gate.py runs the real ones).
    assertions_on_record: bool = True
    challenges: list[CodeChallenge] = field(default_factory=list)
    code: str = "31415926"
    code_attempts: list[str] = field(default_factory=list)
    acknowledgements: list[AcknowledgementNotice] = field(default_factory=list)
    mail_configured: bool = True
    deadline_events: list[DeadlineEvent] = field(default_factory=list)
    extensions: list[ExtensionOrder] = field(default_factory=list)
    resends: list[CodeResend] = field(default_factory=list)
    manual_acks: list[AcknowledgementOrder] = field(default_factory=list)
    # How many status polls a pending system needs before it finishes.
    polls_until_done: int = 3
    # What each ledger step wrote, by its write key: a step run again under the same key (a
    # retried activity, or a local activity run again after its workflow task failed) writes
    # nothing and answers as the first run did, as the ledger's write keys make it.
    written: dict[str, object] = field(default_factory=dict)

    def _first(self) -> bool:
        """Whether the ledger step running now writes (no write of its key is on record)."""
        key = activity_write_key()
        if key is not None:
            if key in self.written:
                return False
            self.written[key] = None
        return True

    @activity.defn(name="erase_in_system")
    async def erase_in_system(self, task: SystemTask) -> SystemOutcome:
        self.erase_calls[task.system] += 1
        self.erase_rounds.append((task.system, task.round))
        return self.scripts.get(task.system, erased)(task, self.erase_calls[task.system])

    @activity.defn(name="poll_system")
    async def poll_system(self, task: SystemTask) -> SystemOutcome:
        self.polls[task.system] += 1
        if self.polls[task.system] < self.polls_until_done:
            return SystemOutcome(task.system, "pending", ticket="t-1", poll_after_seconds=3600)
        return SystemOutcome(task.system, "erased", counts={"jobs.done": 1})

    @activity.defn(name="verify_in_system")
    async def verify_in_system(self, task: SystemTask) -> Verification:
        left = self.residue.get(task.system, {})
        return Verification(task.system, not left, left)

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        if self._first():
            self.statuses.append(change)

    @activity.defn(name="record_answer")
    async def record_answer(self, answer: RequestAnswer) -> str:
        """As the ledger does, from the latest outcomes: the fan-out's (``detail`` counts them),
        overridden per system by ``latest`` when a test scripts later rounds."""
        key = activity_write_key()
        if key is not None and key in self.written:
            return str(self.written[key])
        outcomes = [*answer.detail] if not self.latest else list(self.latest.values())
        status = request_status(outcomes)
        self.statuses.append(
            StatusChange(answer.request_id, status, actor=answer.actor, detail=answer.detail)
        )
        if key is not None:
            self.written[key] = status
        return status

    @activity.defn(name="record_system_failure")
    async def record_system_failure(self, failure: SystemFailure) -> SystemOutcome:
        self.failures.append(failure)
        return SystemOutcome(failure.system, "failed", error=failure.error)

    @activity.defn(name="seal_request")
    async def seal_request(self, request_id: str) -> SealResult:
        if self._first():
            self.seals.append((request_id, self.statuses[-1].status if self.statuses else None))
        return SealResult(request_id, appended=1, tree_size=len(self.seals))

    @activity.defn(name="plan_erasure")
    async def plan_erasure(self, plan: PlanInput) -> ErasurePlan:
        if self._first():
            self.plans.append(plan)
        steps = []
        for system in plan.systems:
            if system in self.holds:
                kept = SystemOutcome(
                    system,
                    "retained",
                    legal_basis="legal-hold",
                    review_on="2027-01-31",
                    note=f"legal hold {self.holds[system]}: litigation",
                )
                steps.append(SystemPlan(system, "hold", hold_id=self.holds[system], outcome=kept))
            elif system in self.processors:
                steps.append(SystemPlan(system, "refer", controller=self.processors[system]))
            elif system in self.manual:
                steps.append(SystemPlan(system, "manual"))
            else:
                steps.append(SystemPlan(system, "erase"))
        return ErasurePlan(tuple(steps))

    @activity.defn(name="open_referral")
    async def open_referral(self, task: ReferralTask) -> ReferralOpened:
        self.referrals.append(task)
        known = task.controller != "nobody-knows"
        return ReferralOpened(
            self.answer_within_seconds, known, None if known else "controller not configured"
        )

    @activity.defn(name="notify_controller")
    async def notify_controller(self, task: ReferralTask) -> None:
        self.notices.append(task)
        if self.notify_error is not None:
            raise self.notify_error

    @activity.defn(name="escalate_referral")
    async def escalate_referral(self, escalation: ReferralEscalation) -> None:
        self.escalations.append(escalation)

    @activity.defn(name="record_instruction")
    async def record_instruction(self, record: InstructionRecord) -> None:
        self.instructions.append(record)

    @activity.defn(name="record_instructed_retention")
    async def record_instructed_retention(self, record: InstructionRecord) -> SystemOutcome:
        return SystemOutcome(
            record.system,
            "retained",
            legal_basis=record.legal_basis,
            retained_until=record.retained_until,
            review_on=record.review_on,
            note=record.reason,
        )

    @activity.defn(name="open_manual_task")
    async def open_manual_task(self, task: SystemTask) -> ManualTaskOpened:
        self.tasks_opened.append(task)
        wait = self.manual[task.system]
        return ManualTaskOpened(wait, "records team", "2026-02-05T00:00:00+00:00")

    @activity.defn(name="escalate_manual_task")
    async def escalate_manual_task(self, escalation: ManualTaskEscalation) -> None:
        self.tasks_overdue.append(escalation)

    @activity.defn(name="record_manual_answer")
    async def record_manual_answer(self, record: ManualAnswerRecord) -> SystemOutcome:
        self.task_answers.append(record)
        answer = record.answer
        if answer.action == "done":
            return SystemOutcome(record.system, "erased", counts={"tasks.done": 1})
        return SystemOutcome(
            record.system,
            "retained",
            legal_basis=answer.legal_basis,
            retained_until=answer.retained_until,
            review_on=answer.review_on,
        )

    @activity.defn(name="open_round")
    async def open_round(self, task: RoundTask) -> None:
        self.rounds_opened.append(task)

    @activity.defn(name="close_round")
    async def close_round(self, task: RoundTask) -> RoundClosed:
        self.rounds_closed.append(task)
        return RoundClosed(dict(self.latest))

    @activity.defn(name="record_round_status")
    async def record_round_status(self, status: RoundStatus) -> None:
        self.round_statuses.append(status)

    @activity.defn(name="find_due_rounds")
    async def find_due_rounds(self, query: DueQuery) -> DueRounds:
        return DueRounds(tuple(self.due))

    @activity.defn(name="shred_expired")
    async def shred_expired(self, query: ShredQuery) -> ShredReport:
        return ShredReport(self.shred)

    @activity.defn(name="find_stalled_requests")
    async def find_stalled_requests(self, query: StallQuery) -> StallReport:
        self.stall_checks.append(query)
        return StallReport()

    @activity.defn(name="send_verification_code")
    async def send_verification_code(self, challenge: CodeChallenge) -> CodeSent:
        self.challenges.append(challenge)
        return CodeSent(True)

    @activity.defn(name="resend_verification_code")
    async def resend_verification_code(self, order: CodeResend) -> str:
        self.resends.append(order)
        self.code = f"{int(self.code) + 1:08d}"  # the old code is now a wrong one
        return "sent"

    @activity.defn(name="check_verification_code")
    async def check_verification_code(self, attempt: CodeAttempt) -> CodeVerdict:
        self.code_attempts.append(attempt.code)
        limit = self.challenges[-1].attempt_limit
        wrong = sum(1 for c in self.code_attempts if c != self.code)
        if attempt.code == self.code and wrong < limit:
            return CodeVerdict("accepted", wrong, limit - wrong)
        return CodeVerdict("locked" if wrong >= limit else "wrong_code", wrong, limit - wrong)

    @activity.defn(name="confirm_portal_assertion")
    async def confirm_portal_assertion(self, request_id: str) -> AssertionEvidence:
        if not self.assertions_on_record:
            return AssertionEvidence(False)
        return AssertionEvidence(True, "portal", "k1", ("pwd",))

    @activity.defn(name="send_acknowledgement")
    async def send_acknowledgement(self, notice: AcknowledgementNotice) -> bool:
        self.acknowledgements.append(notice)
        return self.mail_configured

    @activity.defn(name="record_acknowledgement")
    async def record_acknowledgement(self, order: AcknowledgementOrder) -> AcknowledgementOutcome:
        self.manual_acks.append(order)
        now = activity.info().current_attempt_scheduled_time
        return AcknowledgementOutcome(True, now.isoformat(), True, order.channel)

    @activity.defn(name="record_deadline_event")
    async def record_deadline_event(self, event: DeadlineEvent) -> datetime:
        self.deadline_events.append(event)
        return self.extensions[-1].answer_by if self.extensions else event.due

    @activity.defn(name="record_deadline_extension")
    async def record_deadline_extension(self, order: ExtensionOrder) -> datetime:
        self.extensions.append(order)
        return order.answer_by

    def all(self) -> list[object]:
        return [
            self.erase_in_system,
            self.poll_system,
            self.verify_in_system,
            self.record_status,
            self.record_answer,
            self.record_system_failure,
            self.seal_request,
            self.plan_erasure,
            self.open_referral,
            self.notify_controller,
            self.escalate_referral,
            self.record_instruction,
            self.record_instructed_retention,
            self.open_manual_task,
            self.escalate_manual_task,
            self.record_manual_answer,
            self.open_round,
            self.close_round,
            self.record_round_status,
            self.find_due_rounds,
            self.shred_expired,
            self.find_stalled_requests,
            self.send_verification_code,
            self.resend_verification_code,
            self.check_verification_code,
            self.confirm_portal_assertion,
            self.send_acknowledgement,
            self.record_acknowledgement,
            self.record_deadline_event,
            self.record_deadline_extension,
        ]


def fakes_worker(client: Client, fakes: Fakes, task_queue: str) -> Worker:
    """A worker of every workflow, in the production sandbox, over ``fakes``' activities."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=fakes.all(),
    )


def request(systems: tuple[str, ...], method: str = "operator") -> ErasureRequest:
    now = datetime(2026, 1, 31, tzinfo=UTC)
    return ErasureRequest(
        request_id=f"er-{uuid.uuid4().hex[:12]}",
        subject_ref="ps_0123456789abcdef0123456789abcdef",
        jurisdiction="gdpr",
        verification_method=method,
        systems=systems,
        received_at=now,
        due_at=now + timedelta(days=28),
        policy=FAST,
    )


async def start(
    client: Client, req: ErasureRequest, task_queue: str
) -> WorkflowHandle[ErasureWorkflow, ErasureResult]:
    return await client.start_workflow(
        ErasureWorkflow.run, req, id=f"erasure/{req.request_id}", task_queue=task_queue
    )


async def run(
    env: WorkflowEnvironment,
    fakes: Fakes,
    req: ErasureRequest,
    task_queue: str,
    approve: bool = True,
) -> ErasureResult:
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        if approve:
            await handle.signal(
                ErasureWorkflow.approve, OperatorApproval("kim", "passport checked")
            )
        return await handle.result()


async def test_all_systems_erased_is_completed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    result = await run(
        time_skipping_env, fakes, request(("forum", "crm", "newsletter")), task_queue
    )
    assert result.status == "completed"
    assert sorted(o.system for o in result.systems) == ["crm", "forum", "newsletter"]
    assert dict(fakes.erase_calls) == {"forum": 1, "crm": 1, "newsletter": 1}
    assert [s.status for s in fakes.statuses] == ["awaiting_verification", "erasing", "completed"]
    # Sealed once, after the final status is recorded (the request receipt carries it).
    assert fakes.seals == [(result.request_id, "completed")]
    [plan] = fakes.plans  # the plan step ran once, after verification, for round 0
    assert plan.systems == ("forum", "crm", "newsletter") and plan.round == 0
    verified = fakes.statuses[1]
    assert verified.event == "verified" and verified.actor == "operator:kim"
    assert verified.reason == "passport checked"


async def test_nothing_is_erased_before_approval(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",)), task_queue)
        await env.sleep(timedelta(hours=24))
        assert (await handle.query(ErasureWorkflow.progress)).stage == "awaiting_verification"
        # An approval without a reason does not count.
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "  "))
        await env.sleep(timedelta(hours=1))
        assert fakes.erase_calls == {}
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        assert (await handle.result()).status == "completed"


async def test_unverified_request_is_rejected_and_nothing_erased(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    result = await run(
        time_skipping_env, fakes, request(("forum", "crm")), task_queue, approve=False
    )
    assert result.status == "rejected"
    assert "not verified within 72 hours" in (result.reason or "")
    assert fakes.erase_calls == {} and fakes.plans == []  # no hold is even looked up
    assert fakes.statuses[-1].status == "rejected"
    # The refusal itself is sealed: proof that the request was answered, and when.
    assert fakes.seals == [(result.request_id, "rejected")]


async def test_preverified_requests_skip_the_wait(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    result = await run(
        time_skipping_env, fakes, request(("forum",), "preverified"), task_queue, approve=False
    )
    assert result.status == "completed"
    assert [s.status for s in fakes.statuses] == ["erasing", "completed"]


async def test_unknown_method_is_rejected(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    result = await run(
        time_skipping_env, fakes, request(("forum",), "psychic"), task_queue, approve=False
    )
    assert result.status == "rejected" and fakes.erase_calls == {}


async def test_one_permanent_failure_does_not_block_the_others(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def broken(task: SystemTask, _: int) -> SystemOutcome:
        raise ApplicationError(
            "crm: refused: erase would touch 5000 items",
            type="BlastRadiusExceeded",
            non_retryable=True,
        )

    fakes = Fakes(scripts={"crm": broken})
    result = await run(
        time_skipping_env, fakes, request(("forum", "crm", "newsletter")), task_queue
    )
    assert result.status == "partially_failed"
    assert fakes.seals == [(result.request_id, "partially_failed")]  # failures are sealed too
    by_system = {o.system: o.outcome for o in result.systems}
    assert by_system == {"forum": "erased", "crm": "failed", "newsletter": "erased"}
    assert fakes.erase_calls["crm"] == 1  # not retried
    [failure] = fakes.failures
    assert failure.system == "crm" and "BlastRadiusExceeded" in failure.error


async def test_transient_failures_are_retried(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def flaky(task: SystemTask, attempt: int) -> SystemOutcome:
        if attempt < 3:
            raise ApplicationError("timeout", type="TransientError")
        return erased(task, attempt)

    fakes = Fakes(scripts={"forum": flaky})
    result = await run(time_skipping_env, fakes, request(("forum",)), task_queue)
    assert result.status == "completed" and fakes.erase_calls["forum"] == 3


async def test_retries_are_bounded(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    def down(task: SystemTask, attempt: int) -> SystemOutcome:
        raise ApplicationError("connection refused", type="TransientError")

    fakes = Fakes(scripts={"forum": down})
    result = await run(time_skipping_env, fakes, request(("forum",)), task_queue)
    # Its only system failed: nothing was erased as asked, and the status says "failed".
    assert result.status == "failed"
    assert fakes.seals == [(result.request_id, "failed")]
    assert fakes.erase_calls["forum"] == FAST.attempt_limit
    assert "retries exhausted" in fakes.failures[0].error


def _not_searched(task: SystemTask, _: int) -> SystemOutcome:
    return SystemOutcome(task.system, "not_searched", counts={"users.deleted": 1}, verifiable=True)


async def test_a_system_not_searched_is_verified_and_leaves_the_request_undone(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The request lacked an identifier a rule of crm needs: what the address found is
    erased and checked like any erase, and the request does not end ``completed``."""
    fakes = Fakes(scripts={"crm": _not_searched})
    result = await run(time_skipping_env, fakes, request(("forum", "crm")), task_queue)
    assert result.status == "partially_failed"
    assert {o.system: o.outcome for o in result.systems} == {
        "forum": "erased",
        "crm": "not_searched",
    }
    # Left over after the partial erase: the system failed, as an erased one would.
    fakes = Fakes(scripts={"crm": _not_searched}, residue={"crm": {"users.remaining": 1}})
    result = await run(time_skipping_env, fakes, request(("crm",)), task_queue)
    [crm] = result.systems
    assert crm.outcome == "failed" and "users.remaining=1" in (crm.error or "")
    assert result.status == "failed"


async def test_retained_data_is_an_exception(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def keeps(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(
            task.system,
            "retained",
            legal_basis="gdpr-17-3-b",
            retained_until="2036-01-31",
            verifiable=True,
        )

    fakes = Fakes(scripts={"crm": keeps})
    result = await run(time_skipping_env, fakes, request(("forum", "crm")), task_queue)
    assert result.status == "completed_with_exceptions"


async def test_leftovers_found_by_verification_fail_the_system(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes(residue={"forum": {"posts.remaining": 2}})
    result = await run(time_skipping_env, fakes, request(("forum", "crm")), task_queue)
    assert result.status == "partially_failed"
    forum = next(o for o in result.systems if o.system == "forum")
    assert forum.outcome == "failed" and "posts.remaining=2" in (forum.error or "")


async def test_pending_systems_are_polled_with_timers(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def accepted(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(task.system, "pending", ticket="t-1", poll_after_seconds=3600)

    fakes = Fakes(scripts={"processor": accepted})
    result = await run(time_skipping_env, fakes, request(("processor",)), task_queue)
    assert result.status == "completed" and fakes.polls["processor"] == 3
    # Asked once: the request's workflow hands the pending answer to the child that polls.
    assert fakes.erase_rounds.count(("processor", 0)) == 1


async def test_a_system_pending_past_the_poll_limit_fails_and_says_so(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Before, the request ended "completed_with_exceptions" with the system still pending,
    # unsealed and forgotten: no failure for an operator to see, nothing for `lethe retry`.
    def accepted(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(task.system, "pending", ticket="t-1", poll_after_seconds=3600)

    fakes = Fakes(scripts={"processor": accepted}, polls_until_done=10**6)
    req = request(("processor", "forum"))
    req = replace(req, policy=replace(req.policy, pending_poll_limit=4))
    result = await run(time_skipping_env, fakes, req, task_queue)
    processor = next(o for o in result.systems if o.system == "processor")
    assert result.status == "partially_failed" and fakes.polls["processor"] == 4
    assert processor.outcome == "failed" and "still pending after 4 status polls" in (
        processor.error or ""
    )
    assert [f.system for f in fakes.failures] == ["processor"]
    assert "t-1" in fakes.failures[0].error


@pytest.mark.parametrize("systems", [("a",), tuple(f"s{i}" for i in range(12))])
async def test_fan_out_scales_with_the_systems(
    time_skipping_env: WorkflowEnvironment, task_queue: str, systems: tuple[str, ...]
) -> None:
    fakes = Fakes()
    result = await run(time_skipping_env, fakes, request(systems), task_queue)
    assert result.status == "completed" and len(result.systems) == len(systems)


async def test_a_request_can_be_withdrawn_before_verification(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum", "crm")), task_queue)
        await env.sleep(timedelta(hours=2))
        answer = await handle.execute_update(
            ErasureWorkflow.cancel_request, CancelOrder("kim", "filed twice by mistake")
        )
        assert "nothing was erased" in answer
        result = await handle.result()
        # Finished: a second cancellation has nothing to act on.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(ErasureWorkflow.cancel_request, CancelOrder("kim", "again"))
    assert result.status == "cancelled" and "filed twice" in (result.reason or "")
    assert fakes.erase_calls == {} and fakes.plans == []
    assert fakes.statuses[-1].status == "cancelled"
    assert fakes.statuses[-1].actor == "operator:kim"
    assert fakes.seals == [(result.request_id, "cancelled")]


async def test_once_verified_a_request_cannot_be_cancelled(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    def accepted(task: SystemTask, _: int) -> SystemOutcome:
        return SystemOutcome(task.system, "pending", ticket="t-1", poll_after_seconds=3600)

    fakes = Fakes(scripts={"processor": accepted})
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("processor",)), task_queue)
        await handle.signal(ErasureWorkflow.approve, OperatorApproval("kim", "called back"))
        while fakes.erase_calls.get("processor", 0) == 0:
            await asyncio.sleep(0.05)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                ErasureWorkflow.cancel_request, CancelOrder("kim", "changed my mind")
            )
        assert "cannot be called" in str(refused.value.cause)
        result = await handle.result()
    assert result.status == "completed" and fakes.polls["processor"] == 3


async def test_withdrawing_while_an_emailed_code_is_outstanding(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = Fakes()
    env = time_skipping_env
    async with fakes_worker(env.client, fakes, task_queue):
        handle = await start(env.client, request(("forum",), "email"), task_queue)
        while not (await handle.query(ErasureWorkflow.progress)).code_sent:
            await asyncio.sleep(0.05)
        await handle.execute_update(
            ErasureWorkflow.cancel_request, CancelOrder("kim", "requester withdrew by phone")
        )
        result = await handle.result()
    assert result.status == "cancelled" and fakes.erase_calls == {}
    assert len(fakes.challenges) == 1 and fakes.code_attempts == []
