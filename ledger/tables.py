"""The ledger's tables: what an auditor needs, and nothing they would have to erase.

    erasure_requests     one row per request: pseudonym, jurisdiction, clock, status
    subject_vault        the request's identifiers, encrypted under a per-request key
    system_outcomes      one row per (request, system, round): outcome, counts, evidence
    retained_exceptions  what a system keeps, under which legal basis, until when
    request_events       append-only history of a request (received, verified, sealed, ...)

Only ``subject_vault`` holds personal data, and only as ciphertext whose key is destroyed
after the request is sealed (crypto-shredding).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "ErasureRequestRecord",
    "RequestEvent",
    "RetainedException",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "UTCDateTime",
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
    # (``ledger.proof.event_commitment``), drawn when the event is first sealed; ``None``
    # before. With it, actor and detail open the commitment; without it they no longer can.
    seal_salt: Mapped[str | None] = mapped_column(sa.String(64))
    # What makes this write this write, unique per request: what the event is (``answer``,
    # ``outcome/crm/0``) or which activity wrote it. NULL: a write that is never repeated.
    write_key: Mapped[str | None] = mapped_column(sa.String(200))
