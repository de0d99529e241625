"""The conformance kit (connectors.testing) against the hubspot preset of ``http``, on the
local HubSpot (connectors/testing/fakes/hubspot.py), fault cases included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.testing import Person, Seeded
from connectors.testing.fakes.hubspot import FakeHubSpot
from tests.connectors.http_harness import FakeHarness, HttpPresetSuite

TOKEN = "pat-kit-token"


class HubSpotHarness(FakeHarness):
    fake: FakeHubSpot

    async def seed(self, people: Sequence[Person]) -> Seeded:
        with self.fake.lock:
            self.fake.contacts.clear()
            records = {p: frozenset({self.fake.add(p.email, p.name)}) for p in people}
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        with self.fake.lock:
            return {
                cid: tuple(sorted(c["properties"].items())) for cid, c in self.fake.contacts.items()
            }


class TestHubSpotPreset(HttpPresetSuite):
    def make_fake(self) -> FakeHubSpot:
        return FakeHubSpot(TOKEN, page_size=5)

    def make_harness(self, fake: Any) -> HubSpotHarness:
        return HubSpotHarness(fake, "hubspot", {"token": TOKEN})
