"""The conformance kit itself: it passes a correct connector (synchronous and asynchronous),
and it catches each broken one, in the test that names the broken rule."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from connectors import (
    REPLAYED_FROM_RECEIPT,
    Connector,
    ConnectorRegistry,
    Erased,
    NotFound,
    NotSearched,
    Outcome,
    Pending,
    Referred,
    Subject,
    TransientError,
    erase_key,
    repeat_problem,
)
from connectors._journal import MemoryJournal, using_journal
from connectors.testing import (
    SUBJECT,
    AsyncTests,
    BlastRadiusTests,
    ConformanceSuite,
    EraseTests,
    FaultInjector,
    FaultTests,
    Harness,
    MatchingPolicyTests,
    NotSearchedTests,
    Person,
    PlanTests,
    RepeatTests,
    Seeded,
    VerifyTests,
    carries_trace,
)
from connectors.testing.plugin import not_applicable
from tests.connectors.memory_system import (
    SYSTEMS,
    AsyncMemoryConnector,
    EraseOnlyConnector,
    FirstPageConnector,
    ForgetfulConnector,
    InstanceJobsConnector,
    InstanceReceiptsConnector,
    LowerCaseConnector,
    MemoryConnector,
    OverPlanningConnector,
    RoundBlindConnector,
    SilentConnector,
    SilentUsernameConnector,
    StatelessConnector,
    SubstringConnector,
    TrimmingConnector,
    UnguardedConnector,
    UnmarkedReplayConnector,
    UsernameMemoryConnector,
)


class MemoryHarness:
    def __init__(self, cls: type[MemoryConnector]) -> None:
        self.cls = cls
        self.system = f"mem-{uuid.uuid4().hex}"
        SYSTEMS[self.system] = {}

    def build(self, **options: Any) -> Connector:
        ref = f"{self.cls.__module__}:{self.cls.__name__}"
        return ConnectorRegistry().build("mem", ref, {"system": self.system, **options})

    async def seed(self, people: Sequence[Person]) -> Seeded:
        data = SYSTEMS[self.system]
        data.clear()
        records = {}
        for n, p in enumerate(people):
            data[("user", n)] = (p.email, p.username, "profile")
            data[("note", n)] = (p.email, p.username, "a note")
            records[p] = frozenset({("user", n), ("note", n)})
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        return dict(SYSTEMS[self.system])


class TestMemoryConnector(ConformanceSuite):
    kind = "memory"
    connector_class = MemoryConnector

    @pytest.fixture
    def harness(self) -> Harness:
        return MemoryHarness(MemoryConnector)


class TestAsyncMemoryConnector(ConformanceSuite):
    kind = "memory"
    connector_class = AsyncMemoryConnector

    @pytest.fixture
    def harness(self) -> Harness:
        return MemoryHarness(AsyncMemoryConnector)


async def _run(part: type[Any], test: str, cls: type[MemoryConnector], **fixtures: Any) -> None:
    """Run one kit test against ``cls`` outside pytest's collection, as a subclass would."""
    harness = MemoryHarness(cls)
    connector = harness.build()
    seeded = await harness.seed(part.cast)
    method = getattr(part(), test)
    params = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    journal = MemoryJournal()
    available = {
        "harness": harness,
        "connector": connector,
        "seeded": seeded,
        "receipt_journal": journal,
        **fixtures,
    }
    with using_journal(journal):
        await method(**{name: available[name] for name in params})


class RateLimited(MemoryConnector):
    """Answers every erase as a 429 with Retry-After: 7 would, passing the delay on."""

    retry_after: ClassVar[timedelta | None] = timedelta(seconds=7)

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        raise TransientError(f"{self.name}: rate limited (429)", retry_after=self.retry_after)


class DropsRetryAfter(RateLimited):
    """Broken: says "try again" but drops the Retry-After the system sent."""

    retry_after = None


def _meets(cls: type[MemoryConnector]) -> FaultInjector:
    @asynccontextmanager
    async def fault() -> AsyncIterator[Connector]:
        yield MemoryHarness(cls).build()

    return fault


