"""What the acme connector keeps in the receipt journal, and what a repeat makes of it.

Acme has no transactions: the journal (Lethe's ledger, in production) is where the erase
writes what it is about to delete and, afterwards, what it did. These tests stop an erase
where a worker could die and erase again, as the next worker would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_acme import FakeAcme, serve
from lethe_acme.connector import AcmeConnector

from connectors import (
    REPLAYED_FROM_RECEIPT,
    ConnectorRegistry,
    Erased,
    Subject,
    TransientError,
    erase_key,
)
from connectors._journal import MemoryJournal, using_journal

TOKEN = "receipts-token"
ADA = Subject(ref="ps_ada", email="ada@example.org")


@pytest.fixture
def acme() -> Iterator[FakeAcme]:
    with serve(FakeAcme(token=TOKEN, page_size=2)) as fake:
        yield fake


@pytest.fixture
def journal() -> Iterator[MemoryJournal]:
    with using_journal(MemoryJournal()) as installed:
        assert isinstance(installed, MemoryJournal)
        yield installed


def build(acme: FakeAcme) -> AcmeConnector:
    connector = ConnectorRegistry().build(
        "crm", "lethe_acme.connector:AcmeConnector", {"url": acme.url, "api_token": TOKEN}
    )
    assert isinstance(connector, AcmeConnector)
    return connector


async def test_an_attempt_cut_off_mid_delete_is_finished_and_counted_whole(
    acme: FakeAcme, journal: MemoryJournal
) -> None:
    ids = [acme.add("ada@example.org", "Ada"), acme.add("ADA@example.org", "Ada again")]
    ids.append(acme.add("Ada@Example.org", "Ada, newsletter"))
    nada = acme.add("nada@example.org", "Nada")
    # The first attempt searches (two pages), deletes one contact, then Acme goes down.
    first = build(acme)
    searches = 2
    calls = {"n": 0}
    original = first._request

    def cut_off(method: str, path: str, expect: tuple[int, ...]) -> tuple[int, object]:
        calls["n"] += 1
        if calls["n"] == searches + 2:  # the second DELETE
            raise TransientError("crm: acme answered 503")
        return original(method, path, expect)

    first._request = cut_off  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        await first.erase(ADA, "er-1")
    assert set(acme.contacts) == {*ids[1:], nada}
    assert journal.entries["er-1"] == {"deleting": ids}  # written before the first DELETE

    # The retry (another worker) finishes the job and counts what the first attempt did.
    outcome = await build(acme).erase(ADA, "er-1")
    assert isinstance(outcome, Erased)
    assert outcome.counts == {"contacts.deleted": 3}
    assert outcome.evidence[REPLAYED_FROM_RECEIPT] is True
    assert outcome.evidence["deleted_by_an_interrupted_attempt"] == 1
    assert set(acme.contacts) == {nada}

    # A worker that died after that, before the ledger heard, is answered from the journal.
    again = await build(acme).erase(ADA, "er-1")
    assert isinstance(again, Erased) and again.counts == {"contacts.deleted": 3}
    assert again.evidence[REPLAYED_FROM_RECEIPT] is True
    assert [r for r in acme.requests if r.startswith("DELETE")][-1:] == [
        f"DELETE /v1/contacts/{ids[2]}"
    ]  # the replay asked Acme nothing


async def test_an_erase_that_changed_nothing_is_not_a_replay(
    acme: FakeAcme, journal: MemoryJournal
) -> None:
    acme.add("ada@example.org", "Ada")
    acme.faults.append((503, {}))  # refused at the first request: nothing was changed
    with pytest.raises(TransientError):
        await build(acme).erase(ADA, "er-1")
    assert journal.entries == {}
    outcome = await build(acme).erase(ADA, "er-1")
    assert isinstance(outcome, Erased) and outcome.counts == {"contacts.deleted": 1}
    assert REPLAYED_FROM_RECEIPT not in outcome.evidence


async def test_each_round_has_its_own_entry(acme: FakeAcme, journal: MemoryJournal) -> None:
    acme.add("ada@example.org", "Ada")
    assert (await build(acme).erase(ADA, erase_key("er-1", 0))).kind == "erased"
    acme.add("ada@example.org", "Ada, restored from a backup")
    later = await build(acme).erase(ADA, erase_key("er-1", 1))
    assert isinstance(later, Erased) and later.counts == {"contacts.deleted": 1}
    assert REPLAYED_FROM_RECEIPT not in later.evidence
    assert sorted(journal.entries) == ["er-1", "er-1/round-1"]
    assert acme.contacts == {}
