"""The terms an operator gives with a decision, checked once for every front door.

A legal basis must be one Lethe knows (``vocabulary.LEGAL_BASES``); a retention's end or a
hold's review date must not be in the past; a reason is a short reference, not a story. The
command line and the HTTP API name the fields their own way (``--until``, ``retained_until``),
so each check takes the name the caller's user typed and puts it in the one-line refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ..errors import LetheError

__all__ = ["REASON_LIMIT", "known_legal_basis", "not_in_past", "short_reason"]

#: A reason is a reference (a ticket, a letter's date), kept in the ledger beside the decision.
REASON_LIMIT = 500


def known_legal_basis(code: str) -> str:
    """The code, stripped, when Lethe knows it as a legal basis; otherwise a one-line refusal."""
    from vocabulary import LEGAL_BASES

    code = code.strip()
    if code not in LEGAL_BASES:
        raise LetheError(
            f"unknown legal basis {code!r}: use one of {', '.join(sorted(LEGAL_BASES))}"
        )
    return code


def not_in_past(dates: Iterable[tuple[str, date | None]], *, today: date) -> None:
    """Refuses the first of ``(field, day)`` whose day is before ``today``; None is no date."""
    for field, day in dates:
        if day is not None and day < today:
            raise LetheError(f"{field} {day} is in the past")


def short_reason(text: str, what: str, *, field: str, limit: int = REASON_LIMIT) -> str:
    """A reason, stripped: not empty (it must say ``what``), at most ``limit`` characters."""
    reason = text.strip()
    if not reason:
        raise LetheError(f"{field} must say {what}")
    if len(reason) > limit:
        raise LetheError(f"{field} is at most {limit} characters: give a reference, not the file")
    return reason
