"""The proof log in the ledger: sealing receipts, certificates, and the whole-log check.

Sealing a request appends a receipt for each of its final outcomes that the log does not hold
yet, one for the request's state, and one for each of its events never sealed (what happened
and when, and a salted commitment to who did it and why: never the name or the reason itself),
then signs a new tree head, in one transaction. A request sealed before events were sealed
gets its events' receipts at its next seal. Appends are serialised: an advisory lock on
PostgreSQL, SQLite's single writer lock elsewhere, and the leaf index as primary key behind
both, so two workers can never give two receipts one index.

Certificates read only the O(log² n) subtree hashes their inclusion proofs need (from
``proof_nodes``), and check themselves before they are handed out. ``verify`` recomputes the
whole log from the stored receipts (``ledger.proof.check``). A log cut back together with its
newest heads cannot be told from an older log by the database alone; that is what the heads
inside certificates handed out are for (``verify(keys, outside_heads)``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vocabulary import FINAL_OUTCOMES

from ..locks import lock_row
from ..store import Ledger, LedgerError
from ..tables import (
    ErasureRequestRecord,
    ProofLeaf,
    ProofNode,
    RequestEvent,
    SignedTreeHeadRecord,
    SystemOutcomeRecord,
)
from .canonical import EVENT_SALT_BYTES, canonical_json, parse_receipt
from .certificate import CERTIFICATE_FORMAT, check_certificate, deadline_state
from .check import LogCheck, check_log, head_from_record
from .merkle import CompactRange, PartialTree, leaf_hash
from .receipts import (
    UNSEALED_EVENT_KINDS,
    event_opening,
    event_receipt,
    outcome_receipt,
    request_receipt,
)
from .signing import TreeHead, TreeHeadSigner

__all__ = ["ProofLog", "ProofLogError", "SealedReceipts"]

# pg_advisory_xact_lock key: the first 8 bytes of SHA-256("lethe.proof_log"), as a signed int.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"lethe.proof_log").digest()[:8], "big", signed=True)
_APPEND_ATTEMPTS = 5


class ProofLogError(LedgerError):
    """The proof log cannot do what was asked (not sealed yet, or its state is inconsistent)."""


@dataclass(frozen=True)
class SealedReceipts:
    request_id: str
    leaf_indices: tuple[int, ...]
    head: TreeHead | None  # the newest head (None: the log is empty)


def _compact_range(rec: SignedTreeHeadRecord | None) -> CompactRange:
    """The stored right edge of the newest head, trusted only if it folds to its signed root."""
    if rec is None:
        return CompactRange()
    try:
        edge = CompactRange([(int(s), bytes.fromhex(h)) for s, h in rec.compact_range])
    except (TypeError, ValueError) as exc:
        raise ProofLogError(f"the newest tree head's compact range is unreadable ({exc})") from None
    if edge.size != rec.tree_size or edge.root().hex() != rec.root_hash:
        raise ProofLogError(
            "the newest tree head's compact range does not match its root; "
            "run `lethe audit verify --log`"
        )
    return edge


async def _sealable_events(s: AsyncSession, request_id: str) -> list[RequestEvent]:
    q = (
        sa.select(RequestEvent)
        .where(
            RequestEvent.request_id == request_id,
            RequestEvent.kind.not_in(sorted(UNSEALED_EVENT_KINDS)),
        )
        .order_by(RequestEvent.id)
    )
    return list((await s.scalars(q)).all())


# -- the steps of a seal ----------------------------------------------------------------------

#: A receipt to append: its canonical bytes, and the index columns of its ``proof_leaves`` row.
_NewLeaf = tuple[bytes, dict[str, Any]]


async def _newest_head(s: AsyncSession) -> SignedTreeHeadRecord | None:
    return (
        await s.scalars(
            sa.select(SignedTreeHeadRecord).order_by(SignedTreeHeadRecord.tree_size.desc()).limit(1)
        )
    ).one_or_none()


async def _right_edge(s: AsyncSession, newest: SignedTreeHeadRecord | None) -> CompactRange:
    """Where the next leaf goes: the newest head's compact range, once the stored receipts are
    found to end exactly where that head does."""
    size = newest.tree_size if newest else 0
    last = await s.scalar(sa.select(sa.func.max(ProofLeaf.leaf_index)))
    if (last if last is not None else -1) != size - 1:
        raise ProofLogError(
            f"the proof log holds receipts up to index {last} but its newest signed "
            f"head covers {size}; run `lethe audit verify --log`"
        )
    return _compact_range(newest)


async def _final_outcomes(s: AsyncSession, request_id: str) -> Sequence[SystemOutcomeRecord]:
    return (
        await s.scalars(
            sa.select(SystemOutcomeRecord)
            .where(
                SystemOutcomeRecord.request_id == request_id,
                SystemOutcomeRecord.outcome.in_(sorted(FINAL_OUTCOMES)),
            )
            .order_by(SystemOutcomeRecord.round, SystemOutcomeRecord.system)
        )
    ).all()


async def _receipts_to_seal(s: AsyncSession, req: ErasureRequestRecord) -> list[_NewLeaf]:
    """The request's receipts the log does not hold yet, in the order they are appended: its
    final outcomes (by round, then system), and once it is answered its state and its events.
    """
    request_id = req.request_id
    sealed_rows = (
        await s.execute(
            sa.select(ProofLeaf.leaf_hash, ProofLeaf.event_id).where(
                ProofLeaf.request_id == request_id
            )
        )
    ).all()
    sealed = {h for h, _ in sealed_rows}
    sealed_events = {e for _, e in sealed_rows if e is not None}
    new: list[_NewLeaf] = []
    for o in await _final_outcomes(s, request_id):
        data = canonical_json(outcome_receipt(o))
        if leaf_hash(data).hex() not in sealed:
            columns = {
                "kind": "system_outcome",
                "outcome_id": o.id,
                "system": o.system,
                "round": o.round,
            }
            new.append((data, columns))
    # A decided request's own state is sealed even when no system was touched: a
    # refusal (rejected, cancelled) answered on time is something an auditor must see.
    if req.completed_at is not None:
        data = canonical_json(request_receipt(req))
        if leaf_hash(data).hex() not in sealed:
            new.append((data, {"kind": "request_status"}))
        new += await _event_receipts(s, request_id, sealed_events)
    return new


async def _event_receipts(
    s: AsyncSession, request_id: str, sealed_events: set[int]
) -> list[_NewLeaf]:
    """The receipts of the request's events not sealed yet, each drawing its salt.

    Each event once, by id: an event never changes, so an edited one is never sealed again
    (the whole-log check compares it with its one receipt). Sealed with the request's state,
    so that a request with receipts has one. The receipt commits to who and why under a fresh
    salt, kept on the event.
    """
    new: list[_NewLeaf] = []
    for ev in await _sealable_events(s, request_id):
        if ev.id not in sealed_events:
            ev.seal_salt = secrets.token_hex(EVENT_SALT_BYTES)
            data = canonical_json(event_receipt(ev))
            new.append((data, {"kind": "request_event", "event_id": ev.id}))
    return new


def _append_leaves(
    s: AsyncSession,
    edge: CompactRange,
    new: Sequence[_NewLeaf],
    request_id: str,
    signer: TreeHeadSigner,
    *,
    at: datetime,
) -> list[int]:
    """Add each receipt as the next leaf, with the log's signed commitment to its index and
    hash, and the subtree hashes it completes; ``edge`` moves along. Returns the indices."""
    first = edge.size
    indices: list[int] = []
    for data, columns in new:
        index, h = first + len(indices), leaf_hash(data)
        s.add(
            ProofLeaf(
                leaf_index=index,
                request_id=request_id,
                **columns,
                receipt=data.decode("utf-8"),
                leaf_hash=h.hex(),
                commitment=base64.b64encode(signer.commit_receipt(index, h)).decode(),
                appended_at=at,
            )
        )
        for level, node_index, node in edge.append(h):
            s.add(ProofNode(level=level, node_index=node_index, hash=node.hex()))
        indices.append(index)
    return indices


def _sign_head(
    s: AsyncSession,
    edge: CompactRange,
    newest: SignedTreeHeadRecord | None,
    request_id: str,
    signer: TreeHeadSigner,
    *,
    at: datetime,
) -> TreeHead:
    """Sign the tree ``edge`` now ends, and store the head with that edge."""
    # Tree head timestamps never go backwards, whatever the workers' clocks say.
    stamp = max(int(at.timestamp() * 1000), newest.timestamp_ms if newest else 0)
    head = signer.sign_head(edge.size, edge.root(), stamp)
    s.add(
        SignedTreeHeadRecord(
            tree_size=head.tree_size,
            root_hash=head.root_hash.hex(),
            timestamp_ms=head.timestamp_ms,
            signature=base64.b64encode(head.signature).decode(),
            key_fingerprint=head.key_fingerprint,
            compact_range=[[n, h.hex()] for n, h in edge.subtrees],
            request_id=request_id,
            signed_at=at,
        )
    )
    return head


def _sealed_event(
    request_id: str, indices: list[int], head: TreeHead, *, at: datetime, actor: str
) -> RequestEvent:
    return RequestEvent(
        request_id=request_id,
        at=at,
        kind="sealed",
        actor=actor,
        detail={
            "leaf_indices": indices,
            "tree_size": head.tree_size,
            "root_hash": head.root_hash.hex(),
        },
    )


class ProofLog:
    """The proof log of one ledger. ``signer`` is needed to seal, not to read or verify."""

    def __init__(self, ledger: Ledger, signer: TreeHeadSigner | None = None) -> None:
        self._ledger = ledger
        self._signer = signer

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        return self._signer.public_key if self._signer else None

    # -- appending ----------------------------------------------------------------------------

    async def _lock(self, s: AsyncSession) -> None:
        """Make this transaction the only appender until it ends."""
        dialect = self._ledger.engine.dialect.name
        if dialect == "postgresql":
            await s.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        elif dialect == "sqlite":
            # A write as the transaction's first statement takes SQLite's writer lock now
            # (waiting out busy_timeout), before anything is read: no stale snapshot can follow.
            await lock_row(s, sa.false(), touch=SignedTreeHeadRecord.tree_size)
        else:
            await s.execute(
                sa.select(SignedTreeHeadRecord.tree_size)
                .order_by(SignedTreeHeadRecord.tree_size.desc())
                .limit(1)
                .with_for_update()
            )

    async def seal(self, request_id: str, *, at: datetime, actor: str = "lethe") -> SealedReceipts:
        """Append the request's unsealed receipts and sign a new head. Idempotent."""
        for attempt in range(1, _APPEND_ATTEMPTS + 1):
            try:
                return await self._seal_once(request_id, at=at, actor=actor)
            except IntegrityError:
                # Another appender took the same index (a backend without a lock): retry.
                if attempt == _APPEND_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _seal_once(self, request_id: str, *, at: datetime, actor: str) -> SealedReceipts:
        """One attempt, one transaction: lock the log, find the receipts it lacks, append
        them as leaves, sign the new head, and record the seal as the request's event."""
        if self._signer is None:
            raise ProofLogError("this proof log was opened without the signing key")
        signer = self._signer
        async with self._ledger.session() as s, s.begin():
            await self._lock(s)
            req = await s.get(ErasureRequestRecord, request_id)
            if req is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            newest = await _newest_head(s)
            edge = await _right_edge(s, newest)
            new = await _receipts_to_seal(s, req)
            if not new:
                return SealedReceipts(request_id, (), head_from_record(newest) if newest else None)
            indices = _append_leaves(s, edge, new, request_id, signer, at=at)
            head = _sign_head(s, edge, newest, request_id, signer, at=at)
            s.add(_sealed_event(request_id, indices, head, at=at, actor=actor))
            return SealedReceipts(request_id, tuple(indices), head)

    # -- reading ------------------------------------------------------------------------------

    async def newest_head(self) -> TreeHead | None:
        async with self._ledger.session() as s:
            rec = await _newest_head(s)
        return head_from_record(rec) if rec else None

    async def leaves_of(self, request_id: str) -> list[ProofLeaf]:
        async with self._ledger.session() as s:
            q = (
                sa.select(ProofLeaf)
                .where(ProofLeaf.request_id == request_id)
                .order_by(ProofLeaf.leaf_index)
            )
            return list((await s.scalars(q)).all())

    async def sealed_requests(self, requests: Sequence[ErasureRequestRecord]) -> set[str]:
        """The ids of ``requests`` whose state as it stands (status, dates) the log holds.

        A final status is final once sealed: between the answer and the seal (or a later
        round's new status and its seal) the request is being sealed, and says so. A request
        without an answer is never sealed.
        """
        wanted = {
            r.request_id: leaf_hash(canonical_json(request_receipt(r))).hex()
            for r in requests
            if r.completed_at is not None
        }
        ids = sorted(wanted)
        found: set[str] = set()
        async with self._ledger.session() as s:
            for chunk in range(0, len(ids), 500):
                rows = await s.execute(
                    sa.select(ProofLeaf.request_id, ProofLeaf.leaf_hash).where(
                        ProofLeaf.request_id.in_(ids[chunk : chunk + 500]),
                        ProofLeaf.kind == "request_status",
                    )
                )
                found.update(rid for rid, h in rows if wanted.get(rid) == h)
        return found

    async def unsealed_outcomes(self, request_id: str) -> list[SystemOutcomeRecord]:
        """Final outcomes of the request whose current receipt is not in the log."""
        async with self._ledger.session() as s:
            sealed = set(
                (
                    await s.scalars(
                        sa.select(ProofLeaf.leaf_hash).where(ProofLeaf.request_id == request_id)
                    )
                ).all()
            )
            outcomes = await _final_outcomes(s, request_id)
        return [
            o for o in outcomes if leaf_hash(canonical_json(outcome_receipt(o))).hex() not in sealed
        ]

    async def unsealed_events(self, request_id: str) -> list[RequestEvent]:
        """Events of the request that the log holds no receipt of (not sealed yet: the next
        seal of the request appends them; ``sealed`` events are never sealed)."""
        async with self._ledger.session() as s:
            sealed = set(
                (
                    await s.scalars(
                        sa.select(ProofLeaf.event_id).where(
                            ProofLeaf.request_id == request_id, ProofLeaf.event_id.is_not(None)
                        )
                    )
                ).all()
            )
            events = await _sealable_events(s, request_id)
        return [ev for ev in events if ev.id not in sealed]

    async def _events_by_id(self, ids: Sequence[int]) -> dict[int, RequestEvent]:
        if not ids:
            return {}
        async with self._ledger.session() as s:
            rows = await s.scalars(sa.select(RequestEvent).where(RequestEvent.id.in_(ids)))
            return {ev.id: ev for ev in rows.all()}

    async def _partial_tree(self, size: int, indices: Sequence[int]) -> PartialTree:
        """Enough of the tree of ``size`` leaves to prove the inclusion of ``indices``."""
        needed: set[tuple[int, int]] = set()
        for i in indices:
            needed |= PartialTree.needed_for_inclusion(i, size)
        known: dict[tuple[int, int], bytes] = {}
        leaves = sorted(j for level, j in needed if level == 0)
        nodes = sorted(key for key in needed if key[0] > 0)
        async with self._ledger.session() as s:
            for chunk in range(0, len(leaves), 500):
                q = sa.select(ProofLeaf.leaf_index, ProofLeaf.leaf_hash).where(
                    ProofLeaf.leaf_index.in_(leaves[chunk : chunk + 500])
                )
                for j, h in await s.execute(q):
                    known[(0, j)] = bytes.fromhex(h)
            for chunk in range(0, len(nodes), 500):
                q2 = sa.select(ProofNode.level, ProofNode.node_index, ProofNode.hash).where(
                    sa.tuple_(ProofNode.level, ProofNode.node_index).in_(nodes[chunk : chunk + 500])
                )
                for level, j, h in await s.execute(q2):
                    known[(level, j)] = bytes.fromhex(h)
        if len(known) != len(needed):
            raise ProofLogError(
                f"the proof log lacks {len(needed) - len(known)} of the subtree hashes a proof "
                "needs; run `lethe audit verify --log`"
            )
        return PartialTree(size, known)

    async def certificate(self, request_id: str, *, issued_at: datetime) -> dict[str, Any]:
        """A certificate of erasure: the request's receipts, each with its inclusion proof in
        the newest signed head, and the request summary its newest request receipt proves."""
        leaves = await self.leaves_of(request_id)
        if not leaves:
            raise ProofLogError(f"{request_id} has not been sealed yet: no receipts in the log")
        head = await self.newest_head()
        assert head is not None  # leaves exist, so a head covering them does
        tree = await self._partial_tree(head.tree_size, [x.leaf_index for x in leaves])
        events = await self._events_by_id([x.event_id for x in leaves if x.event_id is not None])
        entries = []
        status: dict[str, Any] | None = None
        for leaf in leaves:
            receipt = parse_receipt(leaf.receipt)
            entry: dict[str, Any] = {
                "leaf_index": leaf.leaf_index,
                "receipt": receipt,
                "inclusion_proof": [
                    p.hex() for p in tree.inclusion_proof(leaf.leaf_index, head.tree_size)
                ],
            }
            if leaf.event_id is not None:
                # Who and why, beside the receipt that commits to them (never in it).
                ev = events.get(leaf.event_id)
                if ev is None or ev.seal_salt is None:
                    raise ProofLogError(
                        f"event {leaf.event_id} of {request_id}, sealed in receipt "
                        f"{leaf.leaf_index}, cannot be opened (deleted, or its salt is gone); "
                        "run `lethe audit verify --log`"
                    )
                entry["opening"] = event_opening(ev)
            entries.append(entry)
            if receipt["kind"] == "request_status":
                status = receipt
        if status is None:
            raise ProofLogError(f"{request_id} has no sealed request receipt")
        cert = {
            "format": CERTIFICATE_FORMAT,
            "issued_at": issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request": {
                "request_id": status["request_id"],
                "jurisdiction": status["jurisdiction"],
                "channel": status["channel"],
                "systems": status["systems"],
                "status": status["status"],
                "received_at": status["received_at"],
                "due_at": status["due_at"],
                "completed_at": status["completed_at"],
                "deadline": deadline_state(status["due_at"], status["completed_at"]),
            },
            "receipts": entries,
            "tree_head": head.to_dict(),
            "public_key_fingerprint": head.key_fingerprint,
        }
        # Never hand out a certificate that does not check: with our key if we hold it.
        check = check_certificate(cert, self.public_key)
        problems = [
            p for p in check.problems if self.public_key is not None or "no public key" not in p
        ]
        if problems:
            raise ProofLogError(
                f"the certificate for {request_id} does not check ({problems[0]}); "
                "run `lethe audit verify --log`"
            )
        return cert

    # -- the whole-log check ------------------------------------------------------------------

    async def verify(
        self,
        public_keys: Sequence[Ed25519PublicKey],
        outside_heads: Sequence[tuple[str, TreeHead]] = (),
    ) -> LogCheck:
        """Recompute the log from its receipts and check it against every signed head, its
        own and ``outside_heads`` (named heads from certificates handed out)."""
        async with self._ledger.session() as s:
            return await check_log(s, public_keys, outside_heads)
