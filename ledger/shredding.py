"""Crypto-shredding: when a request no longer needs its subject's identifiers, destroy the key.

The subject vault keeps a request's identifiers encrypted under a data key of their own
(``ledger/vault.py``). Shredding deletes the wrapped data key and the ciphertext, and records
when and which master key had wrapped it. Everything else in the record (outcomes, counts,
exceptions, events, the pseudonym) stays: it is what an auditor needs, and it names nobody.

A request is shredded once it is finished, a grace period has passed since, and nothing may
still need to reach the person's data through it: no open retained exception (it will be
re-erased one day), no round under way, no referral waiting for a controller, no system whose
latest outcome is anything but ``erased`` or ``not_found`` (a failure, or a system not searched
for want of an identifier, waits for a retry), and
no active legal hold on the same pseudonym (a hold preserves what we know of the person).

Caveat, said plainly: a copy of the ledger's database taken before the shredding still holds
the wrapped key; restoring such a copy restores the ability to read the identifiers. Keep
ledger backups on a rotation no longer than the grace period, or hold the vault master key
elsewhere and rotate it.

Old versions of the row are copies too. On SQLite the ledger zeroes freed space
(``secure_delete``) and, after each shredding, copies the write-ahead log back and truncates
it, so no file of the ledger keeps the wrapped key (best effort: a long-running reader can
hold the log; the next shredding tries again). On PostgreSQL the old row version stays in the
table's pages until VACUUM reclaims it (autovacuum does, in time) and in WAL segments and
their archives until those are recycled: keep WAL archives, like backups, on a rotation
shorter than the grace period.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from vocabulary import FINAL_STATUSES, GONE, REFUSALS

from .store import Ledger
from .tables import (
    ControllerReferral,
    ErasureRequestRecord,
    ErasureRound,
    LegalHold,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)

__all__ = ["VaultShredding"]


def _blocked_by_latest_outcome() -> sa.Exists:
    """Some system's latest outcome leaves the person's data in place (or undecided)."""
    latest = aliased(SystemOutcomeRecord)
    newer = aliased(SystemOutcomeRecord)
    return sa.exists().where(
        latest.request_id == ErasureRequestRecord.request_id,
        latest.outcome.not_in(sorted(GONE)),
        ~sa.exists().where(
            newer.request_id == latest.request_id,
            newer.system == latest.system,
            newer.round > latest.round,
        ),
    )


def _active_hold(on: date) -> sa.Exists:
    return sa.exists().where(
        LegalHold.subject_ref == ErasureRequestRecord.subject_ref,
        LegalHold.released_at.is_(None),
        sa.or_(LegalHold.retained_until.is_(None), LegalHold.retained_until >= on),
    )


class VaultShredding:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def shreddable(
        self, *, finished_before: datetime, on: date, limit: int = 500
    ) -> list[str]:
        """Request ids whose identifiers may be destroyed now (see the module's rules)."""
        r = ErasureRequestRecord
        q = (
            sa.select(r.request_id, r.status, r.systems)
            .join(SubjectVaultEntry, SubjectVaultEntry.request_id == r.request_id)
            .where(
                SubjectVaultEntry.wrapped_key.is_not(None),
                r.completed_at.is_not(None),
                r.completed_at <= finished_before,
                r.status.in_(sorted(FINAL_STATUSES)),
                ~sa.exists().where(
                    RetainedException.request_id == r.request_id,
                    RetainedException.state == "open",
                ),
                ~sa.exists().where(
                    ErasureRound.request_id == r.request_id, ErasureRound.finished_at.is_(None)
                ),
                ~sa.exists().where(
                    ControllerReferral.request_id == r.request_id,
                    ControllerReferral.state.in_(["awaiting", "escalated"]),
                ),
                ~_blocked_by_latest_outcome(),
                ~_active_hold(on),
            )
            .order_by(r.completed_at)
            .limit(limit)
        )
        async with self._ledger.session() as s:
            rows = (await s.execute(q)).all()
            ready = []
            for request_id, status, systems in rows:
                if status not in REFUSALS:
                    seen = set(
                        (
                            await s.scalars(
                                sa.select(SystemOutcomeRecord.system).where(
                                    SystemOutcomeRecord.request_id == request_id
                                )
                            )
                        ).all()
                    )
                    if not set(systems) <= seen:
                        continue  # a system was never answered: not done with this person
                ready.append(request_id)
        return ready

    async def shred(self, request_id: str, *, at: datetime, actor: str, reason: str) -> bool:
        """Destroy the request's data key and ciphertext. False if it was already done."""
        async with self._ledger.session() as s, s.begin():
            entry = await s.get(SubjectVaultEntry, request_id, with_for_update=True)
            if entry is None or (entry.wrapped_key is None and entry.ciphertext is None):
                return False
            entry.wrapped_key = None
            entry.ciphertext = None
            entry.shredded_at = at
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="identifiers_shredded",
                    write_key="identifiers_shredded",
                    actor=actor,
                    detail={"vault_key_id": entry.key_id, "reason": reason},
                )
            )
        await self._forget_old_versions()
        return True

    async def _forget_old_versions(self) -> None:
        """SQLite: write the log back into the (zeroed-on-free) file and truncate it."""
        if self._ledger.engine.dialect.name != "sqlite":
            return
        async with self._ledger.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
