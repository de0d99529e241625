"""The rule every retention obeys, enforced where the ledger writes it.

Whatever keeps data after an erasure request (a connector's ``Retained``, a legal hold, a
controller's instruction) must say why and until when: a legal basis from the fixed
list (``vocabulary.LegalBasis``), free text, and exactly one of a ``retained_until``
date or, for an indefinite retention, the ``review_on`` date of its next review.

The check runs in SQLAlchemy's ``before_insert``/``before_update`` hooks of the rows that
carry a retention, so no code path (ours or a future one) can write a retention without it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from vocabulary import LEGAL_BASES, OutcomeKind

from .store import LedgerError
from .tables import LegalHold, RetainedException, SystemOutcomeRecord

__all__ = ["RetentionRuleError", "check_retention"]


class RetentionRuleError(LedgerError):
    """A retention without a known legal basis, a reason, or exactly one date."""


def check_retention(
    *,
    legal_basis: str | None,
    basis_note: str | None,
    retained_until: date | None,
    review_on: date | None,
) -> None:
    """Raise :class:`RetentionRuleError` unless the retention is fully justified and dated."""
    if legal_basis not in LEGAL_BASES:
        raise RetentionRuleError(
            f"unknown legal basis {legal_basis!r}: use one of {', '.join(sorted(LEGAL_BASES))}"
        )
    if not basis_note or not basis_note.strip():
        raise RetentionRuleError("a retention needs free text saying why the data is kept")
    if (retained_until is None) == (review_on is None):
        raise RetentionRuleError(
            "a retention needs exactly one date: retained_until, or review_on for an "
            "indefinite retention"
        )


def _outcome(_mapper: Any, _conn: Any, row: SystemOutcomeRecord) -> None:
    # A system not searched in full may still keep what was searched: then it is a retention.
    if row.outcome == OutcomeKind.RETAINED or (
        row.outcome == OutcomeKind.NOT_SEARCHED and row.legal_basis
    ):
        check_retention(
            legal_basis=row.legal_basis,
            basis_note=row.basis_note,
            retained_until=row.retained_until,
            review_on=row.review_on,
        )


def _exception(_mapper: Any, _conn: Any, row: RetainedException) -> None:
    check_retention(
        legal_basis=row.legal_basis,
        basis_note=row.basis_note,
        retained_until=row.retained_until,
        review_on=row.review_on,
    )


def _hold(_mapper: Any, _conn: Any, row: LegalHold) -> None:
    check_retention(
        legal_basis=row.legal_basis,
        basis_note=row.reason,
        retained_until=row.retained_until,
        review_on=row.review_on,
    )


for _model, _check in (
    (SystemOutcomeRecord, _outcome),
    (RetainedException, _exception),
    (LegalHold, _hold),
):
    if not sa.event.contains(_model, "before_insert", _check):
        sa.event.listen(_model, "before_insert", _check)
        sa.event.listen(_model, "before_update", _check)
