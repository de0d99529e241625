"""The conformance kit against the redis connector, on the local Redis server.

Every test works under its own key prefix (never FLUSHDB: the server is shared). The test
application keeps a profile hash per address, session tokens per user name, a cart list per
address, and keys that belong to nobody; the connector is configured with three templates.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from connectors import (
    Connector,
    ConnectorConfigError,
    ConnectorRegistry,
    NotSearched,
    Retained,
    Subject,
    erase_key,
)
from connectors.redis import glob_escape
from connectors.testing import (
    SUBJECT,
    ConformanceSuite,
    FaultInjector,
    Harness,
    Person,
    Seeded,
    built_with,
)
from tests.conftest import REDIS_URL, require_service


class RedisHarness:
    def __init__(self, client: aioredis.Redis, prefix: str, **extra: Any) -> None:
        self.client = client
        self.prefix = prefix
        self.receipts = f"{prefix}lethe:"
        self.options: dict[str, Any] = {
            "url": REDIS_URL,
            "keys": {
                "profile": f"{prefix}user:{{email}}",
                "sessions": f"{prefix}session:{{username}}:*",
                "cart": f"{prefix}cart:{{email}}",
            },
            "receipt_prefix": self.receipts,
            "scan_count": 500,
            **extra,
        }

    def build(self, **options: Any) -> Connector:
        registry = ConnectorRegistry.from_entry_points()
        return registry.build("cache", "redis", {**self.options, **options})

    async def _ours(self) -> list[bytes]:
        return [k async for k in self.client.scan_iter(match=glob_escape(self.prefix) + "*")]

    async def clear(self) -> None:
        keys = await self._ours()
        if keys:
            await self.client.delete(*keys)

    async def seed(self, people: Sequence[Person]) -> Seeded:
        await self.clear()
        records: dict[Person, frozenset[Any]] = {}
        traces: dict[Person, frozenset[str]] = {}
        p = self.prefix
        await self.client.set(f"{p}stats:visits", "1234")
        await self.client.hset(f"{p}config", mapping={"theme": "dark"})
        for n, person in enumerate(people):
            email = person.email  # as the person typed it: the connector applies the policy
            profile = f"{p}user:{email}".encode()
            await self.client.hset(
                profile, mapping={"name": person.name, "username": person.username}
            )
            sessions = [f"{p}session:{person.username}:t{n}x{k}".encode() for k in (1, 2)]
            for s in sessions:
                await self.client.set(s, f"10.2.{n}.1")
            cart = f"{p}cart:{email}".encode()
            await self.client.rpush(cart, "book", "pen")
            records[person] = frozenset({profile, *sessions, cart})
            traces[person] = frozenset({email, person.username, f"10.2.{n}.1"})
        return Seeded(records=records, traces=traces)

    async def snapshot(self) -> Mapping[Any, Any]:
        out: dict[Any, Any] = {}
        for key in await self._ours():
            if key.startswith(self.receipts.encode()):
                continue  # the connector's own receipts
            kind = (await self.client.type(key)).decode()
            if kind == "string":
                value: Any = await self.client.get(key)
            elif kind == "hash":
                value = tuple(sorted((await self.client.hgetall(key)).items()))
            elif kind == "list":
                value = tuple(await self.client.lrange(key, 0, -1))
            else:
                value = kind
            out[key] = (kind, value)
        return out


class TestRedis(ConformanceSuite):
    kind = "redis"
    identifier_kinds = frozenset({"email", "username"})

    @pytest.fixture
    async def client(self) -> AsyncIterator[aioredis.Redis]:
        require_service("Redis", "127.0.0.1", 6379)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            yield client
        finally:
            await client.aclose()

    @pytest.fixture
    async def harness(self, client: aioredis.Redis) -> AsyncIterator[Harness]:
        h = RedisHarness(client, f"t{uuid.uuid4().hex[:10]}:")
        try:
            yield h
        finally:
            await h.clear()

    @pytest.fixture
    def transient_fault(self, harness: RedisHarness) -> FaultInjector:
        return built_with(harness, url="redis://127.0.0.1:1/0")

    @pytest.fixture
    def permanent_fault(self, harness: RedisHarness) -> FaultInjector:
        return built_with(harness, url=REDIS_URL.rsplit("/", 1)[0] + "/9999")


class TestRedisWithSnapshots(TestRedis):
    """The same, with RDB/AOF copies declared: every erase is a retained exception."""

    @pytest.fixture
    async def harness(self, client: aioredis.Redis) -> AsyncIterator[Harness]:
        h = RedisHarness(client, f"t{uuid.uuid4().hex[:10]}:", snapshot_retention_days=7)
        try:
            yield h
        finally:
            await h.clear()

    async def test_snapshots_are_a_retained_exception(
        self, harness: RedisHarness, seeded: Seeded
    ) -> None:
        c = harness.build()
        try:
            outcome = await c.erase(SUBJECT.subject(), "er-snap")
            again = await c.erase(SUBJECT.subject(), "er-snap")
        finally:
            await c.aclose()
        assert isinstance(outcome, Retained) and outcome.legal_basis == "backup-rotation"
        assert outcome.retained_until == date.today() + timedelta(days=7)
        assert outcome.counts == {"profile.unlinked": 1, "sessions.unlinked": 2, "cart.unlinked": 1}
        assert isinstance(again, Retained) and again.counts == outcome.counts
        assert again.evidence.get("replayed_from_receipt") is True

    async def test_templates_a_request_has_no_identifier_for_are_not_searched(
        self, harness: RedisHarness, seeded: Seeded
    ) -> None:
        # `lethe submit` carries only the address: the sessions (keyed by user name) are not
        # looked for, and the outcome must say so instead of looking complete.
        only_email = Subject(ref="ps_kit", email=SUBJECT.subject().email)
        c = harness.build()
        try:
            outcome = await c.erase(only_email, "er-email-only")
            again = await c.erase(only_email, "er-email-only")
            nothing = await c.erase(Subject(ref="ps_x", email="nobody@example.net"), "er-x")
            # The operator adds the user name and retries: the same request searches again.
            completed = await c.erase(SUBJECT.subject(), "er-email-only")
        finally:
            await c.aclose()
        assert isinstance(outcome, NotSearched) and outcome.missing == ("username",)
        assert outcome.counts == {"profile.unlinked": 1, "cart.unlinked": 1}
        assert outcome.kept is not None and outcome.kept.legal_basis == "backup-rotation"
        assert outcome.evidence["not_searched"] == ["sessions (no username)"]
        assert isinstance(again, NotSearched) and again.counts == outcome.counts
        assert again.evidence.get("replayed_from_receipt") is True
        assert isinstance(nothing, NotSearched) and not nothing.counts
        assert nothing.evidence["not_searched"] == ["sessions (no username)"]
        assert isinstance(completed, Retained) and completed.counts == {"sessions.unlinked": 2}


def test_glob_metacharacters_are_escaped() -> None:
    assert glob_escape("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"all": "*"}, "needs an identifier"),
        ({"p": "user:{email}*"}, "wildcard next to"),
        ({"p": "*{email}"}, "wildcard next to"),
        ({"p": "user:{shoe_size}"}, "unknown identifier"),
        ({"p": "user:[a]{email}"}, "only * and ?"),
        ({"bad name": "user:{email}"}, "plain identifier"),
        ({"p": "person:{name}"}, "{name} does not identify one person"),
    ],
)
def test_bad_templates_fail_at_load_with_the_system_name(
    keys: dict[str, str], message: str
) -> None:
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build(
            "cache", "redis", {"url": "redis://127.0.0.1:6379/0", "keys": keys}
        )
    assert "system 'cache'" in str(err.value) and message in str(err.value)


def test_case_insensitivity_is_an_opt_in_by_template() -> None:
    registry = ConnectorRegistry.from_entry_points()
    keys = {"profile": "user:{email}", "sessions": "session:{username}:*"}
    with pytest.raises(ConnectorConfigError, match="names no template 'carts'"):
        registry.build(
            "cache", "redis", {"url": REDIS_URL, "keys": keys, "ascii_case_insensitive": ["carts"]}
        )
    # The old switch meant A-Z in either case in every template: it still does.
    old = registry.build(
        "cache", "redis", {"url": REDIS_URL, "keys": keys, "case_insensitive": True}
    )
    assert old.options.ascii_case_insensitive == ["profile", "sessions"]  # type: ignore[attr-defined]


async def test_each_kind_matches_by_its_policy() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = aioredis.Redis.from_url(REDIS_URL)
    p = f"t{uuid.uuid4().hex[:10]}:"
    zoe = unicodedata.normalize("NFD", "Zoë@Example.org")
    keys = {
        f"{p}user:{zoe}": "hers (decomposed, capitals)",
        f"{p}user:ZOË@example.org": "someone else (a capital only Unicode folds)",
        f"{p}user: zoë@example.org": "a look-alike",
        f"{p}session:Ada_B:t1": "hers",
        f"{p}session:ada_b:t2": "someone else's (ids are exact)",
        f"{p}tel:+44 (20) 7946-0958": "hers (a phone number by its digits)",
        f"{p}tel:0044 20 7946 0958": "someone else's",
    }
    options = {
        "url": REDIS_URL,
        "keys": {
            "profile": f"{p}user:{{email}}",
            "sessions": f"{p}session:{{username}}:*",
            "phone": f"{p}tel:{{phone}}",
        },
        "receipt_prefix": f"{p}lethe:",
    }
    subject = Subject("ps_z", "zoë@example.org", {"username": "Ada_B", "phone": "+44 20 7946 0958"})
    try:
        for key, value in keys.items():
            await client.set(key, value)
        c = ConnectorRegistry.from_entry_points().build("cache", "redis", options)
        try:
            outcome = await c.erase(subject, "er-1")
            residual = await c.verify(subject)
        finally:
            await c.aclose()
        left = {k.decode() async for k in client.scan_iter(match=glob_escape(p) + "*")}
    finally:
        mine = [k async for k in client.scan_iter(match=glob_escape(p) + "*")]
        if mine:
            await client.delete(*mine)
        await client.aclose()
    assert outcome.counts == {  # type: ignore[union-attr]
        "profile.unlinked": 1,
        "sessions.unlinked": 1,
        "phone.unlinked": 1,
    }
    assert left - {k for k in left if k.startswith(f"{p}lethe:")} == {
        f"{p}user:ZOË@example.org",
        f"{p}user: zoë@example.org",
        f"{p}session:ada_b:t2",
        f"{p}tel:0044 20 7946 0958",
    }
    assert residual.remaining == {"profile.lookalike": 1}


async def test_a_later_round_is_searched_again_not_replayed() -> None:
    """A restored snapshot brings the keys back; the request's next round (its own key,
    ``connectors.erase_key``) unlinks them again. The first round's receipt still answers a
    repeat of the first round only."""
    require_service("Redis", "127.0.0.1", 6379)
    client = aioredis.Redis.from_url(REDIS_URL)
    p = f"t{uuid.uuid4().hex[:10]}:"
    options = {"url": REDIS_URL, "keys": {"profile": f"{p}user:{{email}}"}}
    options["receipt_prefix"] = f"{p}lethe:"
    subject = Subject("ps_a", "ada@example.org")
    c = ConnectorRegistry.from_entry_points().build("cache", "redis", options)
    try:
        await client.set(f"{p}user:ada@example.org", "profile")
        first = await c.erase(subject, erase_key("er-1", 0))
        await client.set(f"{p}user:ada@example.org", "profile, restored")
        later = await c.erase(subject, erase_key("er-1", 1))
        repeat = await c.erase(subject, erase_key("er-1", 0))
        receipts = sorted(
            [k.decode() async for k in client.scan_iter(match=glob_escape(f"{p}lethe:") + "*")]
        )
        left = await client.exists(f"{p}user:ada@example.org")
    finally:
        await c.aclose()
        mine = [k async for k in client.scan_iter(match=glob_escape(p) + "*")]
        if mine:
            await client.delete(*mine)
        await client.aclose()
    assert first.counts == later.counts == {"profile.unlinked": 1}  # type: ignore[union-attr]
    assert "replayed_from_receipt" not in later.evidence and not left
    assert repeat.counts == first.counts and repeat.evidence["replayed_from_receipt"] is True  # type: ignore[union-attr]
    assert receipts == [f"{p}lethe:cache:er-1", f"{p}lethe:cache:er-1/round-1"]
