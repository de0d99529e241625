"""The tables the proof log adds, and the indexes auditors' queries need.

    proof_leaves        append-only: one receipt per row, in log order (leaf_index 0, 1, …);
                        the receipt's canonical bytes, its RFC 6962 leaf hash, and the log's
                        signed commitment to (index, hash); ``event_id`` names the request
                        event a ``request_event`` receipt seals
    signed_tree_heads   one per seal: tree size, root, time, Ed25519 signature, and the
                        compact range that lets the next seal append without reading the log
    proof_nodes         the hash of every complete subtree above the leaves (a cache: inclusion
                        proofs read O(log² n) rows instead of every leaf; verify recomputes it)

Neither holds personal data: receipts carry request ids, never the person.
The indexes on the older tables serve ``ledger.queries`` (``lethe audit list``/``export``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base, ErasureRequestRecord, RetainedException, SystemOutcomeRecord

__all__ = ["ProofLeaf", "ProofNode", "SignedTreeHeadRecord"]


class ProofLeaf(Base):
    __tablename__ = "proof_leaves"

    leaf_index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    # system_outcome receipts only; request_status receipts have none.
    outcome_id: Mapped[int | None] = mapped_column(sa.ForeignKey("system_outcomes.id"), index=True)
    # request_event receipts only: the request_events row sealed (no foreign key: a deleted
    # event must leave its receipt pointing at it, for the whole-log check to name it).
    # Unique: an event is sealed once.
    event_id: Mapped[int | None] = mapped_column(index=True, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    system: Mapped[str | None] = mapped_column(sa.String(64))
    round: Mapped[int | None]
    receipt: Mapped[str] = mapped_column(sa.Text)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))
    commitment: Mapped[str] = mapped_column(sa.String(100))
    appended_at: Mapped[datetime]


class SignedTreeHeadRecord(Base):
    __tablename__ = "signed_tree_heads"

    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(sa.String(64))
    timestamp_ms: Mapped[int] = mapped_column(sa.BigInteger)
    signature: Mapped[str] = mapped_column(sa.String(100))
    key_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    # [[subtree size, hex hash], ...]: checked against root_hash before every use.
    compact_range: Mapped[list[Any]] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(40))
    signed_at: Mapped[datetime]


class ProofNode(Base):
    """The hash of leaves [index * 2**level, (index + 1) * 2**level), level >= 1."""

    __tablename__ = "proof_nodes"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(sa.String(64))


# Auditors' queries (ledger.queries): each semi-join is answered from a covering index, either
# as the list of matches or probed once per request while walking requests newest first.
sa.Index(
    "ix_erasure_requests_jurisdiction_received",
    ErasureRequestRecord.jurisdiction,
    ErasureRequestRecord.received_at,
)
# The round too: an outcome filter keeps only each system's latest round (ledger.queries).
sa.Index(
    "ix_system_outcomes_system_outcome_request",
    SystemOutcomeRecord.system,
    SystemOutcomeRecord.outcome,
    SystemOutcomeRecord.request_id,
    SystemOutcomeRecord.round,
)
sa.Index(
    "ix_system_outcomes_outcome_request",
    SystemOutcomeRecord.outcome,
    SystemOutcomeRecord.request_id,
    SystemOutcomeRecord.system,
    SystemOutcomeRecord.round,
)
# The review date too: an exception with no end date is due when it is due for review.
sa.Index(
    "ix_retained_exceptions_open_until",
    RetainedException.state,
    RetainedException.retained_until,
    RetainedException.request_id,
    RetainedException.review_on,
)
