"""The conformance suite, split by operation. Subclass :class:`ConformanceSuite` (or single
parts) in a class named ``Test…``, set ``kind`` and override the ``harness`` fixture."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings

from .._errors import BlastRadiusExceeded, PermanentError, TransientError
from .._idempotency import REPLAYED_FROM_RECEIPT, erase_key, repeat_problem
from .._journal import MemoryJournal, using_journal
from .._outcomes import Erased, NotFound, NotSearched, Outcome, Pending, Retained
from .._protocol import Capability, Connector
from .._registry import ConnectorRegistry
from .._subject import IDENTIFIER_KINDS, Subject
from ._gate import unclaimed_requirement
from ._harness import FaultInjector, Harness, Seeded, carries_trace
from ._people import (
    BYSTANDERS,
    HOSTILE,
    LOOKALIKES,
    SUBJECT,
    UNKNOWN,
    ZOE,
    ZOE_BYSTANDERS,
    Person,
    people,
)

__all__ = [
    "AsyncTests",
    "BlastRadiusTests",
    "BystanderPropertyTests",
    "ConformanceSuite",
    "ConnectorKit",
    "EraseTests",
    "FaultTests",
    "IdentifierSafetyTests",
    "MatchingPolicyTests",
    "NotFoundTests",
    "NotSearchedTests",
    "PlanTests",
    "RepeatTests",
    "VerifyTests",
]

#: Examples per property test; raise it locally with LETHE_KIT_EXAMPLES=200.
PROPERTY_EXAMPLES = int(os.environ.get("LETHE_KIT_EXAMPLES", "12"))
_COUNT_KEY = re.compile(r"^[A-Za-z0-9_$.\-]+\.[a-z_]+$")
_REQUEST = "er-kit-0001"
#: A test that does not apply is left out when tests are collected; one that runs anyway means
#: the kit's plugin did not (it is loaded by its ``pytest11`` entry point, installed with Lethe).
_LEFT_OUT_YET_RUN = (
    "{} and the test ran: the conformance kit's plugin (connectors.testing.plugin) leaves such"
    " tests out when they are collected; is it loaded (not disabled with -p no:…)?"
)


class ConnectorKit:
    """Fixtures every part of the suite shares. Override ``harness``; the rest is optional."""

    #: The registered kind under test (the meta-test finds suites by it).
    kind: ClassVar[str] = ""
    #: The connector class, when ``kind`` is not installed as an entry point (a connector
    #: under development). Tests of capabilities it does not claim are then left out at
    #: collection, like those of an installed kind.
    connector_class: ClassVar[type[Connector] | None] = None
    #: The people seeded for the example-based tests.
    cast: ClassVar[tuple[Person, ...]] = (SUBJECT, *BYSTANDERS)
    #: The identifier kinds the test configuration's rules look people up by. ``None``: not
    #: declared; the kit then finds out (``NotSearchedTests``). Declared as only
    #: ``{"email"}``, the not-searched test does not apply and is left out at collection.
    identifier_kinds: ClassVar[frozenset[str] | None] = None
    #: How many times ``status(ticket)`` is asked before a Pending erase counts as stuck.
    max_polls: ClassVar[int] = 50
    #: How many near-duplicates of the subject the crowd test seeds ahead of them. Keep it
    #: above one page of your system's search results (make the test instance's pages small),
    #: so that a connector reading only the first page is caught.
    crowd_size: ClassVar[int] = 30

    @pytest.fixture(autouse=True)
    def receipt_journal(self) -> Iterator[MemoryJournal]:
        """The receipt journal of this test (``connectors._journal``): one, shared by every
        instance of the connector the test builds, as Lethe's ledger is shared by workers."""
        journal = MemoryJournal()
        with using_journal(journal):
            yield journal

    @pytest.fixture
    def harness(self) -> Harness:
        pytest.fail(
            f"{type(self).__name__}: override the `harness` fixture to return a Harness "
            "(build, seed, snapshot) for a test instance of the system"
        )

    @pytest.fixture
    async def connector(
        self, harness: Harness, request: pytest.FixtureRequest
    ) -> AsyncIterator[Connector]:
        c = harness.build()
        try:
            unclaimed = unclaimed_requirement(request.node, c)
            if unclaimed:
                pytest.fail(unclaimed)
            yield c
        finally:
            await c.aclose()

    @pytest.fixture
    async def seeded(self, harness: Harness) -> Seeded:
        return await harness.seed(self.cast)

    @pytest.fixture
    def transient_fault(self) -> FaultInjector:
        pytest.fail(
            _LEFT_OUT_YET_RUN.format(f"{type(self).__name__} provides no transient_fault fixture")
        )

    @pytest.fixture
    def permanent_fault(self) -> FaultInjector:
        pytest.fail(
            _LEFT_OUT_YET_RUN.format(f"{type(self).__name__} provides no permanent_fault fixture")
        )

    @pytest.fixture
    def rate_limit_fault(self) -> FaultInjector:
        pytest.fail(
            _LEFT_OUT_YET_RUN.format(f"{type(self).__name__} provides no rate_limit_fault fixture")
        )

    # -- helpers -----------------------------------------------------------------------------

    @classmethod
    def claimed_capabilities(cls) -> frozenset[Capability] | None:
        """The capabilities the connector under test claims, known before any test runs
        (``connector_class``, else the installed ``kind``); None if neither says."""
        connector_cls = cls.connector_class
        if connector_cls is None and cls.kind:
            connector_cls = ConnectorRegistry.from_entry_points().kinds().get(cls.kind)
        return None if connector_cls is None else frozenset(connector_cls.capabilities)

    async def settle(self, connector: Connector, outcome: Outcome) -> Outcome:
        """Poll ``status`` until a Pending outcome finishes (ASYNC connectors)."""
        polls = 0
        while isinstance(outcome, Pending):
            assert Capability.ASYNC in connector.capabilities, (
                f"{connector.kind} returned Pending without claiming the async capability"
            )
            assert outcome.ticket, "a Pending outcome needs a ticket"
            polls += 1
            assert polls <= self.max_polls, f"still pending after {self.max_polls} polls"
            await asyncio.sleep(min(outcome.poll_after.total_seconds(), 0.05))
            outcome = await connector.status(outcome.ticket)
        return outcome

    async def erase_settled(
        self, connector: Connector, subject: Subject, request_id: str = _REQUEST
    ) -> Outcome:
        return await self.settle(connector, await connector.erase(subject, request_id))

    @staticmethod
    def assert_only_subject_changed(
        seeded: Seeded,
        subject: Person,
        before: Mapping[Hashable, Any],
        after: Mapping[Hashable, Any],
    ) -> None:
        """Bystanders byte-identical, nothing new, the subject's records gone or trace-free."""
        theirs = seeded.records.get(subject, frozenset())
        appeared = set(after) - set(before)
        assert not appeared, f"records appeared: {sorted(map(repr, appeared))[:5]}"
        changed = [k for k in before if k not in theirs and after.get(k) != before[k]]
        assert not changed, f"a bystander's records changed: {sorted(map(repr, changed))[:5]}"
        traces = seeded.traces.get(subject, frozenset())
        for key in theirs:
            if key in seeded.retained:
                assert after.get(key) == before[key], f"retained record {key!r} changed"
            elif key in after:
                left = carries_trace(after[key], traces)
                assert left is None, f"record {key!r} still holds the subject ({left!r})"

    @staticmethod
    def assert_outcome_is_auditable(outcome: Outcome, traces: frozenset[str]) -> None:
        for counts in (getattr(outcome, "counts", {}), getattr(outcome, "retained_counts", {})):
            for key, n in counts.items():
                assert _COUNT_KEY.match(key), f"count key {key!r} is not '<what>.<action>'"
                assert isinstance(n, int) and n >= 0, f"count {key!r} is {n!r}"
        text = repr(outcome).lower()
        for trace in traces:
            if len(trace.strip()) >= 3:
                assert trace.strip().lower() not in text, "the outcome names the subject"


