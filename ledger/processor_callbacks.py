"""Processors' status callbacks (``POST /v1/callbacks/webhook/{system}`` on ``lethe serve``).

Every callback is kept: accepted ones with their Standard Webhooks message id (so the same
message twice is refused as a replay), refused ones with the reason (a bad signature, an old
timestamp, a replayed id, a request nobody waits for). Nothing of the body is kept: it is the
processor's status object, and the outcome it gave is recorded on the request itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .store import Ledger
from .tables import ProcessorCallbackRecord

__all__ = ["ProcessorCallbacks"]


class ProcessorCallbacks:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def seen(self, system: str, message_id: str) -> bool:
        """Whether a callback with this message id was accepted for the system before."""
        async with self._ledger.session() as s:
            found = await s.scalar(
                sa.select(ProcessorCallbackRecord.id).where(
                    ProcessorCallbackRecord.system == system,
                    ProcessorCallbackRecord.accepted_id == message_id,
                )
            )
        return found is not None

    async def accept(
        self, system: str, message_id: str, *, request_id: str | None, reason: str, at: datetime
    ) -> bool:
        """Record an accepted callback; False if that message id was accepted already (a
        replay that raced the first: refuse it)."""
        try:
            async with self._ledger.session() as s, s.begin():
                s.add(
                    ProcessorCallbackRecord(
                        system=system,
                        message_id=message_id,
                        accepted_id=message_id,
                        verdict="accepted",
                        reason=reason[:200],
                        request_id=request_id,
                        received_at=at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def refuse(
        self,
        system: str,
        reason: str,
        *,
        message_id: str | None,
        at: datetime,
        request_id: str | None = None,
    ) -> None:
        async with self._ledger.session() as s, s.begin():
            s.add(
                ProcessorCallbackRecord(
                    system=system,
                    message_id=(message_id or None) and message_id[:200],
                    accepted_id=None,
                    verdict="refused",
                    reason=reason[:200],
                    request_id=request_id,
                    received_at=at,
                )
            )

    async def list(self, system: str | None = None) -> Sequence[ProcessorCallbackRecord]:
        q = sa.select(ProcessorCallbackRecord).order_by(ProcessorCallbackRecord.id)
        if system is not None:
            q = q.where(ProcessorCallbackRecord.system == system)
        async with self._ledger.session() as s:
            return list((await s.scalars(q)).all())
