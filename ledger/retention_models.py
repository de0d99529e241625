"""Tables for what outlives a request's first pass: holds, later rounds, controller referrals.

    legal_holds           "keep this person's data" by counsel, by pseudonym only, until released
    hold_retentions       which retained exception a hold caused (so its release makes it due)
    erasure_rounds        why a system was erased again: retention expired, hold released,
                          operator retry, backup restore (round 1, 2, … of the same request)
    controller_referrals  a processor-held system referred to its controller, and the answer

None of them holds an identifier: a hold names a pseudonym, never an address.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base

__all__ = ["ControllerReferral", "ErasureRound", "HoldRetention", "LegalHold"]


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
    # The workflow waiting for the instruction (the CLI signals it).
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
