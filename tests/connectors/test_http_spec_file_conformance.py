"""The conformance kit (connectors.testing) against ``http`` with a spec file of one's own
(tests/connectors/specs/acmedesk.toml) on the made-up Acme Desk
(connectors/testing/fakes/acmedesk.py): OAuth2 client credentials, Link header pages, and
deletions that finish later (``Pending``, then ``status``), fault cases included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.http import HttpConnector
from connectors.testing import Person, Seeded
from connectors.testing.fakes.acmedesk import FakeAcmeDesk
from tests.connectors.http_harness import FakeHarness, HttpPresetSuite

# The kit against a protocol server: a minute's worth of round trips, so `make check` leaves
# it to `make test` (the connector's own tests stay in the quick lane).
pytestmark = pytest.mark.slow

SPEC = str(Path(__file__).resolve().parent / "specs" / "acmedesk.toml")
CLIENT, SECRET = "lethe-client", "acmedesk-kit-secret"


class AcmeDeskHarness(FakeHarness):
    fake: FakeAcmeDesk

    def __init__(self, fake: FakeAcmeDesk) -> None:
        super().__init__(fake, "", {"client_id": CLIENT, "client_secret": SECRET})
        del self.options["preset"]
        self.options["spec"] = SPEC

    async def seed(self, people: Sequence[Person]) -> Seeded:
        with self.fake.lock:
            self.fake.customers.clear()
            records = {p: frozenset({self.fake.add(p.email, p.name)}) for p in people}
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        with self.fake.lock:
            return {cid: tuple(sorted(c.items())) for cid, c in self.fake.customers.items()}


class TestSpecFileWithJobs(HttpPresetSuite):
    connector_class = HttpConnector  # its spec declares a [status] poll: it claims async
    secret_option = "client_secret"

    def make_fake(self) -> FakeAcmeDesk:
        return FakeAcmeDesk(CLIENT, SECRET, page_size=5, job_polls=2)

    def make_harness(self, fake: Any) -> AcmeDeskHarness:
        return AcmeDeskHarness(fake)
