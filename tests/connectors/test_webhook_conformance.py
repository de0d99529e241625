"""The conformance kit (connectors.testing) against ``webhook`` on a local OpenDSR processor
(connectors/testing/fakes/opendsr.py, held to contracts/opendsr.yaml): erasures that finish
later (``Pending``, then ``status``) and at once, fault cases included (5xx, 429 with
Retry-After, a secret the processor refuses)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.testing import (
    BlastRadiusTests,
    ConformanceSuite,
    ConnectorKit,
    EraseTests,
    FaultInjector,
    MatchingPolicyTests,
    NotFoundTests,
    Person,
    RepeatTests,
    Seeded,
)
from connectors.testing.fakes.opendsr import FakeProcessor
from connectors.testing.fakes.server import serve
from connectors.webhook import WebhookConnector
from connectors.webhook_signing import new_secret

SECRET = new_secret()


class ProcessorHarness:
    def __init__(self, fake: FakeProcessor) -> None:
        self.fake = fake
        self.options: dict[str, Any] = {
            "url": f"{fake.url}/opendsr",
            "secret": SECRET,
            "retries": 1,
            "backoff_seconds": 0.01,
            "poll_after_seconds": 1,
        }

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry().build(
            "processor", "connectors.webhook:WebhookConnector", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        with self.fake.lock:
            self.fake.records.clear()
            records = {p: frozenset({self.fake.add(p.email, p.name)}) for p in people}
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        with self.fake.lock:
            return {rid: tuple(sorted(r.items())) for rid, r in self.fake.records.items()}


class _ProcessorKit(ConnectorKit):
    kind = "webhook"
    connector_class = WebhookConnector
    identifier_kinds = frozenset({"email"})
    answer = "later"

    @pytest.fixture
    def fake(self) -> Iterator[FakeProcessor]:
        with serve(FakeProcessor(SECRET, answer=self.answer, polls=2)) as fake:
            yield fake
            assert not fake.violations, fake.violations
            # Identifiers travel only in request bodies: never in a path or query.
            for line in fake.requests:
                assert "@" not in line, line

    @pytest.fixture
    def harness(self, fake: FakeProcessor) -> ProcessorHarness:
        return ProcessorHarness(fake)

    def _meets(self, harness: ProcessorHarness, **options: Any) -> FaultInjector:
        @asynccontextmanager
        async def fault() -> AsyncIterator[Connector]:
            connector = harness.build(**options)
            try:
                yield connector
            finally:
                harness.fake.faults.clear()
                await connector.aclose()

        return fault

    @pytest.fixture
    def transient_fault(self, fake: FakeProcessor, harness: ProcessorHarness) -> FaultInjector:
        for _ in range(2):  # down for longer than the one quick retry
            fake.fault(503)
        return self._meets(harness)

    @pytest.fixture
    def rate_limit_fault(self, fake: FakeProcessor, harness: ProcessorHarness) -> FaultInjector:
        fake.fault(429, retry_after="30")
        return self._meets(harness)

    @pytest.fixture
    def permanent_fault(self, harness: ProcessorHarness) -> FaultInjector:
        return self._meets(harness, secret=new_secret())  # a secret the processor refuses


class TestProcessorAnsweringLater(_ProcessorKit, ConformanceSuite):
    answer = "later"


class TestProcessorAnsweringNow(
    _ProcessorKit, EraseTests, RepeatTests, NotFoundTests, MatchingPolicyTests, BlastRadiusTests
):
    """A processor that erases at once (its first answer is ``completed``): the kit's parts
    that do not expect ``Pending``."""

    answer = "now"
