"""The conformance kit itself: it passes a correct connector (synchronous and asynchronous),
and it catches each broken one, in the test that names the broken rule."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry, Erased, NotFound, repeat_problem
from connectors.testing import (
    SUBJECT,
    BlastRadiusTests,
    ConformanceSuite,
    EraseTests,
    Harness,
    Person,
    PlanTests,
    RepeatTests,
    Seeded,
    VerifyTests,
    carries_trace,
)
from tests.connectors.memory_system import (
    SYSTEMS,
    AsyncMemoryConnector,
    EraseOnlyConnector,
    ForgetfulConnector,
    MemoryConnector,
    OverPlanningConnector,
    SubstringConnector,
    UnguardedConnector,
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

    @pytest.fixture
    def harness(self) -> Harness:
        return MemoryHarness(MemoryConnector)


class TestAsyncMemoryConnector(ConformanceSuite):
    kind = "memory"

    @pytest.fixture
    def harness(self) -> Harness:
        return MemoryHarness(AsyncMemoryConnector)


async def _run(part: type[Any], test: str, cls: type[MemoryConnector]) -> None:
    """Run one kit test against ``cls`` outside pytest's collection, as a subclass would."""
    harness = MemoryHarness(cls)
    connector = harness.build()
    seeded = await harness.seed(part.cast)
    method = getattr(part(), test)
    params = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    available = {"harness": harness, "connector": connector, "seeded": seeded}
    await method(**{name: available[name] for name in params})


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
            "not_found or the same erased counts",
        ),
        (
            PlanTests,
            "test_plan_changes_nothing_and_matches_the_erase",
            OverPlanningConnector,
            "plan and erase disagree",
        ),
    ],
)
async def test_the_kit_catches_a_broken_connector(
    part: type[Any], test: str, broken: type[MemoryConnector], message: str
) -> None:
    await _run(part, test, MemoryConnector)  # the same test passes a correct connector
    with pytest.raises((AssertionError, pytest.fail.Exception)) as err:
        await _run(part, test, broken)
    assert message in str(err.value)


async def test_capabilities_not_claimed_are_skipped_not_failed() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not claim the verify capability"):
        await _run(
            VerifyTests,
            "test_verify_sees_the_subject_before_and_nothing_after",
            EraseOnlyConnector,
        )
    with pytest.raises(pytest.skip.Exception, match="does not claim the plan capability"):
        await _run(PlanTests, "test_plan_changes_nothing_and_matches_the_erase", EraseOnlyConnector)


def test_repeat_rule() -> None:
    assert repeat_problem(Erased(counts={"a.deleted": 2}), NotFound()) is None
    assert repeat_problem(Erased(counts={"a.deleted": 2}), Erased(counts={"a.deleted": 2})) is None
    assert repeat_problem(Erased(counts={"a.deleted": 2}), Erased(counts={"a.deleted": 1}))
    assert repeat_problem(NotFound(), Erased(counts={"a.deleted": 1}))


def test_traces_are_whole_fields_case_insensitive() -> None:
    traces = frozenset({SUBJECT.email})
    assert carries_trace(("x", "ADA@example.ORG"), traces) == "ADA@example.ORG"
    assert carries_trace(("nada@example.org", b"ada@example.org "), traces) is None
    assert carries_trace({"k": [b"Ada@Example.org"]}, traces) == "Ada@Example.org"
