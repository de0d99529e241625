"""The real ``sql`` and ``redis`` connectors, with the crash window held open, for the fault test.

Each erase marks when it starts and when its system has committed, and pauses before and
after the change: the test kills the worker in those pauses, so that a kill lands before the
change, inside it, or after the commit and before the ledger heard, as often as it needs.
Markers are empty files named ``<system>.<erase key>.started`` / ``.committed`` (a ``/`` of
the key becomes ``.``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from connectors import ConnectorOptions, Outcome, Subject
from connectors.redis import RedisConnector, RedisOptions
from connectors.sql import SqlConnector, SqlOptions


class PausingSqlOptions(SqlOptions):
    pause_seconds: float = 0.0
    marker_dir: str


class PausingRedisOptions(RedisOptions):
    pause_seconds: float = 0.0
    marker_dir: str


def _mark(opts: object, system: str, key: str, what: str) -> None:
    directory = Path(getattr(opts, "marker_dir"))  # noqa: B009 (both option classes have it)
    (directory / f"{system}.{key.replace('/', '.')}.{what}").touch()


class PausingSqlConnector(SqlConnector):
    kind: ClassVar[str] = "pausing_sql"
    Options: ClassVar[type[ConnectorOptions]] = PausingSqlOptions

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        opts = self.options
        assert isinstance(opts, PausingSqlOptions)
        _mark(opts, self.name, request_id, "started")
        await asyncio.sleep(opts.pause_seconds)
        outcome = await super().erase(subject, request_id)
        _mark(opts, self.name, request_id, "committed")
        await asyncio.sleep(opts.pause_seconds)
        return outcome


class PausingRedisConnector(RedisConnector):
    kind: ClassVar[str] = "pausing_redis"
    Options: ClassVar[type[ConnectorOptions]] = PausingRedisOptions

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        opts = self.options
        assert isinstance(opts, PausingRedisOptions)
        _mark(opts, self.name, request_id, "started")
        await asyncio.sleep(opts.pause_seconds)
        outcome = await super().erase(subject, request_id)
        _mark(opts, self.name, request_id, "committed")
        await asyncio.sleep(opts.pause_seconds)
        return outcome
