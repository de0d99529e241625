"""What the conformance suites of the ``http`` presets share: a harness over a fake service,
and the fault fixtures (5xx, 429 with Retry-After, revoked credentials)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.http import SyncHttpConnector
from connectors.testing import ConformanceSuite, FaultInjector, Person, Seeded
from connectors.testing.fakes.server import FakeService, serve


class FakeHarness:
    """Builds the preset against the fake; seed and snapshot are the fake's own."""

    #: Quick 5xx retries inside one call: one, without waiting long.
    RETRIES = 1

    def __init__(self, fake: FakeService, preset: str, options: Mapping[str, Any]) -> None:
        self.fake = fake
        self.options: dict[str, Any] = {
            "preset": preset,
            "base_url": fake.url,
            "retries": self.RETRIES,
            "backoff_seconds": 0.01,
            **options,
        }

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry().build(
            "svc", "connectors.http:HttpConnector", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        raise NotImplementedError

    async def snapshot(self) -> Mapping[Any, Any]:
        raise NotImplementedError


class HttpPresetSuite(ConformanceSuite):
    """A preset's suite: subclasses give ``make_fake`` and ``make_harness``."""

    kind = "http"
    connector_class = SyncHttpConnector
    identifier_kinds = frozenset({"email"})
    #: The credential option a revoked value is given for the permanent fault.
    secret_option: ClassVar[str] = "token"

    def make_fake(self) -> FakeService:
        raise NotImplementedError

    def make_harness(self, fake: Any) -> FakeHarness:
        raise NotImplementedError

    @pytest.fixture
    def fake(self) -> Iterator[Any]:
        with serve(self.make_fake()) as fake:
            yield fake
            # Nothing the connector sent, and nothing the fake answered, broke the contract.
            assert not fake.violations, fake.violations

    @pytest.fixture
    def harness(self, fake: Any) -> FakeHarness:
        return self.make_harness(fake)

    def _meets(self, harness: FakeHarness, **options: Any) -> FaultInjector:
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
    def transient_fault(self, fake: FakeService, harness: FakeHarness) -> FaultInjector:
        for _ in range(FakeHarness.RETRIES + 1):  # down for longer than the quick retries
            fake.fault(503)
        return self._meets(harness)

    @pytest.fixture
    def rate_limit_fault(self, fake: FakeService, harness: FakeHarness) -> FaultInjector:
        fake.fault(429, retry_after="30")
        return self._meets(harness)

    @pytest.fixture
    def permanent_fault(self, harness: FakeHarness) -> FaultInjector:
        return self._meets(harness, **{self.secret_option: "revoked"})
