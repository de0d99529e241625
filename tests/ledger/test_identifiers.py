"""Adding an identifier a request lacked (``lethe retry --identifier``), on SQLite and
PostgreSQL: sealed in the vault with the others, named by kind in an event, never in clear."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger import Ledger, LedgerError, VaultShredding, add_identifiers
from ledger.tables import RequestEvent, SubjectVaultEntry

from .test_store import NOW, open_request


async def test_an_identifier_is_added_to_the_vault_and_named_by_kind_only(ledger: Ledger) -> None:
    await open_request(ledger)
    added = await add_identifiers(
        ledger,
        "er-1",
        {"customer_id": "C-1815", "username": "ada_b"},
        at=NOW,
        actor="operator:kim",
        detail={"system": "crm", "reason": "ticket 17"},
    )
    assert added == ["customer_id", "username"]
    assert await ledger.read_identifiers("er-1") == (
        "ps_1",
        {"email": "ada@example.org", "customer_id": "C-1815", "username": "ada_b"},
    )
    [event] = [e for e in await ledger.events("er-1") if e.kind == "identifiers_added"]
    assert event.actor == "operator:kim"
    assert event.detail == {"system": "crm", "reason": "ticket 17", "kinds": added}
    # The same again adds nothing and says nothing; another value is refused, unrepeated.
    again = await add_identifiers(
        ledger, "er-1", {"customer_id": "C-1815"}, at=NOW, actor="operator:kim"
    )
    assert again == []
    with pytest.raises(LedgerError, match="already holds a customer_id") as err:
        await add_identifiers(ledger, "er-1", {"customer_id": "C-9"}, at=NOW, actor="x")
    assert "C-9" not in str(err.value) and "C-1815" not in str(err.value)
    assert await ledger.read_identifiers("er-1") == (
        "ps_1",
        {"email": "ada@example.org", "customer_id": "C-1815", "username": "ada_b"},
    )
    async with ledger.session() as s:
        stored = repr(
            (
                (await s.execute(sa.select(SubjectVaultEntry.__table__))).all(),
                (await s.execute(sa.select(RequestEvent.__table__))).all(),
            )
        )
    assert "C-1815" not in stored and "ada_b" not in stored
    assert len([e for e in await ledger.events("er-1") if e.kind == "identifiers_added"]) == 1


async def test_nothing_is_added_to_a_shredded_or_unknown_request(ledger: Ledger) -> None:
    await open_request(ledger)
    await VaultShredding(ledger).shred("er-1", at=NOW, actor="lethe", reason="done")
    with pytest.raises(LedgerError, match="shredded"):
        await add_identifiers(ledger, "er-1", {"customer_id": "C-1"}, at=NOW, actor="x")
    with pytest.raises(LedgerError, match="no erasure request"):
        await add_identifiers(ledger, "er-404", {"customer_id": "C-1"}, at=NOW, actor="x")
    assert [e.kind for e in await ledger.events("er-1")] == ["received", "identifiers_shredded"]
