"""Legal holds in the ledger: placed by pseudonym, applied without a connector, released."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger import Ledger, LedgerError, LegalHolds, choose_hold
from ledger.holds import hold_state
from ledger.proof import canonical_json
from ledger.proof.receipts import outcome_receipt
from ledger.tables import LegalHold

from .test_store import NOW, open_request

TODAY = NOW.date()


async def place(holds: LegalHolds, **kw: object) -> LegalHold:
    args: dict[str, object] = {
        "subject_ref": "ps_1",
        "legal_basis": "legal-hold",
        "reason": "litigation hold from counsel",
        "systems": None,
        "retained_until": None,
        "review_on": TODAY + timedelta(days=90),
        "placed_by": "operator:kim",
        "at": NOW,
    }
    return await holds.place(**{**args, **kw})  # type: ignore[arg-type]


async def test_which_hold_applies_where(ledger: Ledger) -> None:
    holds = LegalHolds(ledger)
    everywhere = await place(holds)
    crm_dated = await place(
        holds, systems=["crm"], retained_until=TODAY + timedelta(days=400), review_on=None
    )
    lapsed = await place(
        holds, systems=["forum"], retained_until=TODAY - timedelta(days=1), review_on=None
    )
    other = await place(holds, subject_ref="ps_2", systems=["forum"])
    assert everywhere.hold_id.startswith("lh-") and everywhere.hold_id != crm_dated.hold_id

    active = await holds.active_for("ps_1", TODAY)
    assert {h.hold_id for h in active} == {everywhere.hold_id, crm_dated.hold_id}
    assert lapsed.hold_id not in {h.hold_id for h in active}
    assert [h.hold_id for h in await holds.active_for("ps_2", TODAY)] == [other.hold_id]
    # The indefinite hold keeps longest, so it is the one recorded.
    assert choose_hold(active, "crm", TODAY) is not None
    assert choose_hold(active, "crm", TODAY).hold_id == everywhere.hold_id  # type: ignore[union-attr]
    only_dated = [h for h in active if h.hold_id == crm_dated.hold_id]
    assert choose_hold(only_dated, "forum", TODAY) is None
    assert choose_hold(only_dated, "crm", TODAY + timedelta(days=401)) is None


async def test_applying_a_hold_records_retained_without_a_connector(ledger: Ledger) -> None:
    await open_request(ledger)
    holds = LegalHolds(ledger)
    hold = await place(holds, systems=["crm"], retained_until=date(2030, 6, 30), review_on=None)
    row = await holds.apply("er-1", "crm", 0, hold, at=NOW)
    again = await holds.apply("er-1", "crm", 0, hold, at=NOW)
    assert again.id == row.id
    assert (row.outcome, row.connector, row.legal_basis) == ("retained", "", "legal-hold")
    assert row.retained_until == date(2030, 6, 30) and hold.hold_id in (row.basis_note or "")
    assert row.evidence == {"hold_id": hold.hold_id, "connector_called": False}
    # The receipt sealed forever carries neither the operator's words nor their name.
    receipt = canonical_json(outcome_receipt(row)).decode()
    assert "counsel" not in receipt and "kim" not in receipt and hold.hold_id in receipt
    [exc] = await ledger.exceptions("er-1")  # one exception, linked once
    assert exc.state == "open" and exc.legal_basis == "legal-hold"
    kinds = [e.kind for e in await ledger.events("er-1")]
    assert kinds.count("hold_applied") == 1 and "system_retained" in kinds


async def test_release_makes_the_held_exceptions_due(ledger: Ledger) -> None:
    await open_request(ledger)
    holds = LegalHolds(ledger)
    hold = await place(holds)
    await holds.apply("er-1", "crm", 0, hold, at=NOW)
    with pytest.raises(LedgerError, match="needs a reason"):
        await holds.release(hold.hold_id, released_by="operator:kim", reason=" ", at=NOW)
    released = await holds.release(
        hold.hold_id, released_by="operator:kim", reason="case settled", at=NOW
    )
    assert released.hold.released_at == NOW and released.hold.release_reason == "case settled"
    assert [e.system for e in released.now_due] == ["crm"]
    assert await holds.active_for("ps_1", TODAY) == []
    assert (
        await holds.list_holds() == [] and len(await holds.list_holds(include_released=True)) == 1
    )
    with pytest.raises(LedgerError, match="already released"):
        await holds.release(hold.hold_id, released_by="operator:kim", reason="again", at=NOW)
    with pytest.raises(LedgerError, match="no legal hold"):
        await holds.release("lh-nope", released_by="operator:kim", reason="x", at=NOW)
    released_event = [e for e in await ledger.events("er-1") if e.kind == "hold_released"]
    assert released_event[0].detail["hold_id"] == hold.hold_id


def test_a_hold_s_state_on_a_day() -> None:
    def hold(**kw: object) -> LegalHold:
        return LegalHold(**{"hold_id": "lh-1", "released_at": None, "review_on": None, **kw})

    assert hold_state(hold(retained_until=TODAY), TODAY) == "active"  # through its last day
    assert hold_state(hold(retained_until=TODAY - timedelta(days=1)), TODAY) == "lapsed"
    assert hold_state(hold(review_on=TODAY), TODAY) == "active"
    assert hold_state(hold(review_on=TODAY - timedelta(days=1)), TODAY) == "review overdue"
    released = hold(retained_until=TODAY - timedelta(days=9))
    released.released_at = NOW
    assert hold_state(released, TODAY) == "released"  # released says more than lapsed
