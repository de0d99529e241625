"""The conformance kit (connectors.testing) against the mailchimp preset of ``http``, on the
local Mailchimp (connectors/testing/fakes/mailchimp.py) with two audiences, fault cases
included. Every erase that deletes someone also reports the suppression entry it keeps
(``Retained``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from connectors.testing import Person, Seeded
from connectors.testing.fakes.mailchimp import FakeMailchimp
from tests.connectors.http_harness import FakeHarness, HttpPresetSuite

# The kit against a protocol server: a minute's worth of round trips, so `make check` leaves
# it to `make test` (the connector's own tests stay in the quick lane).
pytestmark = pytest.mark.slow

KEY = "mc-kit-key-us1"
LISTS = ("a1b2c3", "d4e5f6")


class MailchimpHarness(FakeHarness):
    fake: FakeMailchimp

    async def seed(self, people: Sequence[Person]) -> Seeded:
        records: dict[Person, frozenset[Any]] = {}
        with self.fake.lock:
            for members in self.fake.lists.values():
                members.clear()
            for forgotten in self.fake.forgotten.values():
                forgotten.clear()
            for p in people:
                keys = {(lid, h) for lid in LISTS if (h := self.fake.add(lid, p.email, p.name))}
                records[p] = frozenset(keys)
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        with self.fake.lock:
            return {
                (lid, h): tuple(sorted((k, repr(v)) for k, v in m.items()))
                for lid, members in self.fake.lists.items()
                for h, m in members.items()
            }


class TestMailchimpPreset(HttpPresetSuite):
    secret_option = "password"

    def make_fake(self) -> FakeMailchimp:
        return FakeMailchimp(KEY, LISTS, page_size=5)

    def make_harness(self, fake: Any) -> MailchimpHarness:
        return MailchimpHarness(
            fake, "mailchimp", {"password": KEY, "params": {"list_ids": list(LISTS)}}
        )
