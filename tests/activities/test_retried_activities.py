"""An activity retried after its ledger write committed (the worker died before Temporal heard
it finished: same activity id, attempt 2) appends nothing new and answers as the first
attempt did; the next activity (another id) is a new write. In Temporal's
ActivityEnvironment, against a real SQLite ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import ActivityEnvironment

from activities import (
    AcknowledgementNotice,
    CodeAttempt,
    ConsoleMailer,
    DeadlineActivities,
    ErasureActivities,
    ExtensionOrder,
    RecordingActivities,
    RequestAnswer,
    RoundActivities,
    RoundStatus,
    SealingActivities,
    StatusChange,
    SystemTask,
    VerificationActivities,
)
from activities.write_keys import activity_write_key
from connectors import BaseConnector, Capability, Outcome, Pending, Residual, Subject
from ledger import (
    DeadlineRecords,
    DeadlineTerms,
    IdentityRecords,
    Ledger,
    OutcomeEntry,
    ProofLog,
    RequestStatuses,
    TreeHeadSigner,
)

NOW = datetime.now(UTC)


def attempt(activity_id: str, number: int = 1) -> ActivityEnvironment:
    """The environment of one attempt of one activity of the request's workflow run."""
    env = ActivityEnvironment()
    env.info = replace(
        env.info,
        workflow_id="erasure/er-1",
        workflow_run_id="run-1",
        activity_id=activity_id,
        attempt=number,
    )
    return env


async def twice(activity_id: str, fn: Callable[..., Awaitable[Any]], arg: Any) -> list[Any]:
    """Attempt 1, then attempt 2 of the same activity (its first commit stands)."""
    return [await attempt(activity_id, n).run(fn, arg) for n in (1, 2)]


async def kinds(ledger: Ledger) -> Counter[str]:
    return Counter(e.kind for e in await ledger.events("er-1"))


@pytest.fixture
async def opened(sqlite_ledger: Ledger) -> AsyncIterator[Ledger]:
    assert sqlite_ledger.vault is not None
    await sqlite_ledger.open_request(
        request_id="er-1",
        subject_ref="ps_1",
        jurisdiction="gdpr",
        verification_method="email",
        channel="cli",
        systems=["crm"],
        workflow_id="erasure/er-1",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=sqlite_ledger.vault.seal("er-1", {"email": "ada@example.org"}),
        actor="cli",
    )
    yield sqlite_ledger


def test_the_key_is_the_activity_and_not_the_attempt() -> None:
    keys = [attempt("7", n).run(activity_write_key) for n in (1, 2, 3)]
    assert keys == ["activity:erasure/er-1/run-1/7"] * 3
    assert attempt("8").run(activity_write_key) != keys[0]
    other_run = attempt("7")
    other_run.info = replace(other_run.info, workflow_run_id="run-2")
    assert other_run.run(activity_write_key) != keys[0]  # a workflow id used again
    assert activity_write_key() is None  # not in an activity: nobody retries it


async def test_a_retried_status_change_and_answer_are_recorded_once(opened: Ledger) -> None:
    """``verified`` and ``completed``: the two events the issue saw doubled, and sealed so."""
    rec = RecordingActivities(opened)
    verified = StatusChange("er-1", "erasing", "operator:kim", "checked id", "verified")
    await twice("3", rec.record_status, verified)
    first = (await opened.require_request("er-1")).verified_at
    await opened.finish_system("er-1", "crm", 0, OutcomeEntry("erased"), at=NOW)
    answers = await twice("9", rec.record_answer, RequestAnswer("er-1", "lethe", {"erased": 1}))
    assert answers == ["completed", "completed"]
    seen = await kinds(opened)
    assert seen["verified"] == 1 and seen["completed"] == 1
    assert (await opened.require_request("er-1")).verified_at == first

    sealing = SealingActivities(ProofLog(opened, TreeHeadSigner(Ed25519PrivateKey.generate())))
    sealed, again = await twice("10", sealing.seal_request, "er-1")
    # The outcome, the request's state, and received, verified, system_erased, completed.
    assert (sealed.appended, sealed.tree_size) == (6, 6)
    assert (again.appended, again.tree_size) == (0, 6)
    assert (await kinds(opened))["sealed"] == 1