@pytest.mark.parametrize(
    ("part", "test", "broken", "message"),
    [
        (
            EraseTests,
            "test_erase_removes_the_subject_and_spares_bystanders",
            SubstringConnector,
            "bystander",
        ),
        (
            BlastRadiusTests,
            "test_erase_beyond_the_limit_is_refused_and_changes_nothing",
            UnguardedConnector,
            "DID NOT RAISE",
        ),
        (
            RepeatTests,
            "test_erase_again_is_a_no_op_with_the_same_outcome",
            ForgetfulConnector,
            "other erase counts",
        ),
        (
            RepeatTests,
            "test_erase_again_is_a_no_op_with_the_same_outcome",
            StatelessConnector,
            "keep a receipt",
        ),
        (
            RepeatTests,
            "test_erase_again_is_a_no_op_with_the_same_outcome",
            UnmarkedReplayConnector,
            "must say it was replayed",
        ),
        (
            RepeatTests,
            "test_another_worker_erasing_again_replays_what_the_first_did",
            InstanceReceiptsConnector,
            "another worker erasing again",
        ),
        (
            RepeatTests,
            "test_a_later_round_erases_again",
            RoundBlindConnector,
            "round 1 was answered from round 0's receipt",
        ),
        (
            PlanTests,
            "test_plan_changes_nothing_and_matches_the_erase",
            OverPlanningConnector,
            "plan and erase disagree",
        ),
        (
            EraseTests,
            "test_subject_behind_a_crowd_of_near_duplicates_is_erased",
            FirstPageConnector,
            "does the connector read every page",
        ),
        (
            AsyncTests,
            "test_status_needs_only_the_ticket_and_can_be_asked_again",
            InstanceJobsConnector,
            "another instance of the connector",
        ),
        (
            MatchingPolicyTests,
            "test_the_policy_decides_who_is_the_subject_not_lower",
            LowerCaseConnector,
            "bystander",
        ),
        (
            MatchingPolicyTests,
            "test_lookalikes_are_left_and_reported_by_verify",
            TrimmingConnector,
            "bystander",
        ),
        (
            MatchingPolicyTests,
            "test_lookalikes_are_left_and_reported_by_verify",
            SilentConnector,
            "whitespace or invisible characters",
        ),
    ],
)
async def test_the_kit_catches_a_broken_connector(
    part: type[Any], test: str, broken: type[MemoryConnector], message: str
) -> None:
    correct = AsyncMemoryConnector if issubclass(broken, AsyncMemoryConnector) else MemoryConnector
    await _run(part, test, correct)  # the same test passes a correct connector
    with pytest.raises((AssertionError, pytest.fail.Exception)) as err:
        await _run(part, test, broken)
    assert message in str(err.value)


async def test_the_kit_wants_a_rate_limits_retry_after_passed_on() -> None:
    test = "test_rate_limit_raises_transient_error_with_its_retry_after"
    await _run(FaultTests, test, MemoryConnector, rate_limit_fault=_meets(RateLimited))
    with pytest.raises(AssertionError, match="Retry-After"):
        await _run(FaultTests, test, MemoryConnector, rate_limit_fault=_meets(DropsRetryAfter))


def test_capabilities_not_claimed_are_left_out_when_collected() -> None:
    """Not skipped when they run: the tests say what they require, and the gate leaves them
    out before anything runs (tests/connectors/test_kit_plugin.py runs a real suite)."""

    class EraseOnly(ConformanceSuite):
        kind = "memory"
        connector_class = EraseOnlyConnector

    for tests, name, capability in (
        (VerifyTests, "test_verify_sees_the_subject_before_and_nothing_after", "verify"),
        (PlanTests, "test_plan_changes_nothing_and_matches_the_erase", "plan"),
    ):
        [mark] = getattr(tests, name).pytestmark
        item = SimpleNamespace(
            fixturenames=(), get_closest_marker=lambda n, m=mark: m if n == m.name else None
        )
        assert not_applicable(EraseOnly, item) == (  # type: ignore[arg-type]
            f"'memory' does not claim the {capability} capability"
        )


class SessionsHarness(MemoryHarness):
    """Each person also has a session found only by their user name."""

    async def seed(self, people: Sequence[Person]) -> Seeded:
        seeded = await super().seed(people)
        data = SYSTEMS[self.system]
        records = dict(seeded.records)
        for n, p in enumerate(people):
            data[("session", n)] = ("", p.username, "a session")
            records[p] = records[p] | {("session", n)}
        return Seeded(records=records, traces=seeded.traces)


