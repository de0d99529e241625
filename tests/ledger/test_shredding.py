"""Crypto-shredding: after the grace period the identifiers are gone, the record is not."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import (
    ControllerReferrals,
    ErasureRounds,
    Ledger,
    LedgerError,
    LegalHolds,
    OutcomeEntry,
    VaultShredding,
)

from .test_store import NOW, open_request

LATER = NOW + timedelta(days=31)
CUTOFF = LATER - timedelta(days=30)


async def done(ledger: Ledger, request_id: str, ref: str = "ps_1", **outcomes: str) -> None:
    await open_request(ledger, request_id, ref)  # systems crm and forum
    for system, outcome in (outcomes or {"crm": "erased", "forum": "not_found"}).items():
        await ledger.finish_system(request_id, system, 0, OutcomeEntry(outcome), at=NOW)
    await ledger.set_status(request_id, "completed", at=NOW, actor="lethe")


async def ready(ledger: Ledger, finished_before=CUTOFF) -> list[str]:  # type: ignore[no-untyped-def]
    return await VaultShredding(ledger).shreddable(finished_before=finished_before, on=LATER.date())


async def test_shredding_destroys_the_identifiers_and_keeps_the_record(ledger: Ledger) -> None:
    await done(ledger, "er-1")
    assert await ready(ledger, finished_before=NOW - timedelta(seconds=1)) == []  # too recent
    assert await ready(ledger) == ["er-1"]
    before = [(o.system, o.outcome, o.counts) for o in await ledger.outcomes("er-1")]

    shredding = VaultShredding(ledger)
    assert await shredding.shred("er-1", at=LATER, actor="sweeper", reason="grace over")
    assert not await shredding.shred("er-1", at=LATER, actor="sweeper", reason="again")

    with pytest.raises(LedgerError, match="shredded"):
        await ledger.read_identifiers("er-1")
    async with ledger.engine.connect() as conn:
        row = (
            await conn.execute(sa.text("SELECT wrapped_key, ciphertext, key_id FROM subject_vault"))
        ).one()
    assert row.wrapped_key is None and row.ciphertext is None and row.key_id
    # The rest of the record is intact: request, outcomes, events, pseudonym.
    rec = await ledger.require_request("er-1")
    assert rec.subject_ref == "ps_1" and rec.status == "completed"
    assert [(o.system, o.outcome, o.counts) for o in await ledger.outcomes("er-1")] == before
    [event] = [e for e in await ledger.events("er-1") if e.kind == "identifiers_shredded"]
    assert event.actor == "sweeper" and event.detail["vault_key_id"] == row.key_id
    assert await ready(ledger) == []


async def test_what_keeps_the_identifiers(ledger: Ledger) -> None:
    # Open exception: it will be re-erased one day, which needs the identifiers.
    await open_request(ledger, "er-kept", "ps_k")
    await ledger.finish_system(
        "er-kept",
        "crm",
        0,
        OutcomeEntry(
            "retained", legal_basis="contract", basis_note="n", retained_until=date(2030, 1, 1)
        ),
        at=NOW,
    )
    await ledger.finish_system("er-kept", "forum", 0, OutcomeEntry("erased"), at=NOW)
    await ledger.set_status("er-kept", "completed_with_exceptions", at=NOW, actor="lethe")
    # A failure waits for a retry.
    await done(ledger, "er-failed", "ps_f", crm="failed", forum="erased")
    # A round under way.
    await done(ledger, "er-round", "ps_r")
    await ErasureRounds(ledger).open_round(
        request_id="er-round",
        system="crm",
        round_=1,
        trigger="backup_restore",
        actor="operator:kim",
        reason="restored",
        exception_id=None,
        workflow_id="w",
        at=NOW,
    )
    # A referral still waiting for its controller.
    await done(ledger, "er-referred", "ps_c", crm="erased", forum="erased")
    await ControllerReferrals(ledger).open(
        request_id="er-referred",
        system="lms",
        round_=0,
        controller="acme",
        workflow_id="w",
        answer_by=NOW,
        connector_called=False,
        at=NOW,
    )
    # An active hold on the person.
    await done(ledger, "er-held", "ps_h")
    await LegalHolds(ledger).place(
        subject_ref="ps_h",
        legal_basis="legal-hold",
        reason="litigation",
        systems=["crm"],
        retained_until=None,
        review_on=date(2030, 1, 1),
        placed_by="kim",
        at=NOW,
    )
    # A system that never answered.
    await done(ledger, "er-half", "ps_x", crm="erased")
    # Fine: everything erased, and a rejected request that never touched a system.
    await done(ledger, "er-ok", "ps_ok")
    await open_request(ledger, "er-rejected", "ps_rej")
    await ledger.set_status("er-rejected", "rejected", at=NOW, actor="lethe")

    assert sorted(await ready(ledger)) == ["er-ok", "er-rejected"]


async def test_no_file_of_a_sqlite_ledger_keeps_the_shredded_key(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    """While the worker runs, the write-ahead log holds every page version written: the one
    with the wrapped key included. Shredding must not leave it there (nor in freed space)."""
    await done(sqlite_ledger, "er-1")
    async with sqlite_ledger.engine.connect() as conn:
        wrapped, sealed = (
            await conn.execute(sa.text("SELECT wrapped_key, ciphertext FROM subject_vault"))
        ).one()
    files = sorted(tmp_path.glob("ledger.db*"))
    assert any(wrapped in f.read_bytes() for f in files)  # the search can find it
    assert await VaultShredding(sqlite_ledger).shred("er-1", at=LATER, actor="t", reason="r")
    for f in sorted(tmp_path.glob("ledger.db*")):  # the ledger is still open, as in a worker
        data = f.read_bytes()
        assert wrapped not in data and sealed not in data, f.name