class EraseTests(ConnectorKit):
    def test_kind_and_capabilities_are_declared(self, connector: Connector) -> None:
        assert self.kind, f"{type(self).__name__}: set kind = '<registered kind>'"
        assert connector.kind == self.kind
        ConnectorRegistry.validate_class(self.kind, type(connector))
        assert Capability.ERASE in connector.capabilities

    async def test_erase_removes_the_subject_and_spares_bystanders(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, SUBJECT.subject())
        after = await harness.snapshot()
        assert isinstance(outcome, Erased | Retained), f"expected erased/retained, got {outcome}"
        self.assert_only_subject_changed(seeded, SUBJECT, before, after)
        self.assert_outcome_is_auditable(outcome, seeded.traces.get(SUBJECT, frozenset()))

    async def test_erase_reports_what_it_changed(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        outcome = await self.erase_settled(connector, SUBJECT.subject())
        changeable = seeded.records[SUBJECT] - seeded.retained
        if changeable:
            assert isinstance(outcome, Erased | Retained)
            assert sum(outcome.counts.values()) >= 1, "records changed but no count says so"
        if seeded.retained & seeded.records[SUBJECT]:
            assert isinstance(outcome, Retained), "declared retention must be reported"
            assert sum(outcome.retained_counts.values()) >= 1

    async def test_subject_behind_a_crowd_of_near_duplicates_is_erased(
        self, harness: Harness, connector: Connector
    ) -> None:
        # Addresses and names that contain the subject's fill the first pages of any search,
        # ahead of the subject: a connector that reads only the first page misses them.
        crowd = [
            Person(f"{n}ada@example.org", f"ada_b{n}", f"Crowd {n}") for n in range(self.crowd_size)
        ]
        seeded = await harness.seed([*crowd, SUBJECT])
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, SUBJECT.subject())
        after = await harness.snapshot()
        assert isinstance(outcome, Erased | Retained), (
            f"behind {self.crowd_size} near-duplicates the subject was missed ({outcome}): "
            "does the connector read every page of results?"
        )
        self.assert_only_subject_changed(seeded, SUBJECT, before, after)
        if Capability.VERIFY in connector.capabilities:
            residual = await connector.verify(SUBJECT.subject())
            assert residual.clean, f"verify after erase: {dict(residual.remaining)}"


