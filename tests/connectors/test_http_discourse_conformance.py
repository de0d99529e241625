"""The conformance kit (connectors.testing) against the discourse preset of ``http``, in both
modes (anonymise: posts kept, author gone; delete with posts), on the local Discourse
(connectors/testing/fakes/discourse.py), fault cases included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from connectors.testing import Person, Seeded
from connectors.testing.fakes.discourse import FakeDiscourse
from tests.connectors.http_harness import FakeHarness, HttpPresetSuite

# The kit against a protocol server: a minute's worth of round trips, so `make check` leaves
# it to `make test` (the connector's own tests stay in the quick lane).
pytestmark = pytest.mark.slow

KEY = "discourse-kit-key"


class DiscourseHarness(FakeHarness):
    fake: FakeDiscourse

    async def seed(self, people: Sequence[Person]) -> Seeded:
        with self.fake.lock:
            self.fake.users.clear()
            self.fake.posts.clear()
            records = {
                p: frozenset(self.fake.add(p.email, p.username, p.name, posts=2)[:1])
                for p in people
            }
        # One record a user, holding their posts (snapshot): anonymised, the posts stay as they
        # were (that is the mode: author gone, posts kept); deleted, they go with the user.
        return Seeded(records=records, traces={p: frozenset({p.email, p.username}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        with self.fake.lock:
            posts: dict[int, list[tuple[Any, ...]]] = {}
            for p in self.fake.posts.values():
                posts.setdefault(p["user_id"], []).append(tuple(sorted(p.items())))
            orphans = {
                ("posts", i): tuple(sorted(p.items()))
                for i, p in self.fake.posts.items()
                if p["user_id"] not in self.fake.users
            }
            return {
                ("users", i): (tuple(sorted(u.items())), tuple(posts.get(i, ())))
                for i, u in self.fake.users.items()
            } | orphans


class TestDiscourseAnonymise(HttpPresetSuite):
    secret_option = "api_key"

    def make_fake(self) -> FakeDiscourse:
        return FakeDiscourse(KEY, page_size=5)

    def make_harness(self, fake: Any) -> DiscourseHarness:
        return DiscourseHarness(fake, "discourse", {"api_key": KEY})


class TestDiscourseDeleteWithPosts(TestDiscourseAnonymise):
    def make_harness(self, fake: Any) -> DiscourseHarness:
        return DiscourseHarness(fake, "discourse", {"api_key": KEY, "params": {"mode": "delete"}})
