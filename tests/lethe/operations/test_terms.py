"""The terms given with a decision (lethe/operations/terms.py), as every front door checks them."""

from __future__ import annotations

from datetime import date

import pytest

from lethe.errors import LetheError
from lethe.operations.terms import known_legal_basis, not_in_past, short_reason
from vocabulary import LEGAL_BASES


def test_a_known_basis_comes_back_stripped_and_an_unknown_one_is_refused_by_name() -> None:
    code = sorted(LEGAL_BASES)[0]
    assert known_legal_basis(f"  {code}\n") == code
    with pytest.raises(LetheError, match=r"^unknown legal basis 'gdpr-99': use one of "):
        known_legal_basis("gdpr-99")
    with pytest.raises(LetheError, match="unknown legal basis ''"):
        known_legal_basis("   ")


def test_a_date_before_today_is_refused_under_the_callers_name_for_it() -> None:
    today = date(2027, 3, 1)
    not_in_past((("--until", today), ("--review-on", None)), today=today)  # today is not past
    with pytest.raises(LetheError, match=r"^review_on 2027-02-28 is in the past$"):
        not_in_past((("retained_until", None), ("review_on", date(2027, 2, 28))), today=today)
    with pytest.raises(LetheError, match=r"^--until 2026-01-01 is in the past$"):
        not_in_past((("--until", date(2026, 1, 1)), ("--review-on", date(2020, 1, 1))), today=today)


def test_a_reason_is_a_short_reference_named_as_the_caller_names_it() -> None:
    assert short_reason("  TICKET-1  ", "why", field="--reason") == "TICKET-1"
    with pytest.raises(LetheError, match=r"^reason must say why the hold is released$"):
        short_reason(" \t", "why the hold is released", field="reason")
    assert short_reason("x" * 500, "why", field="reason") == "x" * 500
    with pytest.raises(LetheError, match=r"^--reason is at most 40 characters: give a reference"):
        short_reason("x" * 41, "why", field="--reason", limit=40)