async def test_a_retried_code_check_counts_once(opened: Ledger) -> None:
    ids = IdentityRecords(opened)
    await ids.issue_code(
        "er-1", "12345678", at=NOW, expires_at=NOW + timedelta(days=1), attempt_limit=3
    )
    await ids.mark_code_sent("er-1", at=NOW)
    acts = VerificationActivities(opened, None)
    wrong = CodeAttempt("er-1", "00000000", "requester")
    first, retried = await twice("20", acts.check_verification_code, wrong)
    assert first == retried and (first.attempts, first.attempts_left) == (1, 2)
    # The requester typing the same wrong code again is a second try (another update, another
    # activity): counted.
    second = await attempt("21").run(acts.check_verification_code, wrong)
    assert (second.attempts, second.attempts_left) == (2, 1)
    assert (await kinds(opened))["verification_code_refused"] == 2


async def test_a_retried_round_status_is_recorded_once(opened: Ledger) -> None:
    await opened.finish_system("er-1", "crm", 0, OutcomeEntry("failed"), at=NOW)
    await RequestStatuses(opened).answer("er-1", at=NOW, actor="lethe")
    await opened.finish_system("er-1", "crm", 1, OutcomeEntry("erased"), at=NOW)
    acts = RoundActivities(opened)
    await twice("4", acts.record_round_status, RoundStatus("er-1", "crm", 1, "retry", "erased"))
    assert (await kinds(opened))["status_after_round"] == 1
    assert (await opened.require_request("er-1")).status == "completed"


async def test_a_retried_extension_tells_the_requester_once(opened: Ledger) -> None:
    await DeadlineRecords(opened).open_clock(
        "er-1",
        DeadlineTerms("UTC", "gdpr", NOW + timedelta(days=30), None, None, None, None),
    )
    mailer = ConsoleMailer(write=lambda _text: None)
    acts = DeadlineActivities(opened, mailer)
    order = ExtensionOrder("er-1", NOW + timedelta(days=60), "many systems", "kim")
    previous = await twice("5", acts.record_deadline_extension, order)
    assert previous[0] == previous[1]
    assert len(mailer.outbox) == 1
    seen = await kinds(opened)
    assert seen["deadline_extended"] == 1 and seen["extension_notice_sent"] == 1

    no_mail = DeadlineActivities(opened, None)
    notice = AcknowledgementNotice("er-1", NOW + timedelta(days=30))
    await twice("6", no_mail.send_acknowledgement, notice)
    assert (await kinds(opened))["acknowledgement_not_sent"] == 1


class Slow(BaseConnector):
    """An asynchronous system whose job stays open; it counts the checks it is asked for."""

    kind: ClassVar[str] = "slow"
    version: ClassVar[str] = "1"
    capabilities = frozenset({Capability.ERASE, Capability.VERIFY, Capability.ASYNC})

    def __init__(self) -> None:
        super().__init__("crm", BaseConnector.Options())
        self.verified = 0

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        return Pending(ticket="job-1", poll_after=timedelta(seconds=30))

    async def status(self, ticket: str) -> Outcome:
        return Pending(ticket=ticket, poll_after=timedelta(seconds=30))

    async def verify(self, subject: Subject) -> Residual:
        self.verified += 1
        return Residual({"rows": 1} if self.verified == 1 else {})


async def test_retried_polls_and_checks_are_recorded_once(opened: Ledger) -> None:
    connector = Slow()
    acts = ErasureActivities(opened, {"crm": connector})
    task = SystemTask("er-1", "crm")
    await twice("30", acts.erase_in_system, task)
    await twice("31", acts.poll_system, task)
    await attempt("32").run(acts.poll_system, task)
    # The erase's pending, and one per poll (two polls): not one per attempt.
    assert (await kinds(opened))["system_pending"] == 3

    await opened.finish_system("er-1", "crm", 0, OutcomeEntry("erased"), at=NOW)
    first, retried = await twice("33", acts.verify_in_system, task)
    # The retry answers what the ledger recorded, without asking the system again (whose
    # second answer would have been "clean").
    assert first == retried and not retried.clean and retried.remaining == {"rows": 1}
    assert connector.verified == 1
    [row] = await opened.outcomes("er-1")
    assert row.outcome == "failed" and (await kinds(opened))["system_failed"] == 1
