"""Reading and writing the ledger. One short transaction per call; safe to call concurrently."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vocabulary import FINAL_STATUSES, NOT_SETTLED, AlertEvent, OutcomeKind, RequestStatus

from .claims import claim_holder, release_claim
from .tables import (
    ErasureRequestRecord,
    PayloadDecode,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
    VerificationCode,
)
from .vault import SealedSubject, SubjectVault, VaultError
from .write_keys import lock_request, prior_event, written_once

__all__ = ["Ledger", "LedgerError", "OpenRequestExists", "OutcomeEntry", "SystemStart"]

#: Outcomes a later write of the same round may still replace (see ``finish_system``): no
#: answer yet, or a referral whose controller's instruction decides the round.
_REPLACEABLE = NOT_SETTLED | {OutcomeKind.REFERRED}

#: Outcomes whose erase is checked afterwards: items left make them ``failed``.
_VERIFIED = frozenset({OutcomeKind.ERASED, OutcomeKind.RETAINED, OutcomeKind.NOT_SEARCHED})


class LedgerError(Exception):
    """The ledger cannot do what was asked (unknown request, shredded subject, ...)."""


class OpenRequestExists(LedgerError):
    """The person already has an open request (``ledger.claims``): nothing was written."""

    def __init__(self, request_id: str, status: str) -> None:
        super().__init__(f"this person already has an open request {request_id} ({status})")
        self.request_id = request_id
        self.status = status


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
    """``begin_system``'s answer: a finished row to replay, or a go-ahead.

    ``interrupted_before``: an earlier attempt began and recorded no outcome. It may have been
    refused before it changed anything (a connection refused, a rate limit), or have died
    after the system committed: only the connector's receipt can tell, so the record's
    ``earlier_attempt_interrupted`` comes from the connector's replay, not from this
    (``activities.erasure``). ``attempts`` counts every attempt.
    """

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
        allow_duplicate: bool = False,
        records: Callable[[], Sequence[object]] | None = None,
    ) -> None:
        """Record a received request and its sealed identifiers, atomically.

        ``records``: makes rows of other tables that belong to the receipt (its clock, its
        portal assertion's evidence), written in the same transaction: all or nothing, one
        commit. Called once per attempt.

        ``entered_at``: a request received earlier (by post, in a mailbox) and entered now.
        Its clock counts from ``received_at``; an ``entered`` event says when it was entered
        and by whom, next to the ``received`` one.

        The request claims its person (``ledger.claims``): if another open request of theirs
        holds the claim, :class:`OpenRequestExists` and nothing is written, unless
        ``allow_duplicate`` (an operator's deliberate second request: recorded, unclaimed).
        """
        claim = True
        for _ in range(3):
            try:
                await self._open(
                    claim=claim,
                    request_id=request_id,
                    subject_ref=subject_ref,
                    jurisdiction=jurisdiction,
                    verification_method=verification_method,
                    channel=channel,
                    systems=systems,
                    workflow_id=workflow_id,
                    received_at=received_at,
                    due_at=due_at,
                    sealed=sealed,
                    actor=actor,
                    entered_at=entered_at,
                    entered_by=entered_by,
                    records=records,
                )
                return
            except IntegrityError:
                if not claim:
                    raise
                async with self.session() as s:
                    holder = await claim_holder(s, subject_ref)
                if holder is None:
                    continue  # answered since, or another constraint: try once more
                if not allow_duplicate:
                    raise OpenRequestExists(holder.request_id, holder.status) from None
                claim = False
        raise LedgerError(f"could not record request {request_id!r}: try again")

    async def _open(
        self,
        *,
        claim: bool,
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
        entered_at: datetime | None,
        entered_by: str | None,
        records: Callable[[], Sequence[object]] | None,
    ) -> None:
        async with self.session() as s, s.begin():
            s.add(
                ErasureRequestRecord(
                    request_id=request_id,
                    subject_ref=subject_ref,
                    open_subject_ref=subject_ref if claim else None,
                    jurisdiction=jurisdiction,
                    verification_method=verification_method,
                    channel=channel,
                    status=RequestStatus.RECEIVED,
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
                    write_key="received",
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
                        write_key="entered",
                        actor=(entered_by or actor)[:120],
                        detail={
                            "received_at": received_at.isoformat(),
                            "after_receipt_seconds": int(
                                (entered_at - received_at).total_seconds()
                            ),
                        },
                    )
                )
            if records is not None:
                s.add_all(records())

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

    async def open_request_of(self, subject_ref: str) -> ErasureRequestRecord | None:
        """The person's open request that holds their claim (``ledger.claims``), if any: what
        a new request for them would be refused for (the receipt's insert decides)."""
        async with self.session() as s:
            return await claim_holder(s, subject_ref)

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

    async def events_of_kinds(self, kinds: Sequence[str]) -> list[RequestEvent]:
        """Every request's events of these kinds, oldest first (``lethe task list``)."""
        q = sa.select(RequestEvent).where(RequestEvent.kind.in_(list(kinds)))
        async with self.session() as s:
            return list((await s.scalars(q.order_by(RequestEvent.id))).all())

    async def exceptions(self, request_id: str) -> list[RetainedException]:
        q = sa.select(RetainedException).where(RetainedException.request_id == request_id)
        async with self.session() as s:
            return list((await s.scalars(q.order_by(RetainedException.id))).all())

    async def read_identifiers(self, request_id: str) -> tuple[str, dict[str, str]]:
        """The request's pseudonym and decrypted identifiers (for activities only)."""
        ref, ids, _ = await self.read_subject(request_id)
        return ref, ids

    async def read_subject(self, request_id: str) -> tuple[str, dict[str, str], str]:
        """The request's pseudonym, decrypted identifiers and jurisdiction (for activities
        only): the request's row and its vault entry in one query."""
        vault = self.vault
        if vault is None:
            raise LedgerError("this ledger was opened without the vault key")
        R, V = ErasureRequestRecord, SubjectVaultEntry
        q = (
            sa.select(R.subject_ref, R.jurisdiction, V.key_id, V.wrapped_key, V.ciphertext)
            .join(V, V.request_id == R.request_id)
            .where(R.request_id == request_id)
        )
        async with self.session() as s:
            row = (await s.execute(q)).first()
        if row is None:
            raise LedgerError(f"no erasure request with id {request_id!r}")
        ref, jurisdiction, key_id, wrapped_key, ciphertext = row
        try:
            ids = vault.open(request_id, key_id, wrapped_key, ciphertext)
        except VaultError as exc:
            raise LedgerError(str(exc)) from None
        return ref, ids, jurisdiction

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
        write_key: str | None = None,
    ) -> None:
        """Move a request to ``status`` and append the event that explains it.

        ``write_key``: the writer's (``ledger.write_keys``): written once, a repeat changes
        nothing. A final status is keyed ``answer`` whoever writes it: a request is answered
        once, and its answer releases the person's claim (``ledger.claims``).
        """

        async def attempt(look: bool) -> None:
            async with self.session() as s, s.begin():
                await lock_request(s, request_id)
                req = await s.get(ErasureRequestRecord, request_id, populate_existing=True)
                if req is None:
                    raise LedgerError(f"no erasure request with id {request_id!r}")
                final = status in FINAL_STATUSES
                key = "answer" if final else write_key
                if look and await prior_event(s, request_id, key) is not None:
                    return
                req.status = status
                # The column holds 500 characters (a cancellation's reason alone may); the
                # event keeps the whole text.
                req.status_reason = reason[:500] if reason else reason
                if status == RequestStatus.ERASING and req.verified_at is None:
                    req.verified_at = at
                if final:
                    req.completed_at = req.completed_at or at
                    await release_claim(s, request_id, req.subject_ref)
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind=event or status,
                        actor=actor,
                        detail={**(detail or {}), **({"reason": reason} if reason else {})},
                        write_key=key,
                    )
                )

        await written_once(attempt)

    async def add_event(
        self,
        request_id: str,
        kind: str,
        *,
        at: datetime,
        actor: str,
        detail: dict[str, Any],
        write_key: str | None = None,
    ) -> bool:
        """Append an event. With a ``write_key`` (``ledger.write_keys``), only once: False if
        a write with that key appended it already."""

        async def attempt(look: bool) -> bool:
            async with self.session() as s, s.begin():
                if write_key is not None:
                    await lock_request(s, request_id)
                    if look and await prior_event(s, request_id, write_key) is not None:
                        return False
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind=kind,
                        actor=actor,
                        detail=detail,
                        write_key=write_key,
                    )
                )
                return True

        return await written_once(attempt)

    async def rewrap_vault(self) -> int:
        """Wrap every unshredded vault entry sealed under a retired vault key again under the
        current one (each in its own transaction, compare-and-set on its key id, so a
        concurrent shred or rewrap wins). How many were rewrapped."""
        vault = self.vault
        if vault is None:
            raise LedgerError("this ledger was opened without the vault key")
        async with self.session() as s:
            stale = (
                await s.execute(
                    sa.select(SubjectVaultEntry.request_id, SubjectVaultEntry.key_id).where(
                        SubjectVaultEntry.key_id != vault.key_id,
                        SubjectVaultEntry.wrapped_key.is_not(None),
                    )
                )
            ).all()
        done = 0
        for request_id, key_id in stale:
            async with self.session() as s, s.begin():
                entry = await s.get(SubjectVaultEntry, request_id)
                if entry is None or entry.key_id != key_id or entry.wrapped_key is None:
                    continue
                try:
                    wrapped = vault.rewrap(request_id, key_id, entry.wrapped_key)
                except VaultError as exc:
                    raise LedgerError(str(exc)) from None
                entry.wrapped_key = wrapped
                entry.key_id = vault.key_id
                done += 1
        return done

    async def code_expiry_of_codes_issued_before(
        self, at: datetime, now: datetime
    ) -> datetime | None:
        """The latest expiry of the verification codes issued before ``at`` that can still be
        entered (hashed under the vault key of then), or None."""
        async with self.session() as s:
            latest: datetime | None = await s.scalar(
                sa.select(sa.func.max(VerificationCode.expires_at)).where(
                    VerificationCode.issued_at < at,
                    VerificationCode.expires_at > now,
                    VerificationCode.used_at.is_(None),
                    VerificationCode.locked_at.is_(None),
                )
            )
        if latest is not None and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        return latest

    async def vault_key_ids(self) -> dict[str, int]:
        """How many unshredded vault entries each vault key sealed."""
        async with self.session() as s:
            rows = await s.execute(
                sa.select(SubjectVaultEntry.key_id, sa.func.count())
                .where(SubjectVaultEntry.wrapped_key.is_not(None))
                .group_by(SubjectVaultEntry.key_id)
            )
            return {key_id: int(n) for key_id, n in rows}

    async def record_decode(
        self, *, at: datetime, actor: str, namespace: str, workflow_id: str | None, payloads: int
    ) -> None:
        """A decode by the codec server that no request's events record (``PayloadDecode``)."""
        async with self.session() as s, s.begin():
            s.add(
                PayloadDecode(
                    at=at,
                    actor=actor[:120],
                    namespace=namespace[:255],
                    workflow_id=None if workflow_id is None else workflow_id[:255],
                    payloads=payloads,
                )
            )

    async def decodes(self) -> list[PayloadDecode]:
        """The decodes not tied to a request, oldest first."""
        async with self.session() as s:
            return list(await s.scalars(sa.select(PayloadDecode).order_by(PayloadDecode.id)))

    async def written(self, request_id: str, write_key: str) -> RequestEvent | None:
        """The event a write with ``write_key`` appended, if one did."""
        async with self.session() as s:
            return await prior_event(s, request_id, write_key)

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
        """Mark a system's erasure as under way, or say it already finished (replay it).

        The first attempt of a round is the common case: its row is inserted without a look
        first, and only if the unique (request, system, round) refuses it (an earlier
        attempt, or one racing this) is the row read, under its lock, and counted."""
        try:
            async with self.session() as s, s.begin():
                s.add(
                    SystemOutcomeRecord(
                        request_id=request_id,
                        system=system,
                        round=round_,
                        connector=connector,
                        connector_version=connector_version,
                        outcome=OutcomeKind.IN_PROGRESS,
                        attempts=1,
                        started_at=at,
                    )
                )
            return SystemStart(None, False, 1)
        except IntegrityError:
            pass  # the round's row is there: read it
        q = sa.select(SystemOutcomeRecord).where(
            SystemOutcomeRecord.request_id == request_id,
            SystemOutcomeRecord.system == system,
            SystemOutcomeRecord.round == round_,
        )
        async with self.session() as s, s.begin():
            row = (await s.scalars(q.with_for_update())).one_or_none()
            if row is None:
                # No such request (its foreign key refused the row): nothing to replay; the
                # caller finds no subject either.
                return SystemStart(None, False, 1)
            if row.outcome != OutcomeKind.IN_PROGRESS:
                return SystemStart(row, False, row.attempts)
            row.attempts += 1
            row.connector, row.connector_version = connector, connector_version
            return SystemStart(None, True, row.attempts)

    async def finish_system(
        self,
        request_id: str,
        system: str,
        round_: int,
        entry: OutcomeEntry,
        *,
        at: datetime,
        write_key: str | None = None,
    ) -> SystemOutcomeRecord:
        """Record a system's outcome (and its retained exception, if any).

        A final outcome is recorded once per system and round (its event is keyed
        ``outcome/SYSTEM/ROUND``): recording it again changes nothing and returns the row.
        ``pending`` may be recorded again (each poll that finds the ticket still open), once
        per ``write_key`` (``ledger.write_keys``).
        """
        if entry.outcome == OutcomeKind.REFERRED:
            key: str | None = f"outcome/{system}/{round_}/referred"
        elif entry.outcome in _REPLACEABLE:
            key = write_key
        else:
            key = f"outcome/{system}/{round_}"
        return await written_once(
            lambda look: self._finish_system(
                request_id, system, round_, entry, at=at, key=key, look=look
            )
        )

    async def _finish_system(
        self,
        request_id: str,
        system: str,
        round_: int,
        entry: OutcomeEntry,
        *,
        at: datetime,
        key: str | None,
        look: bool,
    ) -> SystemOutcomeRecord:
        async with self.session() as s, s.begin():
            await lock_request(s, request_id)
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
                    outcome=OutcomeKind.IN_PROGRESS,
                    attempts=0,
                    started_at=at,
                )
                s.add(row)
            elif row.outcome not in _REPLACEABLE:
                return row  # already final: recording twice changes nothing
            elif look and await prior_event(s, request_id, key) is not None:
                return row  # this very write was recorded (a retried poll)
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
            if entry.outcome == OutcomeKind.RETAINED or (
                entry.outcome == OutcomeKind.NOT_SEARCHED and entry.legal_basis is not None
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
                    write_key=key,
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
    ) -> dict[str, int]:
        """Record the post-erase check. Anything left means the system's erasure failed.

        Once per system and round: the first check recorded stands, and a repeat (a retried
        activity) changes nothing. Returns what the recorded check found.
        """
        async with self.session() as s, s.begin():
            await lock_request(s, request_id)
            row = (
                await s.scalars(
                    sa.select(SystemOutcomeRecord).where(
                        SystemOutcomeRecord.request_id == request_id,
                        SystemOutcomeRecord.system == system,
                        SystemOutcomeRecord.round == round_,
                    )
                )
            ).one()
            if row.verified_at is not None:
                return {k: int(v) for k, v in (row.residual or {}).items()}
            row.residual = dict(remaining)
            row.verified_at = at
            if any(remaining.values()) and row.outcome in _VERIFIED:
                left = ", ".join(f"{k}={v}" for k, v in sorted(remaining.items()))
                row.outcome = OutcomeKind.FAILED
                row.error = f"verification after erase found items left: {left}"
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind=AlertEvent.SYSTEM_FAILED,
                        actor=f"system:{system}",
                        detail={"system": system, "round": round_, "residual": dict(remaining)},
                        write_key=f"residual/{system}/{round_}",
                    )
                )
            return dict(remaining)
