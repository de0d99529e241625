"""The whole-log check behind ``lethe audit verify --log``: recompute, compare, name the index.

1. Every stored receipt, in index order: no gap, canonical JSON, its stored leaf hash and
   index columns agree with it. Its leaf hash is recomputed from the receipt, never read.
2. Every signed head: signed by a given key, its root equal to the root of the recomputed
   tree at its size, and consistent with the head before (RFC 6962 consistency proof).
   Receipts past the newest head are not covered by any signature. Heads kept outside the
   ledger (in certificates handed out) must describe a prefix of the log too: that is what
   catches a log cut back or rewritten together with its own heads.
3. Once a head's root stops matching, the receipts from the last matching head on are checked
   against the log's signed commitment to (index, leaf hash): that names the first receipt
   edited, removed, reordered or inserted. Below a matching head, the head itself vouches for
   every receipt, so the commitments need no checking there (an untouched log costs one
   signature check per head, not per receipt).
4. Every final outcome in the ledger still says what its newest sealed receipt says; every
   sealed request row still says what its newest request receipt says (its status only while
   final; a request whose newest outcomes are still being sealed is left for the next check);
   every retained outcome has its exception row, which says what the outcome says and is
   closed only by a later round (the sweeper acts on these rows: an edited date or state would
   keep data, or stop keeping it, without a trace in the log).
   Every sealed event (a ``request_event`` receipt) is still in ``request_events`` and still
   says what its receipt says: its actor, detail and salt still open the receipt's commitment
   (an approval's actor or reason edited, or its salt, is named with its receipt), and an
   event deleted, moved to another request or re-dated is named too. Events that have no receipt yet
   (added since their request's last seal, or of a request sealed before events were) are
   not sealed yet: a note, not a problem; the next seal of their request appends them.
5. The cached subtree hashes (``proof_nodes``) are those of the recomputed tree: certificates
   drawn from them would verify.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vocabulary import FINAL_OUTCOMES, FINAL_STATUSES, OutcomeKind

from ..tables import (
    ErasureRequestRecord,
    ProofLeaf,
    ProofNode,
    RequestEvent,
    RetainedException,
    SignedTreeHeadRecord,
    SystemOutcomeRecord,
)
from .canonical import ProofError, canonical_json, parse_receipt
from .merkle import MerkleTree, leaf_hash, verify_consistency
from .receipts import (
    UNSEALED_EVENT_KINDS,
    event_receipt,
    outcome_receipt,
    request_receipt,
)
from .signing import TreeHead, key_fingerprint, verify_receipt_commitment

__all__ = ["LogCheck", "LogProblem", "check_log", "head_from_record"]

_BATCH = 2000


@dataclass(frozen=True)
class LogProblem:
    index: int | None  # the receipt it names, when it names one
    message: str


@dataclass
class LogCheck:
    receipts: int = 0
    heads: int = 0
    problems: list[LogProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not problems: what is not sealed yet
    unsealed_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        indices = [p.index for p in self.problems if p.index is not None]
        return min(indices) if indices else None

    def add(self, index: int | None, message: str) -> None:
        self.problems.append(LogProblem(index, message))

    def ordered(self) -> list[LogProblem]:
        """Problems naming a receipt first, lowest index first."""
        return sorted(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "receipts": self.receipts,
            "signed_heads": self.heads,
            "first_bad_index": self.first_bad_index,
            "problems": [{"index": p.index, "message": p.message} for p in self.ordered()],
            "unsealed_events": self.unsealed_events,
            "notes": list(self.notes),
        }


def head_from_record(rec: SignedTreeHeadRecord) -> TreeHead:
    return TreeHead(
        tree_size=rec.tree_size,
        root_hash=bytes.fromhex(rec.root_hash),
        timestamp_ms=rec.timestamp_ms,
        signature=base64.b64decode(rec.signature),
        key_fingerprint=rec.key_fingerprint,
    )


async def check_log(
    s: AsyncSession,
    public_keys: Sequence[Ed25519PublicKey],
    outside_heads: Sequence[tuple[str, TreeHead]] = (),
) -> LogCheck:
    """``outside_heads``: signed heads kept outside the ledger (those in the certificates
    handed out), each with a name to report it by; see :func:`_outside_heads`."""
    keys = {key_fingerprint(k): k for k in public_keys}
    check = LogCheck()
    heads = list(
        (
            await s.scalars(
                sa.select(SignedTreeHeadRecord).order_by(SignedTreeHeadRecord.tree_size)
            )
        ).all()
    )
    check.heads = len(heads)
    tree = await _receipts(s, check)
    check.receipts = tree.size
    vouched = _heads(heads, tree, keys, check)
    if vouched is not None:
        await _commitments(s, heads, tree, keys, vouched, check)
    _outside_heads(outside_heads, tree, keys, check)
    await _drift(s, check)
    await _request_drift(s, check)
    await _exception_drift(s, check)
    await _event_drift(s, check)
    await _unsealed_events(s, check)
    await _nodes(s, tree, check)
    return check


async def _receipts(s: AsyncSession, check: LogCheck) -> MerkleTree:
    """Step 1: the tree recomputed from the stored receipts, up to the first gap."""
    tree = MerkleTree()
    p = ProofLeaf
    rows = await s.stream(
        sa.select(
            p.leaf_index,
            p.receipt,
            p.leaf_hash,
            p.request_id,
            p.kind,
            p.system,
            p.round,
            p.event_id,
        )
        .order_by(p.leaf_index)
        .execution_options(yield_per=_BATCH)
    )
    async for row in rows:
        i = tree.size
        if row.leaf_index != i:
            check.add(i, f"receipt {i} is missing (the next stored receipt is {row.leaf_index})")
            break  # what follows a gap is out of place; the heads say the rest
        data = row.receipt.encode("utf-8")
        h = leaf_hash(data)
        tree.append(h)
        if h.hex() != row.leaf_hash:
            check.add(i, f"receipt {i} does not match its recorded leaf hash (edited)")
        try:
            receipt = parse_receipt(data)
        except ProofError as exc:
            check.add(i, f"receipt {i} is not a canonical receipt ({exc})")
            continue
        said = tuple(receipt.get(k) for k in ("request_id", "kind", "system", "round", "event_id"))
        if (row.request_id, row.kind, row.system, row.round, row.event_id) != said:
            check.add(i, f"receipt {i}'s index columns disagree with the receipt itself")
    return tree


def _heads(
    heads: list[SignedTreeHeadRecord],
    tree: MerkleTree,
    keys: dict[str, Ed25519PublicKey],
    check: LogCheck,
) -> int | None:
    """Step 2. Returns None if every head matches the receipts; otherwise the size of the
    last head that does (every receipt below it is vouched for)."""
    previous: TreeHead | None = None
    vouched: int | None = None  # set at the first head that does not match
    good = 0  # the size of the last head that matched before that
    for rec in heads:
        try:
            head = head_from_record(rec)
        except (ValueError, binascii.Error):
            check.add(None, f"the signed head of size {rec.tree_size} is unreadable")
            vouched = good if vouched is None else vouched
            continue
        n = head.tree_size
        key = keys.get(head.key_fingerprint)
        if key is None:
            check.add(
                None,
                f"the head of size {n} was signed by key {head.key_fingerprint[:16]}…, "
                "which is not among the given public keys",
            )
        elif not head.verify(key):
            check.add(None, f"the signature of the head of size {n} does not verify")
        matches = n <= tree.size and tree.root(n) == head.root_hash
        if n > tree.size:
            check.add(
                tree.size,
                f"the head signed for {n} receipts covers receipts from index {tree.size} on, "
                "which are missing or out of place",
            )
        elif not matches:
            # Which receipt below n is wrong is for the commitments to say.
            check.add(None, f"the receipts below index {n} do not hash to the head signed for {n}")
        if vouched is None:
            if matches:
                good = n
            else:
                vouched = good
        if previous is not None and previous.tree_size <= n <= tree.size:
            proof = tree.consistency_proof(previous.tree_size, n)
            if not verify_consistency(
                previous.tree_size, n, previous.root_hash, head.root_hash, proof
            ):
                check.add(
                    None,
                    f"the head of size {n} is not consistent with the head of size "
                    f"{previous.tree_size}",
                )
        previous = head
    last = heads[-1].tree_size if heads else 0
    if last < tree.size:
        check.add(last, f"receipts from index {last} on are not covered by any signed head")
        vouched = good if vouched is None else vouched
    return vouched


def _outside_heads(
    heads: Sequence[tuple[str, TreeHead]],
    tree: MerkleTree,
    keys: dict[str, Ed25519PublicKey],
    check: LogCheck,
) -> None:
    """Step 2b: every head signed earlier must describe a prefix of the log as it is now.

    A log cut back to an older state, or rewritten, together with its own heads, is
    consistent with itself; it is not consistent with a head the log signed before that.
    """
    for name, head in heads:
        n = head.tree_size
        key = keys.get(head.key_fingerprint)
        if key is None or not head.verify(key):
            check.add(None, f"{name}: its head of size {n} is not signed by a given public key")
        elif n > tree.size:
            check.add(
                tree.size,
                f"{name}: the log signed a head of {n} receipts, but holds {tree.size} now "
                "(cut back: receipts were removed)",
            )
        elif tree.root(n) != head.root_hash:
            check.add(
                None,
                f"{name}: the log's first {n} receipts are not those it signed a head for "
                "(rewritten)",
            )


async def _commitments(
    s: AsyncSession,
    heads: list[SignedTreeHeadRecord],
    tree: MerkleTree,
    keys: dict[str, Ed25519PublicKey],
    start: int,
    check: LogCheck,
) -> None:
    """Step 3: each receipt from ``start`` on against the log's signed (index, hash)."""
    signers = [(h.tree_size, h.key_fingerprint) for h in heads]
    rows = await s.stream(
        sa.select(ProofLeaf.leaf_index, ProofLeaf.commitment)
        .where(ProofLeaf.leaf_index >= start, ProofLeaf.leaf_index < tree.size)
        .order_by(ProofLeaf.leaf_index)
        .execution_options(yield_per=_BATCH)
    )
    async for i, commitment in rows:
        fingerprint = next((fp for size, fp in signers if size > i), None)
        key = keys.get(fingerprint or "")
        if key is None:
            continue  # not covered by a head, or by an unknown key: reported already
        try:
            signature = base64.b64decode(commitment, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not verify_receipt_commitment(key, i, tree.leaf(i), signature):
            check.add(
                i,
                f"receipt {i} is not the receipt the log signed at this index "
                "(edited, reordered or inserted)",
            )


async def _drift(s: AsyncSession, check: LogCheck) -> None:
    """Step 4: final outcomes still say what their newest sealed receipt says."""
    newest = (
        sa.select(ProofLeaf.outcome_id, sa.func.max(ProofLeaf.leaf_index).label("idx"))
        .where(ProofLeaf.outcome_id.is_not(None))
        .group_by(ProofLeaf.outcome_id)
        .subquery()
    )
    o = SystemOutcomeRecord.__table__
    q = (
        sa.select(o, ProofLeaf.leaf_index, ProofLeaf.receipt)
        .join(newest, newest.c.outcome_id == o.c.id)
        .join(ProofLeaf, ProofLeaf.leaf_index == newest.c.idx)
        .where(o.c.outcome.in_(sorted(FINAL_OUTCOMES)))
        .execution_options(yield_per=_BATCH)
    )
    async for row in await s.stream(q):
        if canonical_json(outcome_receipt(row)).decode("utf-8") != row.receipt:
            check.add(
                row.leaf_index,
                f"the ledger's outcome of {row.request_id}/{row.system} (round {row.round}) "
                f"no longer says what its sealed receipt {row.leaf_index} says "
                "(edited after sealing)",
            )


async def _request_drift(s: AsyncSession, check: LogCheck) -> None:
    """Step 4, requests: each sealed request row against its newest request receipt."""
    newest = (
        sa.select(ProofLeaf.request_id, sa.func.max(ProofLeaf.leaf_index).label("idx"))
        .where(ProofLeaf.kind == "request_status")
        .group_by(ProofLeaf.request_id)
        .subquery()
    )
    o, leaf = aliased(SystemOutcomeRecord), aliased(ProofLeaf)
    being_sealed = (
        sa.exists()
        .where(
            o.request_id == ErasureRequestRecord.request_id,
            o.outcome.in_(sorted(FINAL_OUTCOMES)),
            ~sa.exists().where(leaf.outcome_id == o.id).correlate(o),
        )
        .correlate(ErasureRequestRecord)
    )
    q = (
        sa.select(ErasureRequestRecord, ProofLeaf.leaf_index, ProofLeaf.receipt)
        .join(newest, newest.c.request_id == ErasureRequestRecord.request_id)
        .join(ProofLeaf, ProofLeaf.leaf_index == newest.c.idx)
        .where(~being_sealed)
        .execution_options(yield_per=_BATCH)
    )
    async for req, index, text in await s.stream(q):
        try:
            sealed = parse_receipt(text)
        except ProofError:
            continue  # reported by step 1
        now = request_receipt(req)
        now_json = parse_receipt(canonical_json(now))
        names = [k for k in sorted(now_json) if now_json[k] != sealed.get(k)]
        if req.status not in FINAL_STATUSES:
            names = [k for k in names if k != "status"]  # a later round is under way
        if names:
            check.add(
                index,
                f"the ledger's request {req.request_id} no longer says what its sealed receipt "
                f"{index} says ({', '.join(names)} edited after sealing)",
            )


async def _exception_drift(s: AsyncSession, check: LogCheck) -> None:
    """Step 4, exceptions: each retained outcome's exception row says what the outcome says
    (itself checked against its receipt), and is closed only by a later round."""
    o, e = SystemOutcomeRecord, RetainedException
    later = aliased(SystemOutcomeRecord)
    later_round = sa.exists().where(
        later.request_id == o.request_id, later.system == o.system, later.round > o.round
    )
    sealed_at = (
        sa.select(sa.func.max(ProofLeaf.leaf_index))
        .where(ProofLeaf.outcome_id == o.id)
        .scalar_subquery()
    )
    q = (
        sa.select(
            e.id,
            e.state,
            later_round.label("later"),
            sealed_at.label("leaf"),
            e.request_id.label("e_request"),
            e.system.label("e_system"),
            o.request_id,
            o.system,
            o.round,
            o.outcome,
            e.legal_basis,
            e.basis_note,
            e.retained_until,
            e.review_on,
            o.legal_basis.label("o_basis"),
            o.basis_note.label("o_note"),
            o.retained_until.label("o_until"),
            o.review_on.label("o_review"),
        )
        .select_from(o)
        .join(e, e.outcome_id == o.id, isouter=True)
        .where(sa.or_(o.outcome == OutcomeKind.RETAINED, e.id.is_not(None)))
        .execution_options(yield_per=_BATCH)
    )
    async for row in await s.stream(q):
        what = f"{row.request_id}/{row.system} (round {row.round})"
        if row.id is None:
            check.add(row.leaf, f"the retained outcome of {what} has no exception row (deleted)")
            continue
        kept = (row.e_request, row.e_system, row.legal_basis, row.basis_note)
        until = (row.retained_until, row.review_on)
        said = (row.request_id, row.system, row.o_basis, row.o_note)
        moved = until != (row.o_until, row.o_review)
        if row.outcome != OutcomeKind.RETAINED or kept != said or moved:
            check.add(row.leaf, f"the exception of {what} no longer says what its outcome says")
        elif row.state != "open" and not row.later:
            check.add(
                row.leaf, f"the exception of {what} is {row.state} but no later round closed it"
            )


async def _event_drift(s: AsyncSession, check: LogCheck) -> None:
    """Step 4, events: each sealed event is still in the ledger, saying what its receipt says."""
    e = RequestEvent.__table__
    q = (
        sa.select(
            ProofLeaf.leaf_index,
            ProofLeaf.receipt,
            ProofLeaf.event_id.label("sealed_event"),
            ProofLeaf.request_id.label("sealed_request"),
            e.c.id,
            e.c.request_id,
            e.c.at,
            e.c.kind,
            e.c.actor,
            e.c.detail,
            e.c.seal_salt,
        )
        .select_from(ProofLeaf)
        .join(e, e.c.id == ProofLeaf.event_id, isouter=True)
        .where(ProofLeaf.event_id.is_not(None))
        .order_by(ProofLeaf.leaf_index)
        .execution_options(yield_per=_BATCH)
    )
    async for row in await s.stream(q):
        i = row.leaf_index
        try:
            sealed = parse_receipt(row.receipt)
        except ProofError:
            continue  # reported by step 1
        what = (
            f"the {sealed.get('event')!r} event {row.sealed_event} of {row.sealed_request} "
            f"(sealed in receipt {i})"
        )
        if row.id is None:
            check.add(i, f"{what} is no longer in the ledger (deleted after sealing)")
            continue
        try:
            now = parse_receipt(canonical_json(event_receipt(row)))
        except ValueError as exc:  # no salt, or one that is not a salt: nothing opens it
            check.add(i, f"{what} can no longer be checked against its receipt ({exc})")
            continue
        names = [
            "actor, detail or salt" if k == "commitment" else k
            for k in sorted(set(now) | set(sealed))
            if now.get(k) != sealed.get(k)
        ]
        if names:
            check.add(
                i,
                f"{what} no longer says what its receipt says "
                f"({', '.join(names)} edited after sealing)",
            )


async def _unsealed_events(s: AsyncSession, check: LogCheck) -> None:
    """Step 4, events not sealed yet: reported as a note, with the first few named."""
    e, leaf = RequestEvent, aliased(ProofLeaf)
    unsealed = sa.and_(
        e.kind.not_in(sorted(UNSEALED_EVENT_KINDS)),
        ~sa.exists().where(leaf.event_id == e.id),
    )
    count, requests = (
        await s.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(e.request_id))).where(unsealed)
        )
    ).one()
    check.unsealed_events = int(count)
    if not count:
        return
    first = (
        await s.execute(
            sa.select(e.request_id, e.id, e.kind).where(unsealed).order_by(e.id).limit(5)
        )
    ).all()
    named = ", ".join(f"{r}: {kind} (event {i})" for r, i, kind in first)
    more = f" and {count - len(first)} more" if count > len(first) else ""
    check.notes.append(
        f"{count} events of {requests} requests are not sealed yet ({named}{more}): added "
        "since their request was last sealed, or sealed before Lethe sealed events; the next "
        "seal of each request appends them"
    )


async def _nodes(s: AsyncSession, tree: MerkleTree, check: LogCheck) -> None:
    """Step 5: the subtree cache against the recomputed tree (one summary line, since a
    changed receipt makes every cached node above it differ too)."""
    rows = await s.stream(
        sa.select(ProofNode.level, ProofNode.node_index, ProofNode.hash).execution_options(
            yield_per=_BATCH
        )
    )
    matching = differing = 0
    async for level, index, stored in rows:
        want = tree.subtree(level, index)
        if want is not None and want.hex() == stored:
            matching += 1
        else:
            differing += 1
    if differing:
        check.add(
            None,
            f"{differing} cached subtree hashes differ from the receipts "
            "(certificates drawn from them would not verify)",
        )
    missing = tree.subtree_count() - matching
    if missing > 0 and not differing:
        check.add(None, f"{missing} cached subtree hashes are missing")
