"""The ledger's tables, all of them: what an auditor needs, and nothing they would have to erase.

A request and what happened to it
    erasure_requests      one row per request: pseudonym, jurisdiction, clock, status
    subject_vault         the request's identifiers, encrypted under a per-request key
    system_outcomes       one row per (request, system, round): outcome, counts, evidence
    retained_exceptions   what a system keeps, under which legal basis, until when
    request_events        append-only history of a request (received, verified, sealed, ...)
    request_deadlines     the statutory clock: which rule set each deadline, the
                          acknowledgement, the one extension (who, why), reminder and
                          overdue escalation (``ledger.deadlines``)
    verification_codes    one code per request, as a salted keyed hash, its expiry and tries
                          (``ledger.verification``)
    portal_assertions     the claims of each accepted portal assertion; its nonce is the key,
                          so a token opens one request only

What outlives a request's first pass (``ledger.holds``, ``ledger.rounds``, ``ledger.referrals``)
    legal_holds           "keep this person's data" by counsel, by pseudonym only, until released
    hold_retentions       which retained exception a hold caused (so its release makes it due)
    erasure_rounds        why a system was erased again: retention expired, hold released,
                          operator retry, backup restore (round 1, 2, … of the same request)
    controller_referrals  a processor-held system referred to its controller, and the answer

The proof log (``ledger.proof``)
    proof_leaves          append-only: one receipt per row, in log order (leaf_index 0, 1, …);
                          the receipt's canonical bytes, its RFC 6962 leaf hash, and the log's
                          signed commitment to (index, hash); ``event_id`` names the request
                          event a ``request_event`` receipt seals
    signed_tree_heads     one per seal: tree size, root, time, Ed25519 signature, and the
                          compact range that lets the next seal append without reading the log
    proof_nodes           the hash of every complete subtree above the leaves (a cache:
                          inclusion proofs read O(log² n) rows instead of every leaf; verify
                          recomputes it)

Bookkeeping
    ledger_keys           the ids of the keys this ledger was created with (``ledger.key_ids``)
    connector_journal     the receipts of connectors whose systems have no transaction
                          (``ledger.journal``)
    api_clients           the HTTP API's clients (``lethe serve``): a name, scopes and the
                          SHA-256 of the client's token, never the token (``ledger.api_clients``)
    request_access        the SHA-256 of each request's status token (what a requester shows
                          to ``/v1/requests/{id}/status``), never the token
    api_idempotency_keys  an API client's Idempotency-Key, the digest of the body it came with
                          and the request it created: a retry answers with the same request

Only ``subject_vault`` holds personal data, and only as ciphertext whose key is destroyed
after the request is sealed (crypto-shredding). Receipts carry request ids, never the person; a
hold names a pseudonym, never an address; verification keeps neither the code nor the address.
The indexes at the end serve the auditors' queries (``ledger.queries``: ``lethe audit
list``/``export``). The schema is migrated by Alembic (``migrations/``); a test compares these
tables with the migrations (``tests/ledger/test_migrations.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiClientRecord",
    "ApiIdempotencyKey",
    "Base",
    "ConnectorJournalEntry",
    "ControllerReferral",
    "ErasureRequestRecord",
    "ErasureRound",
    "HoldRetention",
    "LedgerKeyRecord",
    "LegalHold",
    "PayloadDecode",
    "PortalAssertionRecord",
    "ProofLeaf",
    "ProofNode",
    "RequestAccessToken",
    "RequestClock",
    "RequestEvent",
    "RetainedException",
    "SignedTreeHeadRecord",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "UTCDateTime",
    "VerificationCode",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: sa.JSON, list[str]: sa.JSON}


# -- a request and what happened to it --------------------------------------------------------


class ErasureRequestRecord(Base):
    __tablename__ = "erasure_requests"

    request_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(sa.String(80), index=True)
    # The person's claim to one open request (``ledger.claims``): ``subject_ref`` while the
    # request is open, NULL once it is answered; unique, so the database admits one holder.
    open_subject_ref: Mapped[str | None] = mapped_column(sa.String(80), index=True, unique=True)
    jurisdiction: Mapped[str] = mapped_column(sa.String(16))
    verification_method: Mapped[str] = mapped_column(sa.String(24))
    channel: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    systems: Mapped[list[str]]
    workflow_id: Mapped[str] = mapped_column(sa.String(120), unique=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    verified_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    outcomes: Mapped[list[SystemOutcomeRecord]] = relationship(
        back_populates="request", order_by="SystemOutcomeRecord.id", lazy="raise"
    )


class SubjectVaultEntry(Base):
    __tablename__ = "subject_vault"

    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(sa.String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    shredded_at: Mapped[datetime | None]


class SystemOutcomeRecord(Base):
    __tablename__ = "system_outcomes"
    __table_args__ = (sa.UniqueConstraint("request_id", "system", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    system: Mapped[str] = mapped_column(sa.String(64), index=True)
    round: Mapped[int] = mapped_column(default=0)
    connector: Mapped[str] = mapped_column(sa.String(120))
    connector_version: Mapped[str] = mapped_column(sa.String(32))
    # in_progress while a connector call is under way; then the outcome.
    outcome: Mapped[str] = mapped_column(sa.String(16), index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retained_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    legal_basis: Mapped[str | None] = mapped_column(sa.String(32))
    basis_note: Mapped[str | None] = mapped_column(sa.String(1000))
    retained_until: Mapped[date | None] = mapped_column(sa.Date)
    review_on: Mapped[date | None] = mapped_column(sa.Date)
    ticket: Mapped[str | None] = mapped_column(sa.String(200))
    controller: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    attempts: Mapped[int] = mapped_column(default=0)
    residual: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    verified_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    request: Mapped[ErasureRequestRecord] = relationship(back_populates="outcomes", lazy="raise")


class RetainedException(Base):
    """Data a system keeps after a request, and why. ``open`` until re-erased or released."""

    __tablename__ = "retained_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    system: Mapped[str] = mapped_column(sa.String(64))
    outcome_id: Mapped[int] = mapped_column(sa.ForeignKey("system_outcomes.id"))
    legal_basis: Mapped[str] = mapped_column(sa.String(32))
    basis_note: Mapped[str] = mapped_column(sa.String(1000))
    retained_until: Mapped[date | None] = mapped_column(sa.Date, index=True)
    review_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    resolved_at: Mapped[datetime | None]


class RequestEvent(Base):
    """Append-only: what happened to a request, when, and on whose authority."""

    __tablename__ = "request_events"
    # A repeated write (a retried activity) finds its key, appends nothing: ledger.write_keys.
    __table_args__ = (
        sa.Index("uq_request_events_write_key", "request_id", "write_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Hex of the random salt of its proof-log receipt's commitment to ``actor`` and ``detail``
    # (``ledger.proof.canonical.event_commitment``), drawn when the event is first sealed; ``None``
    # before. With it, actor and detail open the commitment; without it they no longer can.
    seal_salt: Mapped[str | None] = mapped_column(sa.String(64))
    # What makes this write this write, unique per request: what the event is (``answer``,
    # ``outcome/crm/0``) or which activity wrote it. NULL: a write that is never repeated.
    write_key: Mapped[str | None] = mapped_column(sa.String(200))


class RequestClock(Base):
    __tablename__ = "request_deadlines"

    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(sa.String(64))
    answer_rule: Mapped[str] = mapped_column(sa.String(16))
    original_due_at: Mapped[datetime]
    acknowledge_by: Mapped[datetime | None]
    acknowledge_rule: Mapped[str | None] = mapped_column(sa.String(16))
    acknowledged_at: Mapped[datetime | None]
    extension_limit: Mapped[datetime | None]
    no_extension_because: Mapped[str | None] = mapped_column(sa.String(300))
    extended_at: Mapped[datetime | None]
    extended_by: Mapped[str | None] = mapped_column(sa.String(120))
    extension_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    reminded_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]


class VerificationCode(Base):
    __tablename__ = "verification_codes"

    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id", ondelete="CASCADE"), primary_key=True
    )
    salt: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    attempt_limit: Mapped[int]
    used_at: Mapped[datetime | None]
    locked_at: Mapped[datetime | None]


class PortalAssertionRecord(Base):
    __tablename__ = "portal_assertions"

    nonce: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id", ondelete="CASCADE"), unique=True
    )
    issuer: Mapped[str] = mapped_column(sa.String(100))
    key_id: Mapped[str] = mapped_column(sa.String(32))
    methods: Mapped[list[str]]
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime]


# -- what outlives a request's first pass -----------------------------------------------------


class LegalHold(Base):
    """Data of one subject (optionally only in some systems) that must not be erased."""

    __tablename__ = "legal_holds"

    hold_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(sa.String(80), index=True)
    legal_basis: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    # None: every system. A list: only those systems.
    systems: Mapped[list[str] | None] = mapped_column(sa.JSON)
    retained_until: Mapped[date | None] = mapped_column(sa.Date)
    review_on: Mapped[date | None] = mapped_column(sa.Date)
    placed_at: Mapped[datetime]
    placed_by: Mapped[str] = mapped_column(sa.String(120))
    released_at: Mapped[datetime | None] = mapped_column(index=True)
    released_by: Mapped[str | None] = mapped_column(sa.String(120))
    release_reason: Mapped[str | None] = mapped_column(sa.String(1000))

    def covers(self, system: str) -> bool:
        return self.systems is None or system in self.systems

    def active_on(self, day: date) -> bool:
        """Not released, and not lapsed (a dated hold keeps data through its last day)."""
        if self.released_at is not None:
            return False
        return self.retained_until is None or self.retained_until >= day


class HoldRetention(Base):
    """A retained exception that exists because of a hold."""

    __tablename__ = "hold_retentions"

    exception_id: Mapped[int] = mapped_column(
        sa.ForeignKey("retained_exceptions.id"), primary_key=True
    )
    hold_id: Mapped[str] = mapped_column(sa.ForeignKey("legal_holds.hold_id"), index=True)


class ErasureRound(Base):
    """A later round of one system of a request: who or what asked for it, and how it ended."""

    __tablename__ = "erasure_rounds"
    __table_args__ = (sa.UniqueConstraint("request_id", "system", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    system: Mapped[str] = mapped_column(sa.String(64))
    round: Mapped[int]
    # retention_expired | review_due | hold_released | retry | backup_restore
    trigger: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(120))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    exception_id: Mapped[int | None] = mapped_column(sa.ForeignKey("retained_exceptions.id"))
    workflow_id: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))


class ControllerReferral(Base):
    """A processor-held system's erasure, referred to the controller the data belongs to."""

    __tablename__ = "controller_referrals"
    __table_args__ = (sa.UniqueConstraint("request_id", "system", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    system: Mapped[str] = mapped_column(sa.String(64))
    round: Mapped[int]
    controller: Mapped[str] = mapped_column(sa.String(200))
    # The workflow waiting for the instruction (lethe controller-instruction updates it).
    workflow_id: Mapped[str] = mapped_column(sa.String(200))
    # awaiting | escalated | instructed
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    opened_at: Mapped[datetime]
    answer_by: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    delivery: Mapped[dict[str, Any]] = mapped_column(default=dict)
    escalated_at: Mapped[datetime | None]
    escalation_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    instruction: Mapped[str | None] = mapped_column(sa.String(8))  # erase | retain
    instructed_by: Mapped[str | None] = mapped_column(sa.String(120))
    instruction_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    instructed_at: Mapped[datetime | None]


# -- the proof log ----------------------------------------------------------------------------


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


# -- bookkeeping ------------------------------------------------------------------------------


class LedgerKeyRecord(Base):
    """One row per key purpose: the id of the key this ledger was created with."""

    __tablename__ = "ledger_keys"

    purpose: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(32))
    recorded_at: Mapped[datetime]


class ConnectorJournalEntry(Base):
    __tablename__ = "connector_journal"
    __table_args__ = (sa.UniqueConstraint("request_id", "system", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), index=True
    )
    system: Mapped[str] = mapped_column(sa.String(64))
    round: Mapped[int] = mapped_column(default=0)
    key: Mapped[str] = mapped_column(sa.String(200))
    entry: Mapped[dict[str, Any]] = mapped_column(default=dict)
    written_at: Mapped[datetime]


# -- the HTTP API (``ledger.api_clients``) -------------------------------------------------------


class ApiClientRecord(Base):
    """A client of ``lethe serve``: its token is kept as a SHA-256 digest only."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    scopes: Mapped[list[str]]
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(120))
    revoked_at: Mapped[datetime | None]


class RequestAccessToken(Base):
    """The digest of the token a requester shows to see their request's status."""

    __tablename__ = "request_access"

    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("erasure_requests.request_id"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]


class ApiIdempotencyKey(Base):
    __tablename__ = "api_idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(sa.String(40))
    key: Mapped[str] = mapped_column(sa.String(200))
    body_digest: Mapped[str] = mapped_column(sa.String(64))
    request_id: Mapped[str] = mapped_column(sa.ForeignKey("erasure_requests.request_id"))
    created_at: Mapped[datetime]


class PayloadDecode(Base):
    """A decode by the codec server not tied to a request: payloads bound to no workflow
    (the retention sweep's, a schedule's, what the Web UI encoded itself) or to a workflow
    whose request the ledger does not hold. A decode of a request's payloads is a
    ``payload_decoded`` event of that request instead. No identifier: who (the token's
    name), a workflow id (which holds none), counts."""

    __tablename__ = "payload_decodes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(120))
    namespace: Mapped[str] = mapped_column(sa.String(255))
    workflow_id: Mapped[str | None] = mapped_column(sa.String(255))
    payloads: Mapped[int]


class ProcessorCallbackRecord(Base):
    """A status callback a processor sent to ``lethe serve`` (``ledger.processor_callbacks``):
    accepted or refused, and why. ``accepted_id`` is the Standard Webhooks message id of an
    accepted one (unique per system: a replay is refused), None for a refusal. No identifiers:
    the body is never kept."""

    __tablename__ = "processor_callbacks"
    __table_args__ = (sa.UniqueConstraint("system", "accepted_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(sa.String(64))
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    accepted_id: Mapped[str | None] = mapped_column(sa.String(200))
    verdict: Mapped[str] = mapped_column(sa.String(16))  # accepted | refused
    reason: Mapped[str] = mapped_column(sa.String(200))
    request_id: Mapped[str | None] = mapped_column(sa.String(40))
    received_at: Mapped[datetime]


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
