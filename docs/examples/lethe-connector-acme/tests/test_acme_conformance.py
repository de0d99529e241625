"""The conformance kit against the acme connector, on the fake Acme CRM (tests/fake_acme.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fake_acme import FakeAcme, serve
from lethe_acme.connector import AcmeConnector

from connectors import Connector, ConnectorRegistry
from connectors.testing import ConformanceSuite, FaultInjector, Harness, Person, Seeded

TOKEN = "kit-token"


class AcmeHarness:
    """Each person is two contacts (a sign-up and a duplicate, as CRMs collect)."""

    def __init__(self, fake: FakeAcme) -> None:
        self.fake = fake
        self.options: dict[str, Any] = {"url": fake.url, "api_token": TOKEN}

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry().build(
            "crm", "lethe_acme.connector:AcmeConnector", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        self.fake.contacts.clear()
        records = {
            p: frozenset({self.fake.add(p.email, p.name), self.fake.add(p.email, "newsletter")})
            for p in people
        }
        traces = {p: frozenset({p.email}) for p in people}
        return Seeded(records=records, traces=traces)

    async def snapshot(self) -> Mapping[Any, Any]:
        return {cid: tuple(sorted(c.items())) for cid, c in self.fake.contacts.items()}


class TestAcme(ConformanceSuite):
    kind = "acme"
    connector_class = AcmeConnector  # found even before the package is installed

    @pytest.fixture
    def fake(self) -> Iterator[FakeAcme]:
        with serve(FakeAcme(token=TOKEN)) as fake:
            yield fake

    @pytest.fixture
    def harness(self, fake: FakeAcme) -> Harness:
        return AcmeHarness(fake)

    def _meets(self, harness: AcmeHarness, **options: Any) -> FaultInjector:
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
    def transient_fault(self, fake: FakeAcme, harness: AcmeHarness) -> FaultInjector:
        fake.faults.append((503, {}))  # the service is down for one request
        return self._meets(harness)

    @pytest.fixture
    def rate_limit_fault(self, fake: FakeAcme, harness: AcmeHarness) -> FaultInjector:
        fake.faults.append((429, {"Retry-After": "30"}))
        return self._meets(harness)

    @pytest.fixture
    def permanent_fault(self, harness: AcmeHarness) -> FaultInjector:
        return self._meets(harness, api_token="revoked")