async def test_the_kit_catches_a_connector_that_does_not_say_what_it_could_not_search() -> None:
    async def run(cls: type[MemoryConnector], declared: frozenset[str] | None) -> None:
        harness = SessionsHarness(cls)
        seeded = await harness.seed(NotSearchedTests.cast)
        kit = NotSearchedTests()
        kit.identifier_kinds = declared  # type: ignore[misc]
        method = kit.test_a_subject_lacking_an_identifier_the_rules_need_is_not_searched
        await method(harness=harness, connector=harness.build(), seeded=seeded)

    for declared in (None, frozenset({"email", "username"})):
        await run(UsernameMemoryConnector, declared)  # a correct connector passes
        with pytest.raises(AssertionError, match="NotSearched"):
            await run(SilentUsernameConnector, declared)
    # Declared as needing a kind the connector does not name: caught too.
    with pytest.raises(AssertionError, match="customer_id"):
        await run(UsernameMemoryConnector, frozenset({"email", "customer_id"}))


def test_repeat_rule() -> None:
    replay = {REPLAYED_FROM_RECEIPT: True}
    two = Erased(counts={"a.deleted": 2})
    # After an erase that changed something, only its counts, replayed and saying so.
    assert "keep a receipt" in (repeat_problem(two, NotFound()) or "")
    assert repeat_problem(two, Erased(counts={"a.deleted": 2}, evidence=replay)) is None
    assert "say it was replayed" in (repeat_problem(two, two) or "")
    assert repeat_problem(two, Erased(counts={"a.deleted": 1}, evidence=replay))
    assert "keep a receipt" in (repeat_problem(two, Erased(evidence=replay)) or "")
    # An erase that changed nothing may be looked at again.
    assert repeat_problem(Erased(), NotFound()) is None
    assert repeat_problem(NotFound(), Erased(counts={"a.deleted": 1}))
    # status() asked again answers the same, unmarked.
    assert repeat_problem(two, two, asked="status") is None
    assert repeat_problem(Pending(ticket="j1"), Pending(ticket="j1")) is None
    assert repeat_problem(Pending(ticket="j1"), Erased(counts={"a.deleted": 1})) is None
    assert "same ticket" in (repeat_problem(Pending(ticket="j1"), Pending(ticket="j2")) or "")
    assert "got referred" in (repeat_problem(Pending(ticket="j1"), Referred("acme")) or "")
    partial = NotSearched(missing=("username",), counts={"a.deleted": 2})
    partial_again = NotSearched(missing=("username",), counts={"a.deleted": 2}, evidence=replay)
    assert "keep a receipt" in (repeat_problem(partial, NotSearched(missing=("username",))) or "")
    assert repeat_problem(partial, partial_again) is None
    assert "not_searched for the same kinds" in (repeat_problem(partial, NotFound()) or "")
    assert repeat_problem(partial, NotSearched(missing=("phone",)))
    assert "other erase counts" in (
        repeat_problem(partial, NotSearched(missing=("username",), counts={"a.deleted": 1})) or ""
    )


def test_erase_keys_keep_round_zero_as_it_was() -> None:
    assert erase_key("er-7") == erase_key("er-7", 0) == "er-7"
    assert erase_key("er-7", 2) == "er-7/round-2"
    with pytest.raises(ValueError):
        erase_key("er-7", -1)


def test_traces_are_whole_fields_addresses_by_the_email_policy() -> None:
    traces = frozenset({SUBJECT.email, SUBJECT.username})
    assert carries_trace(("x", "ADA@example.ORG"), traces) == "ADA@example.ORG"
    assert carries_trace(("nada@example.org", b"ada@example.org "), traces) is None
    assert carries_trace({"k": [b"Ada@Example.org"]}, traces) == "Ada@Example.org"
    # A user name is exact: "ADA_B" is someone else, whose name may stay in her records.
    assert carries_trace(("ada_b",), traces) == "ada_b"
    assert carries_trace(("ADA_B",), traces) is None
