"""Which keys a ledger belongs to: the ids of the vault, pseudonym and payload keys.

A ledger is only readable with the vault key its requests were sealed under, its pseudonyms
only match under the pseudonym key that made them, and its running workflows only decode under
the payload key that encrypted their histories. A worker or CLI started with other keys would
write requests nobody else can read and start workflows no worker can run (it used to: a
shell with other keys submitted "successfully", and the worker looped on a decode error).
So the ledger records the key ids (``ledger.vault.key_id_of``: a labelled SHA-256 of the key,
which reveals nothing of it) it was created with, and every opener compares its own.

A ledger made before this record existed adopts the keys of the first command that opens it
for writing (``lethe init``, a worker, any operator command).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import LedgerKeyRecord

__all__ = [
    "KEY_PURPOSES",
    "KeyIdMismatch",
    "check_key_ids",
    "key_ids_of",
    "key_recorded_at",
]

#: The keys a ledger is bound to (the proof log's signing key has eras of its own).
KEY_PURPOSES = ("vault", "pseudonym", "payload")


@dataclass(frozen=True)
class KeyIdMismatch(Exception):
    """The opener holds another key than the ledger was created with."""

    purpose: str
    recorded: str
    held: str
    #: When the recorded key replaced the one the ledger was created with (``lethe keys
    #: rotate``), or None: the ledger was created with it.
    rotated_at: datetime | None = None

    def __str__(self) -> str:
        if self.rotated_at is not None:
            when = self.rotated_at.strftime("%Y-%m-%d %H:%M UTC")
            return (
                f"the ledger's {self.purpose} key was rotated on {when}, to another key"
                f" (id {self.recorded}) than this one (id {self.held})"
            )
        return (
            f"the ledger was created with another {self.purpose} key (id {self.recorded}) "
            f"than this one (id {self.held})"
        )


async def key_recorded_at(engine: AsyncEngine) -> dict[str, datetime]:
    """When each purpose's key was recorded (at creation, or by its last rotation)."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(LedgerKeyRecord.purpose, LedgerKeyRecord.recorded_at))
        return {purpose: at for purpose, at in rows}


def _rotated_at(purpose: str, recorded_at: Mapping[str, datetime]) -> datetime | None:
    """A key recorded later than the ledger's first was rotated in (``check_key_ids`` moves
    the record); the keys recorded together (``lethe init``, or adopted) share one time."""
    if purpose not in recorded_at or not recorded_at:
        return None
    at = recorded_at[purpose]
    return at if at > min(recorded_at.values()) else None


async def key_ids_of(engine: AsyncEngine) -> dict[str, str]:
    """The recorded key ids by purpose; empty if none are recorded (or no table yet)."""

    def read(conn: sa.Connection) -> dict[str, str]:
        if not sa.inspect(conn).has_table(LedgerKeyRecord.__tablename__):
            return {}
        rows = conn.execute(sa.select(LedgerKeyRecord.purpose, LedgerKeyRecord.key_id))
        return {purpose: key_id for purpose, key_id in rows}

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def check_key_ids(
    engine: AsyncEngine,
    held: Mapping[str, str],
    *,
    at: datetime,
    adopt: bool = True,
    retired: Mapping[str, Collection[str]] | None = None,
) -> tuple[str, ...]:
    """Raise :class:`KeyIdMismatch` unless ``held`` (purpose → key id) matches the record.

    With ``adopt``, purposes not recorded yet are recorded as ``held`` (a new ledger, or one
    older than the record); their names are returned. Two openers adopting at once: one
    records, the other compares with what it recorded.

    A rotated key: the record names a key the opener holds *retired* (``retired``: purpose →
    ids), so the opener holds both the old key and its successor. It is accepted, and with
    ``adopt`` the record moves to the successor (its purpose is returned too); from then on an
    opener holding only the old key is refused.
    """
    retired = retired or {}
    for attempt in range(2):
        recorded = await key_ids_of(engine)
        rotated = []
        for purpose in KEY_PURPOSES:
            if purpose in recorded and recorded[purpose] != held[purpose]:
                if recorded[purpose] not in retired.get(purpose, ()):
                    when = _rotated_at(purpose, await key_recorded_at(engine))
                    raise KeyIdMismatch(purpose, recorded[purpose], held[purpose], when)
                rotated.append(purpose)
        if rotated and adopt:
            async with engine.begin() as conn:
                for purpose in rotated:  # compare-and-set: one opener moves it
                    await conn.execute(
                        sa.update(LedgerKeyRecord)
                        .where(
                            LedgerKeyRecord.purpose == purpose,
                            LedgerKeyRecord.key_id == recorded[purpose],
                        )
                        .values(key_id=held[purpose], recorded_at=at)
                    )
        missing = [p for p in KEY_PURPOSES if p not in recorded]
        if not missing or not adopt:
            return tuple(rotated) if adopt else ()
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.insert(LedgerKeyRecord),
                    [{"purpose": p, "key_id": held[p], "recorded_at": at} for p in missing],
                )
        except IntegrityError:
            if attempt:
                raise
            continue  # someone else recorded first: compare with theirs
        return (*rotated, *missing)
    return ()
