"""Every retention names a known legal basis, says why, and has exactly one date — enforced by
the ledger itself, whoever writes."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from ledger import Ledger, LegalHolds, OutcomeEntry, RetentionRuleError
from ledger.tables import RetainedException, SystemOutcomeRecord

from .test_store import NOW, open_request

GOOD = {"legal_basis": "gdpr-17-3-b", "basis_note": "tax law", "retained_until": date(2036, 1, 1)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"legal_basis": "because-we-can"}, "unknown legal basis 'because-we-can'"),
        ({"legal_basis": None}, "unknown legal basis None"),
        ({"basis_note": "  "}, "free text"),
        ({"retained_until": None}, "exactly one date"),
        ({"review_on": date(2027, 1, 1)}, "exactly one date"),
    ],
)
async def test_a_retention_without_basis_reason_or_one_date_is_refused(
    ledger: Ledger, change: dict[str, object], message: str
) -> None:
    await open_request(ledger)
    await ledger.begin_system("er-1", "crm", 0, connector="sql", connector_version="1", at=NOW)
    entry = OutcomeEntry("retained", **{**GOOD, **change})  # type: ignore[arg-type]
    with pytest.raises(RetentionRuleError, match=message):
        await ledger.finish_system("er-1", "crm", 0, entry, at=NOW)
    # Nothing half-written: the row is still in progress and no exception was opened.
    [row] = await ledger.outcomes("er-1")
    assert row.outcome == "in_progress"
    assert await ledger.exceptions("er-1") == []


async def test_an_update_cannot_strip_a_retention_of_its_date(ledger: Ledger) -> None:
    await open_request(ledger)
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry("retained", **GOOD), at=NOW)  # type: ignore[arg-type]
    with pytest.raises(RetentionRuleError):
        async with ledger.session() as s, s.begin():
            row = (await s.scalars(sa.select(SystemOutcomeRecord))).one()
            row.retained_until = None
    with pytest.raises(RetentionRuleError):
        async with ledger.session() as s, s.begin():
            exc = (await s.scalars(sa.select(RetainedException))).one()
            exc.legal_basis = "vibes"
    [exc] = await ledger.exceptions("er-1")
    assert exc.retained_until == date(2036, 1, 1) and exc.legal_basis == "gdpr-17-3-b"


async def test_holds_obey_the_same_rule(ledger: Ledger) -> None:
    holds = LegalHolds(ledger)
    with pytest.raises(RetentionRuleError, match="unknown legal basis"):
        await holds.place(
            subject_ref="ps_1",
            legal_basis="gut-feeling",
            reason="r",
            systems=None,
            retained_until=None,
            review_on=date(2027, 1, 1),
            placed_by="kim",
            at=NOW,
        )
    with pytest.raises(RetentionRuleError, match="exactly one date"):
        await holds.place(
            subject_ref="ps_1",
            legal_basis="legal-hold",
            reason="litigation",
            systems=None,
            retained_until=None,
            review_on=None,
            placed_by="kim",
            at=NOW,
        )
    assert await holds.list_holds(include_released=True) == []
