"""What operators type about a person is kept without the person: ``lethe/free_text.py``, and
the verbs that use it (hold add|release in process here; the verbs that need a workflow are
fed canaries in tests/test_pii_canary.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import Subject
from ledger import Ledger, LegalHolds, VaultShredding
from lethe.free_text import PersonText
from lethe.keys import Keyring, load_keyring
from lethe.pseudonym import Pseudonymizer
from lethe.runtime import open_ledger
from lethe.settings import load_settings
from tests.support.cli import lethe

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def open_request(
    ledger: Ledger, keys: Keyring, request_id: str, identifiers: dict[str, str]
) -> str:
    assert ledger.vault is not None
    ref = Pseudonymizer(keys.pseudonym).subject_ref(identifiers["email"])
    await ledger.open_request(
        request_id=request_id,
        subject_ref=ref,
        jurisdiction="gdpr",
        verification_method="operator",
        channel="cli",
        systems=["crm"],
        workflow_id=f"erasure/{request_id}",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=ledger.vault.seal(request_id, identifiers),
        actor="cli",
        allow_duplicate=True,  # two requests of one person, both open
    )
    return ref


async def test_a_reason_loses_the_person_and_keeps_the_reference(
    sqlite_ledger: Ledger, keys: Keyring
) -> None:
    ada = {"email": "ada@example.org", "name": "Ada Byron", "phone": "+44 20 7946 0958"}
    ref = await open_request(sqlite_ledger, keys, "er-free-1", ada)
    # An earlier request of the same person knew her username too.
    await open_request(
        sqlite_ledger, keys, "er-free-0", {"email": ada["email"], "username": "ada_b"}
    )
    person = await PersonText.for_request(sqlite_ledger, "er-free-1")
    typed = (
        "Called ADA@Example.org back on +44 20 7946 0958; Ms Byron (ada_b on the forum) "
        "confirmed, also wrote from ada.b%40mail.example. Ticket 4411, case 2026-17, 2026-07-01."
    )
    kept = person.reason(typed)
    for trace in ("ada@", "byron", "ada_b", "7946", "ada.b", "mail.example"):
        assert trace not in kept.lower(), (trace, kept)
    assert "Ticket 4411, case 2026-17, 2026-07-01." in kept  # what the record is for stays
    assert kept.startswith("Called [redacted] back on [redacted]; Ms [redacted]")
    # A phone number Lethe never held is caught by its shape.
    assert person.reason("rang +1 (555) 010-0199") == "rang [phone redacted]"
    # The operator's own address is accountability; the person's is not.
    assert person.operator("kim@corp.example") == "kim@corp.example"
    assert set(person.operator("Ada Byron").split()) == {"[redacted]"}
    # By pseudonym, with an address the operator gave that no request holds.
    other = await PersonText.for_pseudonym(sqlite_ledger, ref, email="ada.new@example.net")
    assert other.operator("ada.new@example.net") == "[redacted]"


async def test_once_shredded_only_the_shapes_are_caught(
    sqlite_ledger: Ledger, keys: Keyring
) -> None:
    await open_request(
        sqlite_ledger, keys, "er-free-2", {"email": "zoe@example.org", "name": "Zoë Q"}
    )
    await VaultShredding(sqlite_ledger).shred("er-free-2", at=NOW, actor="lethe", reason="done")
    person = await PersonText.for_request(sqlite_ledger, "er-free-2")
    assert person.people == ()
    assert person.reason("Zoë, zoe@example.org") == "Zoë, [email redacted]"
    assert (await PersonText.for_request(sqlite_ledger, "er-nobody")).people == ()


CONFIG = """
[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""


def test_hold_reasons_and_operators_are_kept_without_the_person(
    lethe_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hold add --pseudonym``: the vault of the person's request tells what to remove; the
    operator is told what is kept; ``hold release`` does the same."""
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "Grace Kanarie")
    settings = load_settings()
    keys = load_keyring(settings.home)

    async def seed() -> str:
        ledger = await open_ledger(settings, keys)
        try:
            return await open_request(
                ledger, keys, "er-free-3", {"email": "zk@example.org", "name": "Grace Kanarie"}
            )
        finally:
            await ledger.dispose()

    ref = asyncio.run(seed())
    typed = "case 17: Grace Kanarie (zk@example.org) sued"
    assert lethe("hold", "add", "--pseudonym", ref, "--reason", typed, "--json") == 0
    out = capsys.readouterr()
    placed = json.loads(out.out)
    assert placed["reason"] == "case 17: [redacted] ([redacted]) sued"
    assert placed["placed_by"] == "operator:[redacted]"
    assert "it is kept as 'case 17: [redacted] ([redacted]) sued'" in out.err
    assert lethe("hold", "release", placed["hold_id"], "--reason", "Kanarie settled") == 0
    assert "kept as '[redacted] settled'" in capsys.readouterr().err

    async def stored() -> str:
        ledger = await open_ledger(settings, keys)
        try:
            [hold] = await LegalHolds(ledger).list_holds(include_released=True)
            return f"{hold.reason} {hold.placed_by} {hold.release_reason} {hold.released_by}"
        finally:
            await ledger.dispose()

    assert "kanarie" not in asyncio.run(stored()).lower()
    assert b"kanarie" not in (lethe_home / "lethe.db").read_bytes().lower()


def test_what_is_kept_is_told_when_it_is_not_what_was_typed() -> None:
    person = PersonText((Subject(ref="ps_1", email="ada@example.org"),))
    told: list[tuple[str, str]] = []
    why, by = person.kept(
        " called ada@example.org, ticket 7 ",
        "kim (ada@example.org's case)",
        limit=20,
        rewritten=lambda what, kept: told.append((what, kept)),
    )
    assert "ada@example.org" not in why + by and len(why) <= 20
    assert told == [("reason", why), ("operator", by)]
    told.clear()
    assert person.kept("ticket 7", " kim ", rewritten=lambda *x: told.append(x)) == (
        "ticket 7",
        "kim",
    )
    assert told == []  # surrounding blanks are not a rewrite