class RepeatTests(ConnectorKit):
    async def test_erase_again_is_a_no_op_with_the_same_outcome(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        subject = SUBJECT.subject()
        first = await connector.erase(subject, _REQUEST)
        settled = await self.settle(connector, first)
        between = await harness.snapshot()
        repeat = await connector.erase(subject, _REQUEST)
        assert await harness.snapshot() == between, "erasing again changed the system"
        problem = repeat_problem(first, repeat) or (
            None
            if first is settled
            else repeat_problem(settled, await self.settle(connector, repeat))
        )
        assert problem is None, problem

    async def test_another_worker_erasing_again_replays_what_the_first_did(
        self,
        harness: Harness,
        connector: Connector,
        seeded: Seeded,
        receipt_journal: MemoryJournal,
    ) -> None:
        """The worker died after the system changed and before Lethe's ledger heard: another
        worker (a new instance of the connector) erases again with the same key. It must
        change nothing and answer what the first call did, with its counts, replayed from a
        receipt kept with the change (or in the receipt journal), not what is left."""
        subject = SUBJECT.subject()
        first = await self.erase_settled(connector, subject)
        assert not isinstance(first, NotFound), "the seeded subject was not found"
        between = await harness.snapshot()
        other = harness.build()
        try:
            repeat = await self.erase_settled(other, subject)
        finally:
            await other.aclose()
        assert await harness.snapshot() == between, "erasing again changed the system"
        problem = repeat_problem(first, repeat)
        assert problem is None, f"another worker erasing again: {problem}"
        traces = seeded.traces.get(SUBJECT, frozenset())
        for entry in receipt_journal.entries.values():
            text = repr(entry).lower()
            for trace in traces:
                if len(trace.strip()) >= 3:
                    assert trace.strip().lower() not in text, "a journal entry names the subject"

    async def test_a_later_round_erases_again(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        """A later round of the same request (a restored backup brought the subject back) has
        its own key (``connectors.erase_key``): it erases what is there now, and the first
        round's receipt must not answer it."""
        subject = SUBJECT.subject()
        first = await self.erase_settled(connector, subject, erase_key(_REQUEST, 0))
        restored = await harness.seed(self.cast)
        before = await harness.snapshot()
        other = harness.build()
        try:
            again = await self.erase_settled(other, subject, erase_key(_REQUEST, 1))
        finally:
            await other.aclose()
        assert again.evidence.get(REPLAYED_FROM_RECEIPT) is not True, (
            "round 1 was answered from round 0's receipt: key receipts by the whole key"
        )
        done = {k: v for k, v in getattr(first, "counts", {}).items() if v}
        redone = {k: v for k, v in getattr(again, "counts", {}).items() if v}
        assert redone == done, f"the restored subject: erased {redone}, the first round {done}"
        self.assert_only_subject_changed(restored, SUBJECT, before, await harness.snapshot())


class VerifyTests(ConnectorKit):
    @pytest.mark.lethe_capability(Capability.VERIFY)
    async def test_verify_sees_the_subject_before_and_nothing_after(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        subject = SUBJECT.subject()
        if seeded.records[SUBJECT] - seeded.retained:
            assert not (await connector.verify(subject)).clean, "verify missed the seeded subject"
        await self.erase_settled(connector, subject)
        residual = await connector.verify(subject)
        assert residual.clean, f"verify after erase: {dict(residual.remaining)}"

    @pytest.mark.lethe_capability(Capability.VERIFY)
    async def test_verify_changes_nothing(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        before = await harness.snapshot()
        await connector.verify(SUBJECT.subject())
        assert await harness.snapshot() == before


class PlanTests(ConnectorKit):
    @pytest.mark.lethe_capability(Capability.PLAN)
    async def test_plan_changes_nothing_and_matches_the_erase(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        subject = SUBJECT.subject()
        before = await harness.snapshot()
        plan = await connector.plan(subject)
        assert await harness.snapshot() == before, "plan changed the system"
        changeable = seeded.records[SUBJECT] - seeded.retained
        assert plan.would_change >= len(changeable), "plan counts fewer changes than seeded"
        outcome = await self.erase_settled(connector, subject)
        assert isinstance(outcome, Erased | Retained)
        assert {k: v for k, v in plan.counts.items() if v} == {
            k: v for k, v in outcome.counts.items() if v
        }, "plan and erase disagree on what changes"
        kept = getattr(outcome, "retained_counts", {})
        assert {k: v for k, v in plan.retained_counts.items() if v} == {
            k: v for k, v in kept.items() if v
        }, "plan and erase disagree on what is kept"

    @pytest.mark.lethe_capability(Capability.PLAN)
    async def test_plan_of_an_unknown_subject_is_empty(
        self, connector: Connector, seeded: Seeded
    ) -> None:
        assert (await connector.plan(UNKNOWN.subject())).empty


class NotFoundTests(ConnectorKit):
    async def test_unknown_subject_is_not_found_and_nothing_changes(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, UNKNOWN.subject())
        assert isinstance(outcome, NotFound), f"expected not_found, got {outcome}"
        assert await harness.snapshot() == before
        if Capability.VERIFY in connector.capabilities:
            assert (await connector.verify(UNKNOWN.subject())).clean


class NotSearchedTests(ConnectorKit):
    @pytest.mark.lethe_identifiers
    async def test_a_subject_lacking_an_identifier_the_rules_need_is_not_searched(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        """A request that carries only the address (``lethe submit`` without
        ``--identifier``) cannot reach what is keyed by a user name or a customer number:
        the answer is ``NotSearched`` naming the kinds it lacks, never ``NotFound`` or an
        ``Erased`` that looks complete; what the address finds is erased all the same."""
        full = SUBJECT.subject()
        only_email = Subject(ref=full.ref, email=full.email, jurisdiction=full.jurisdiction)
        before = await harness.snapshot()
        first = await self.erase_settled(connector, only_email, "er-kit-only-email")
        # The subject's records the address cannot reach stay (not searched); nobody else's
        # may change, and nothing may appear.
        after = await harness.snapshot()
        theirs = seeded.records.get(SUBJECT, frozenset())
        assert not set(after) - set(before), "records appeared"
        changed = [k for k in before if k not in theirs and after.get(k) != before[k]]
        assert not changed, f"a bystander's records changed: {sorted(map(repr, changed))[:5]}"
        self.assert_outcome_is_auditable(first, seeded.traces.get(SUBJECT, frozenset()))
        needed = set(self.identifier_kinds or ()) - {"email"}
        if isinstance(first, NotSearched):
            assert set(first.missing) <= IDENTIFIER_KINDS - {"email"}, (
                f"the request carried the address, yet {first.missing} are said missing"
            )
            assert needed <= set(first.missing), (
                f"the configuration needs {sorted(needed)}; NotSearched names {first.missing}"
            )
            return
        assert not needed, (
            f"the configuration needs {sorted(needed)}, which the request lacked: answer"
            f" NotSearched(missing=…), not {first.kind}"
        )
        # Not declared: whatever the whole subject still finds is what was not looked for.
        rest = await self.erase_settled(connector, full, "er-kit-every-identifier")
        left = {k: v for k, v in getattr(rest, "counts", {}).items() if v}
        assert not left, (
            f"erasing by the address alone answered {first.kind}, yet the subject's other"
            f" identifiers then found {left}: what a rule could not look for must be reported"
            " as NotSearched(missing=(kinds…)) (or declare identifier_kinds on the suite)"
        )


class IdentifierSafetyTests(ConnectorKit):
    @pytest.mark.parametrize("hostile", HOSTILE, ids=lambda p: repr(p.email))
    async def test_patterns_and_blanks_in_identifiers_match_nothing(
        self, harness: Harness, connector: Connector, seeded: Seeded, hostile: Person
    ) -> None:
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, hostile.subject())
        # A blank identifier is no identifier: "not searched" (and nothing changed) is right.
        nothing = isinstance(outcome, NotFound) or (
            isinstance(outcome, NotSearched)
            and not any(outcome.counts.values())
            and outcome.kept is None
        )
        assert nothing, f"{hostile.email!r} matched: {outcome}"
        assert await harness.snapshot() == before


class MatchingPolicyTests(ConnectorKit):
    async def test_the_policy_decides_who_is_the_subject_not_lower(
        self, harness: Harness, connector: Connector
    ) -> None:
        # Stored decomposed and capitalised, she is the subject; capitals only Unicode folds,
        # the KELVIN SIGN, Cyrillic and fullwidth letters, no accents: other people.
        seeded = await harness.seed([ZOE, *ZOE_BYSTANDERS])
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, ZOE.subject())
        assert isinstance(outcome, Erased | Retained), (
            f"the subject's address stored decomposed (NFD) was not found: {outcome}"
        )
        self.assert_only_subject_changed(seeded, ZOE, before, await harness.snapshot())
        if Capability.VERIFY in connector.capabilities:
            residual = await connector.verify(ZOE.subject())
            assert residual.clean, f"verify after erase: {dict(residual.remaining)}"

    async def test_lookalikes_are_left_and_reported_by_verify(
        self, harness: Harness, connector: Connector
    ) -> None:
        # " Ada@Example.org" is not her address (stored values are never trimmed), but it may be
        # her data: it must not change, and verify must not call the erasure clean.
        seeded = await harness.seed([SUBJECT, *LOOKALIKES])
        before = await harness.snapshot()
        outcome = await self.erase_settled(connector, SUBJECT.subject())
        assert isinstance(outcome, Erased | Retained), f"expected erased/retained, got {outcome}"
        self.assert_only_subject_changed(seeded, SUBJECT, before, await harness.snapshot())
        if Capability.VERIFY in connector.capabilities:
            residual = await connector.verify(SUBJECT.subject())
            assert not residual.clean, (
                "verify calls the erasure clean while values that differ from the subject's "
                "address only by whitespace or invisible characters around it are left: report "
                "them (a '<what>.lookalike' count, connectors.IdentifierMatch.looks_like)"
            )


class FaultTests(ConnectorKit):
    async def test_transient_fault_raises_transient_error_and_changes_nothing(
        self, harness: Harness, seeded: Seeded, transient_fault: FaultInjector
    ) -> None:
        before = await harness.snapshot()
        async with transient_fault() as faulty:
            with pytest.raises(TransientError) as err:
                await faulty.erase(SUBJECT.subject(), _REQUEST)
        retry_after = err.value.retry_after
        assert retry_after is None or retry_after >= timedelta(0)
        assert await harness.snapshot() == before
        self.assert_message_is_clean(str(err.value), seeded)
        # Once the fault clears, the retry does the work.
        healthy = harness.build()
        try:
            outcome = await self.erase_settled(healthy, SUBJECT.subject())
        finally:
            await healthy.aclose()
        assert not isinstance(outcome, NotFound)

    async def test_permanent_fault_raises_permanent_error_and_changes_nothing(
        self, harness: Harness, seeded: Seeded, permanent_fault: FaultInjector
    ) -> None:
        before = await harness.snapshot()
        async with permanent_fault() as faulty:
            with pytest.raises(PermanentError) as err:
                await faulty.erase(SUBJECT.subject(), _REQUEST)
        assert not isinstance(err.value, TransientError)
        assert await harness.snapshot() == before
        self.assert_message_is_clean(str(err.value), seeded)

    async def test_rate_limit_raises_transient_error_with_its_retry_after(
        self, harness: Harness, seeded: Seeded, rate_limit_fault: FaultInjector
    ) -> None:
        before = await harness.snapshot()
        async with rate_limit_fault() as limited:
            with pytest.raises(TransientError) as err:
                await limited.erase(SUBJECT.subject(), _REQUEST)
        retry_after = err.value.retry_after
        assert retry_after is not None and retry_after > timedelta(0), (
            "the system said when to come back (Retry-After); pass it on as retry_after "
            "(connectors.parse_retry_after)"
        )
        assert await harness.snapshot() == before
        self.assert_message_is_clean(str(err.value), seeded)

    @staticmethod
    def assert_message_is_clean(message: str, seeded: Seeded) -> None:
        for trace in seeded.traces.get(SUBJECT, frozenset()):
            if len(trace.strip()) >= 3:
                assert trace.strip().lower() not in message.lower(), "message names the subject"


class BlastRadiusTests(ConnectorKit):
    async def test_erase_beyond_the_limit_is_refused_and_changes_nothing(
        self, harness: Harness, seeded: Seeded
    ) -> None:
        changeable = seeded.records[SUBJECT] - seeded.retained
        before = await harness.snapshot()
        if len(changeable) < 2:
            # Nothing to refuse: at most one record changes, so a limit of one must let the
            # erase through (a guard that refuses what is within its limit is a bug too).
            within = harness.build(max_items=1)
            try:
                outcome = await self.erase_settled(within, SUBJECT.subject())
            finally:
                await within.aclose()
            assert not isinstance(outcome, Pending)
            self.assert_only_subject_changed(seeded, SUBJECT, before, await harness.snapshot())
            return
        tight = harness.build(max_items=1)
        try:
            with pytest.raises(BlastRadiusExceeded) as err:
                await tight.erase(SUBJECT.subject(), _REQUEST)
        finally:
            await tight.aclose()
        assert await harness.snapshot() == before, "a refused erase changed something"
        assert err.value.limit == 1 and err.value.would_touch > 1
        assert "nothing was changed" in str(err.value)

    @pytest.mark.lethe_capability(Capability.PLAN)
    async def test_erase_exactly_at_the_limit_proceeds(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        plan = await connector.plan(SUBJECT.subject())
        if not plan.would_change:
            pytest.skip("the connector changes nothing for the seeded subject")
        exact = harness.build(max_items=plan.would_change)
        try:
            assert not (await exact.plan(SUBJECT.subject())).refused
            outcome = await self.erase_settled(exact, SUBJECT.subject())
        finally:
            await exact.aclose()
        assert isinstance(outcome, Erased | Retained)


class AsyncTests(ConnectorKit):
    @pytest.mark.lethe_capability(Capability.ASYNC)
    async def test_pending_erase_finishes_through_status(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        before = await harness.snapshot()
        first = await connector.erase(SUBJECT.subject(), _REQUEST)
        assert isinstance(first, Pending), "an async connector should answer Pending"
        again = await connector.erase(SUBJECT.subject(), _REQUEST)
        assert not isinstance(again, Pending) or again.ticket == first.ticket, "second job"
        final = await self.settle(connector, first)
        assert isinstance(final, Erased | Retained)
        self.assert_only_subject_changed(seeded, SUBJECT, before, await harness.snapshot())

    @pytest.mark.lethe_capability(Capability.ASYNC)
    async def test_status_needs_only_the_ticket_and_can_be_asked_again(
        self, harness: Harness, connector: Connector, seeded: Seeded
    ) -> None:
        # Lethe keeps the ticket in its ledger; the poll may run on another worker, after a
        # restart, and be retried after the job finished.
        first = await connector.erase(SUBJECT.subject(), _REQUEST)
        assert isinstance(first, Pending), "an async connector should answer Pending"
        elsewhere = harness.build()
        try:
            try:
                final = await self.settle(elsewhere, first)
            except Exception as exc:
                pytest.fail(
                    "another instance of the connector (another worker) cannot poll the ticket: "
                    f"{type(exc).__name__}: {exc}; keep what status() needs in the ticket or "
                    "in the system, not in the connector object"
                )
            assert isinstance(final, Erased | Retained), f"expected erased/retained, got {final}"
            between = await harness.snapshot()
            again = await elsewhere.status(first.ticket)
        finally:
            await elsewhere.aclose()
        assert await harness.snapshot() == between, "asking the status again changed the system"
        problem = repeat_problem(final, again, asked="status")
        assert problem is None, f"status after the job finished: {problem}"


class BystanderPropertyTests(ConnectorKit):
    @settings(
        max_examples=PROPERTY_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # seed() replaces the system every example
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # one test method, one subclass per system
        ],
    )
    @given(cast=people())
    async def test_no_bystander_ever_changes(
        self, harness: Harness, cast: tuple[Person, list[Person]]
    ) -> None:
        subject, bystanders = cast
        seeded = await harness.seed([subject, *bystanders])
        before = await harness.snapshot()
        connector = harness.build()
        try:
            # A new request each example: a connector may remember request ids (receipts, jobs).
            await self.erase_settled(connector, subject.subject(), f"er-kit-{uuid.uuid4().hex}")
            self.assert_only_subject_changed(seeded, subject, before, await harness.snapshot())
            if Capability.VERIFY in connector.capabilities:
                # Not clean while a look-alike of the subject's address is left; clean when no
                # look-alike of any identifier is (a system may not be keyed by user name).
                residual = await connector.verify(subject.subject())
                by_email = sum(subject.looks_like(b) for b in bystanders)
                by_name = sum(subject.looks_like(b, "username") for b in bystanders)
                assert residual.clean is not bool(by_email) or (by_name and not by_email), (
                    f"verify after erase: {dict(residual.remaining)}, with {by_email} look-alike(s)"
                    f" of the subject's address and {by_name} of their user name left"
                )
        finally:
            await connector.aclose()


class ConformanceSuite(
    EraseTests,
    RepeatTests,
    VerifyTests,
    PlanTests,
    NotFoundTests,
    NotSearchedTests,
    IdentifierSafetyTests,
    MatchingPolicyTests,
    FaultTests,
    BlastRadiusTests,
    AsyncTests,
    BystanderPropertyTests,
):
    """Every part of the kit. A registered connector needs a ``Test…`` subclass of this."""
