"""What a connector author gives the kit: a way to build the connector and to fill and read a
test instance of the system."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._matching import normal_form
from .._protocol import Connector
from ._people import Person

__all__ = ["FaultInjector", "Harness", "RecordKey", "Seeded", "built_with", "carries_trace"]

#: Names one record of the system: ``("users", 7)``, a Redis key, an object path.
RecordKey = Hashable

#: Called by a fault test: the context yields a connector that meets the fault while it lasts.
FaultInjector = Callable[[], AbstractAsyncContextManager[Connector]]


@dataclass(frozen=True)
class Seeded:
    """What ``Harness.seed`` put where.

    ``records``   for each person, the records that hold or point at their data
    ``traces``    for each person, the strings that identify them in the system (address,
                  user name, IP…): a record of theirs that survives an erase must hold none
    ``retained``  records the configuration keeps on purpose (must stay byte-identical)
    """

    records: Mapping[Person, frozenset[RecordKey]]
    traces: Mapping[Person, frozenset[str]] = field(default_factory=dict)
    retained: frozenset[RecordKey] = frozenset()


class Harness(Protocol):
    """A test instance of the system, and the connector pointed at it."""

    def build(self, **options: Any) -> Connector:
        """A new connector for the test system; ``options`` override the test configuration
        (the kit passes ``max_items``). The kit closes what it builds."""

    async def seed(self, people: Sequence[Person]) -> Seeded:
        """Make the system hold exactly these people's data (replacing any earlier seed)."""

    async def snapshot(self) -> Mapping[RecordKey, Any]:
        """Every record of the system, by key, as comparable values (rows as tuples, bytes as
        bytes). Leave out the connector's own bookkeeping (receipts), if it keeps any."""


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in (*_leaves(k), *_leaves(v))]
    if isinstance(value, list | tuple | set | frozenset):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def carries_trace(value: Any, traces: frozenset[str]) -> str | None:
    """The trace a record still holds as a whole field, or None: exactly, and an address in
    any spelling the email policy calls the same (``ADA@example.ORG`` for ``Ada@Example.org``;
    a user name in other capitals is somebody else's)."""
    exact = {t for t in traces if t.strip()}
    addresses = {n for t in exact if "@" in t and (n := normal_form("email", t)) is not None}
    for leaf in _leaves(value):
        if isinstance(leaf, bytes):
            try:
                leaf = leaf.decode()
            except UnicodeDecodeError:
                continue
        if not isinstance(leaf, str):
            continue
        if leaf in exact or ("@" in leaf and normal_form("email", leaf) in addresses):
            return leaf
    return None


def built_with(harness: Harness, **options: Any) -> FaultInjector:
    """A fault that is a configuration away: the connector built with ``options`` (an
    unreachable URL, a table that does not exist), closed after the kit's test."""

    @asynccontextmanager
    async def build() -> AsyncIterator[Connector]:
        connector = harness.build(**options)
        try:
            yield connector
        finally:
            await connector.aclose()

    return build
