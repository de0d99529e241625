"""A connector that must never be called: a held system's connector, in the hold tests.

Every call is journalled in ``CALLS`` (the test asserts it stays empty) and then fails loudly.
"""

from __future__ import annotations

from typing import ClassVar

from connectors import BaseConnector, Outcome, Subject

CALLS: list[tuple[str, str]] = []


class TripwireConnector(BaseConnector):
    kind: ClassVar[str] = "tripwire"

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        CALLS.append((self.name, request_id))
        raise AssertionError(f"the connector of held system {self.name!r} was called")
