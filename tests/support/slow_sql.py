"""sql and phpbb connectors that pause before erasing and journal every real deletion.

Used by the crash test: the pause is the window in which the worker is killed; the journal
proves afterwards that each system's data was deleted exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from connectors import ConnectorOptions, Erased, Outcome, Subject
from connectors.phpbb import PhpbbConnector, PhpbbOptions
from connectors.sql import SqlConnector, SqlOptions


class SlowSqlOptions(SqlOptions):
    delay_seconds: float = 0.0
    marker_dir: str


class SlowPhpbbOptions(PhpbbOptions):
    delay_seconds: float = 0.0
    marker_dir: str


class _Slow(SqlConnector):
    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        # phpbb runs SQL options it derives; what it was configured with is its preset.
        opts = self.preset if isinstance(self, PhpbbConnector) else self.options
        assert isinstance(opts, SlowSqlOptions | SlowPhpbbOptions)
        marker = Path(opts.marker_dir)
        (marker / f"{self.name}.started").touch()
        await asyncio.sleep(opts.delay_seconds)
        outcome = await super().erase(subject, request_id)
        if isinstance(outcome, Erased) and any(outcome.counts.values()):
            with (marker / f"{self.name}.deletions").open("a") as fh:
                fh.write(f"{request_id}\n")
        return outcome


class SlowSqlConnector(_Slow):
    kind: ClassVar[str] = "slow_sql"
    Options: ClassVar[type[ConnectorOptions]] = SlowSqlOptions


class SlowPhpbbConnector(_Slow, PhpbbConnector):
    kind: ClassVar[str] = "slow_phpbb"
    Options: ClassVar[type[ConnectorOptions]] = SlowPhpbbOptions
