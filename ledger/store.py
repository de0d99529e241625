"""Reading and writing the ledger. One short transaction per call; safe to call concurrently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import (
    ErasureRequestRecord,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)
from .receipts import FINAL_STATUSES
from .vault import SealedSubject, SubjectVault, VaultError

__all__ = ["Ledger", "LedgerError", "OutcomeEntry", "SystemStart"]


class LedgerError(Exception):
    """The ledger cannot do what was asked (unknown request, shredded subject, ...)."""


@dataclass(frozen=True)
class OutcomeEntry:
    """What a system's erasure came to, in the ledger's terms."""

    outcome: str
    counts: dict[str, int] = field(default_factory=dict)
    retained_counts: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    legal_basis: str | None = None
    basis_note: str | None = None
    retained_until: date | None = None
    review_on: date | None = None
    ticket: str | None = None
    controller: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SystemStart:
    """``begin_system``'s answer: a finished row to replay, or a go-ahead (maybe after a crash)."""

    finished: SystemOutcomeRecord | None
    interrupted_before: bool
    attempts: int


class Ledger:
    def __init__(self, engine: AsyncEngine, vault: SubjectVault | None = None) -> None:
        self.engine = engine
        self.vault = vault
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self._sessions()

    async def dispose(self) -> None:
        await self.engine.dispose()

    # -- requests ---------------------------------------------------------------------------

    async def open_request(
        self,
        *,
        request_id: str,
        subject_ref: str,
        jurisdiction: str,
        verification_method: str,
        channel: str,
        systems: Sequence[str],
        workflow_id: str,
        received_at: datetime,
        due_at: datetime,
        sealed: SealedSubject,
        actor: str,
        entered_at: datetime | None = None,
        entered_by: str | None = None,
    ) -> None:
        """Record a received request and its sealed identifiers, atomically.

        ``entered_at``: a request received earlier (by post, in a mailbox) and entered now.
        Its clock counts from ``received_at``; an ``entered`` event says when it was entered
        and by whom, next to the ``received`` one.
        """
        async with self.session() as s, s.begin():
            s.add(
                ErasureRequestRecord(
                    request_id=request_id,
                    subject_ref=subject_ref,
                    jurisdiction=jurisdiction,
                    verification_method=verification_method,
                    channel=channel,
                    status="received",
                    systems=list(systems),
                    workflow_id=workflow_id,
                    received_at=received_at,
                    due_at=due_at,
                )
            )
            await s.flush()
            s.add(
                SubjectVaultEntry(
                    request_id=request_id,
                    key_id=sealed.key_id,
                    wrapped_key=sealed.wrapped_key,
                    ciphertext=sealed.ciphertext,
                    created_at=entered_at or received_at,
                )
            )
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=received_at,
                    kind="received",
                    actor=actor,
                    detail={
                        "channel": channel,
                        "systems": list(systems),
                        "due_at": due_at.isoformat(),
                    },
                )
            )
            if entered_at is not None:
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=entered_at,
                        kind="entered",
                        actor=(entered_by or actor)[:120],
                        detail={
                            "received_at": received_at.isoformat(),
                            "after_receipt_seconds": int(
                                (entered_at - received_at).total_seconds()
                            ),
                        },
                    )
                )

    async def withdraw_request(self, request_id: str) -> None:
        """Remove a request that never started (its workflow could not be launched)."""
        async with self.session() as s, s.begin():
            for model in (RequestEvent, SubjectVaultEntry, SystemOutcomeRecord):
                await s.execute(sa.delete(model).where(model.request_id == request_id))
            await s.execute(
                sa.delete(ErasureRequestRecord).where(ErasureRequestRecord.request_id == request_id)
            )

    async def get_request(self, request_id: str) -> ErasureRequestRecord | None:
        async with self.session() as s:
            return await s.get(ErasureRequestRecord, request_id)

    async def require_request(self, request_id: str) -> ErasureRequestRecord:
        rec = await self.get_request(request_id)
        if rec is None:
            raise LedgerError(f"no erasure request with id {request_id!r}")
        return rec

    async def list_requests(
        self,
        *,
        status: str | None = None,
        statuses: Sequence[str] | None = None,
        subject_ref: str | None = None,
        limit: int = 50,
    ) -> list[ErasureRequestRecord]:
        """Newest first."""
        q = sa.select(ErasureRequestRecord).order_by(
            ErasureRequestRecord.received_at.desc(), ErasureRequestRecord.request_id
        )
        if status:
            q = q.where(ErasureRequestRecord.status == status)
        if statuses is not None:
            q = q.where(ErasureRequestRecord.status.in_(list(statuses)))
        if subject_ref is not None:
            q = q.where(ErasureRequestRecord.subject_ref == subject_ref)
        async with self.session() as s:
            return list((await s.scalars(q.limit(limit))).all())

    async def outcomes(self, request_id: str) -> list[SystemOutcomeRecord]:
        q = (
            sa.select(SystemOutcomeRecord)
            .where(SystemOutcomeRecord.request_id == request_id)
            .order_by(SystemOutcomeRecord.round, SystemOutcomeRecord.system)
        )
        async with self.session() as s:
            return list((await s.scalars(q)).all())

    async def events(self, request_id: str) -> list[RequestEvent]:
        q = sa.select(RequestEvent).where(RequestEvent.request_id == request_id)
        async with self.session() as s:
            return list((await s.scalars(q.order_by(RequestEvent.id))).all())

    async def exceptions(self, request_id: str) -> list[RetainedException]:
        q = sa.select(RetainedException).where(RetainedException.request_id == request_id)
        async with self.session() as s:
            return list((await s.scalars(q.order_by(RetainedException.id))).all())

    async def read_identifiers(self, request_id: str) -> tuple[str, dict[str, str]]:
        """The request's pseudonym and decrypted identifiers (for activities only)."""
        if self.vault is None:
            raise LedgerError("this ledger was opened without the vault key")
        async with self.session() as s:
            req = await s.get(ErasureRequestRecord, request_id)
            entry = await s.get(SubjectVaultEntry, request_id)
        if req is None or entry is None:
            raise LedgerError(f"no erasure request with id {request_id!r}")
        try:
            ids = self.vault.open(request_id, entry.key_id, entry.wrapped_key, entry.ciphertext)
        except VaultError as exc:
            raise LedgerError(str(exc)) from None
        return req.subject_ref, ids

    async def set_status(
        self,
        request_id: str,
        status: str,
        *,
        at: datetime,
        actor: str,
        reason: str | None = None,
        event: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Move a request to ``status`` and append the event that explains it."""
        async with self.session() as s, s.begin():
            req = await s.get(ErasureRequestRecord, request_id)
            if req is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            req.status = status
            # The column holds 500 characters (a cancellation's reason alone may); the event
            # keeps the whole text.
            req.status_reason = reason[:500] if reason else reason
            if status == "erasing" and req.verified_at is None:
                req.verified_at = at
            if status in FINAL_STATUSES:
                req.completed_at = at
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind=event or status,
                    actor=actor,
                    detail={**(detail or {}), **({"reason": reason} if reason else {})},
                )
            )

    async def add_event(
        self, request_id: str, kind: str, *, at: datetime, actor: str, detail: dict[str, Any]
    ) -> None:
        async with self.session() as s, s.begin():
            s.add(RequestEvent(request_id=request_id, at=at, kind=kind, actor=actor, detail=detail))

    # -- systems ----------------------------------------------------------------------------

    async def begin_system(
        self,
        request_id: str,
        system: str,
        round_: int,
        *,
        connector: str,
        connector_version: str,
        at: datetime,
    ) -> SystemStart:
        """Mark a system's erasure as under way, or say it already finished (replay it)."""
        q = sa.select(SystemOutcomeRecord).where(
            SystemOutcomeRecord.request_id == request_id,
            SystemOutcomeRecord.system == system,
            SystemOutcomeRecord.round == round_,
        )
        try:
            async with self.session() as s, s.begin():
                row = (await s.scalars(q.with_for_update())).one_or_none()
                if row is None:
                    s.add(
                        SystemOutcomeRecord(
                            request_id=request_id,
                            system=system,
                            round=round_,
                            connector=connector,
                            connector_version=connector_version,
                            outcome="in_progress",
                            attempts=1,
                            started_at=at,
                        )
                    )
                    return SystemStart(None, False, 1)
                if row.outcome != "in_progress":
                    return SystemStart(row, False, row.attempts)
                row.attempts += 1
                row.connector, row.connector_version = connector, connector_version
                return SystemStart(None, True, row.attempts)
        except IntegrityError:
            # Another attempt inserted the row between our read and our write.
            return SystemStart(None, True, 2)

    async def finish_system(
        self, request_id: str, system: str, round_: int, entry: OutcomeEntry, *, at: datetime
    ) -> SystemOutcomeRecord:
        """Record a system's outcome (and its retained exception, if any)."""
        async with self.session() as s, s.begin():
            row = (
                await s.scalars(
                    sa.select(SystemOutcomeRecord)
                    .where(
                        SystemOutcomeRecord.request_id == request_id,
                        SystemOutcomeRecord.system == system,
                        SystemOutcomeRecord.round == round_,
                    )
                    .with_for_update()
                )
            ).one_or_none()
            if row is None:
                # A failure recorded before the connector was ever reached.
                row = SystemOutcomeRecord(
                    request_id=request_id,
                    system=system,
                    round=round_,
                    connector="",
                    connector_version="",
                    outcome="in_progress",
                    attempts=0,
                    started_at=at,
                )
                s.add(row)
            elif row.outcome not in {"in_progress", "pending", "referred"}:
                return row  # already final: recording twice changes nothing
            row.outcome = entry.outcome
            row.counts = dict(entry.counts)
            row.retained_counts = dict(entry.retained_counts)
            row.evidence = dict(entry.evidence)
            row.legal_basis = entry.legal_basis
            row.basis_note = entry.basis_note
            row.retained_until = entry.retained_until
            row.review_on = entry.review_on
            row.ticket = entry.ticket
            row.controller = entry.controller
            row.error = entry.error
            row.finished_at = at
            await s.flush()
            # A system not searched in full may keep what was searched: an exception too.
            if entry.outcome == "retained" or (
                entry.outcome == "not_searched" and entry.legal_basis is not None
            ):
                assert entry.legal_basis and entry.basis_note is not None
                s.add(
                    RetainedException(
                        request_id=request_id,
                        system=system,
                        outcome_id=row.id,
                        legal_basis=entry.legal_basis,
                        basis_note=entry.basis_note,
                        retained_until=entry.retained_until,
                        review_on=entry.review_on,
                        state="open",
                    )
                )
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind=f"system_{entry.outcome}",
                    actor=f"system:{system}",
                    detail={"system": system, "round": round_},
                )
            )
            return row

    async def record_residual(
        self,
        request_id: str,
        system: str,
        round_: int,
        *,
        remaining: dict[str, int],
        at: datetime,
    ) -> None:
        """Record the post-erase check. Anything left means the system's erasure failed."""
        async with self.session() as s, s.begin():
            row = (
                await s.scalars(
                    sa.select(SystemOutcomeRecord).where(
                        SystemOutcomeRecord.request_id == request_id,
                        SystemOutcomeRecord.system == system,
                        SystemOutcomeRecord.round == round_,
                    )
                )
            ).one()
            row.residual = dict(remaining)
            row.verified_at = at
            if any(remaining.values()) and row.outcome in {"erased", "retained", "not_searched"}:
                left = ", ".join(f"{k}={v}" for k, v in sorted(remaining.items()))
                row.outcome = "failed"
                row.error = f"verification after erase found items left: {left}"
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind="system_failed",
                        actor=f"system:{system}",
                        detail={"system": system, "round": round_, "residual": dict(remaining)},
                    )
                )
