"""The sql connector applies each identifier kind's matching policy (on SQLite; the same on
every backend is shown in test_matching_across_backends.py): ids exact unless a rule opts in,
``name`` never alone, look-alikes left and reported, old ``case_insensitive`` maps loaded
where their meaning holds."""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import (
    ConnectorConfigError,
    ConnectorRegistry,
    Erased,
    NotSearched,
    Subject,
)
from connectors.sql import SqlConnector, keyed_hash

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, ref TEXT, email TEXT, full_name TEXT);
"""
ROWS = [
    (1, "C-1815", "ada@example.org", "Ada Byron"),
    (2, "c-1815", "other@example.org", "Ada Byron"),  # another customer, another case
    (3, "C-1816", " ada@example.org", "Ada Byron"),  # her address with a space around it
    (4, "C-1817", "ada@example.org", "Augusta King"),  # her address under another name
    (5, None, None, None),
]
ADA = Subject("ps_ada", "ada@example.org", {"customer_id": "C-1815", "name": "Ada Byron"})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", ROWS)
    return path


def build(db: Path, *rules: dict[str, Any], **options: Any) -> SqlConnector:
    tables = [{"table": "customers", "action": "delete", **rule} for rule in rules]
    c = ConnectorRegistry({"sql": SqlConnector}).build(
        "crm", "sql", {"url": f"sqlite:///{db}", "tables": tables, **options}
    )
    assert isinstance(c, SqlConnector)
    return c


def ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM customers ORDER BY id")]


def refused(**rule: Any) -> str:
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry({"sql": SqlConnector}).build(
            "crm", "sql", {"url": "sqlite://", "tables": [{"table": "customers", **rule}]}
        )
    return str(err.value)


async def test_an_id_is_exact_unless_the_rule_opts_in(db: Path) -> None:
    # C-1815 used to erase c-1815 too: every kind was case-insensitive by default.
    exact = build(db, {"key": "ref", "identifier": "customer_id"})
    try:
        outcome = await exact.erase(ADA, "er-1")
    finally:
        await exact.aclose()
    assert isinstance(outcome, Erased) and outcome.counts == {"customers.deleted": 1}
    assert ids(db) == [2, 3, 4, 5]
    opted_in = build(
        db, {"key": "ref", "identifier": "customer_id", "match": "ascii_case_insensitive"}
    )
    try:
        outcome = await opted_in.erase(ADA, "er-2")
    finally:
        await opted_in.aclose()
    assert isinstance(outcome, Erased) and ids(db) == [3, 4, 5]


def test_name_alone_is_refused_at_load_in_one_line() -> None:
    message = refused(key="full_name", identifier="name", action="anonymize", nullify=["full_name"])
    assert "system 'crm'" in message and "table customers" in message
    assert "does not identify one person" in message and "\n" not in message
    also_name = refused(key="full_name", identifier="name", action="delete", also={"x": "name"})
    assert "does not identify one person" in also_name


async def test_name_with_an_identifying_key_narrows_it(db: Path) -> None:
    c = build(db, {"key": "full_name", "identifier": "name", "also": {"email": "email"}})
    try:
        plan = await c.plan(ADA)
        outcome = await c.erase(ADA, "er-1")
        nameless = await c.erase(Subject("ps_x", "ada@example.org"), "er-2")
    finally:
        await c.aclose()
    # Her address and her name: row 1. Not her namesake (2), not her address under another
    # name (4), not the look-alike address (3).
    assert plan.counts == {"customers.deleted": 1}
    assert isinstance(outcome, Erased) and ids(db) == [2, 3, 4, 5]
    # Without her name the rule cannot be applied: not searched, never "not found".
    assert isinstance(nameless, NotSearched) and nameless.missing == ("name",)
    assert nameless.evidence["not_searched"] == ["customers (no name)"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"key": "email", "identifier": "email", "match": "exact"}, "cannot be matched 'exact'"),
        ({"key": "ref", "identifier": "customer_id", "match": "phone"}, "cannot be matched"),
        ({"key": "id", "parent": "x.id", "match": "exact"}, "only apply to an identifier rule"),
        ({"key": "ref", "identifier": "customer_id", "also": {"ref": "email"}}, "key column"),
        ({"key": "ref", "identifier": "customer_id", "also": {"e": "shoe"}}, "unknown identifier"),
        ({"key": "email", "identifier": "email", "case_insensitive": False}, "no longer applies"),
    ],
)
def test_matching_settings_are_checked_at_load(rule: dict[str, Any], message: str) -> None:
    text = refused(action="delete", **rule)
    assert message in text and "system 'crm'" in text


def test_old_case_insensitive_settings_load_where_their_meaning_holds() -> None:
    def rule(**fields: Any) -> Any:
        return build(Path("/nonexistent"), {"action": "delete", **fields}).options.tables[0]

    # On an id it was the opt-in (now A-Z only); off, the id is exact as now.
    assert rule(key="ref", identifier="customer_id", case_insensitive=True).match == (
        "ascii_case_insensitive"
    )
    assert rule(key="ref", identifier="customer_id", case_insensitive=False).match is None
    # On an address, true is the policy; a name may still be exact.
    assert rule(key="email", identifier="email", case_insensitive=True).match is None
    assert (
        rule(
            key="full_name", identifier="name", also={"email": "email"}, case_insensitive=False
        ).match
        == "exact"
    )


async def test_lookalikes_are_left_and_reported(db: Path) -> None:
    c = build(db, {"key": "email", "identifier": "email", "label": "contacts"})
    try:
        outcome = await c.erase(ADA, "er-1")
        residual = await c.verify(ADA)
    finally:
        await c.aclose()
    # " ada@example.org" is not her address; it may be her data: left, and reported, so the
    # request does not end verified clean.
    assert isinstance(outcome, Erased) and outcome.counts == {"contacts.deleted": 2}
    # The erase's own check counts her rows only (it stays index-friendly); verify, which Lethe
    # runs next, also searches for look-alikes.
    assert outcome.evidence["remaining_after_commit"] == 0
    assert ids(db) == [2, 3, 5]
    assert residual.remaining == {"contacts.lookalike": 1}


async def test_a_decomposed_address_is_found_and_a_kelvin_sign_is_not(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [
                (1, "1", unicodedata.normalize("NFD", "Zoë.Kovač@Example.org"), "x"),
                (2, "2", "zoë.\u212aovač@example.org", "x"),  # KELVIN SIGN: lower() says k
                (3, "3", "ZOË.KOVAČ@example.org", "x"),  # only Unicode folding calls it hers
                (4, "4", "zoe\u0308.kovac@example.org", "x"),  # no caron: someone else
            ],
        )
    c = build(path, {"key": "email", "identifier": "email"})
    try:
        outcome = await c.erase(Subject("ps_z", "zoë.kovač@example.org"), "er-1")
    finally:
        await c.aclose()
    assert isinstance(outcome, Erased) and ids(path) == [2, 3, 4]


def test_the_keyed_hash_is_of_the_kinds_normal_form() -> None:
    secret = "k" * 16
    same = keyed_hash(secret, "ada@example.org")
    assert keyed_hash(secret, " Ada@Example.ORG ") == same
    nfd = unicodedata.normalize("NFD", "Zoë@x.io")
    assert keyed_hash(secret, nfd) == keyed_hash(secret, "zoë@x.io")
    assert keyed_hash(secret, "ZOË@x.io") != keyed_hash(secret, "zoë@x.io")  # only A-Z fold
    assert keyed_hash(secret, "Ada_B", "username") != keyed_hash(secret, "ada_b", "username")
    assert keyed_hash(secret, "+44 20 7946 0958", "phone") == keyed_hash(
        secret, "+442079460958", "phone"
    )
    with pytest.raises(ValueError, match="no normal form"):
        keyed_hash(secret, "\u212aate@x.io")


async def test_the_erase_of_an_ascii_identifier_stays_on_an_index(db: Path) -> None:
    # Every statement an erase runs can use an index: lower(email) (an expression index) for
    # an address, ref for an exact id, the receipts table's primary key for its receipt; only
    # verify's look-alike search is a LIKE '%…%'.
    c = build(
        db,
        {"key": "email", "identifier": "email", "label": "by_email"},
        {"key": "ref", "identifier": "customer_id", "label": "by_ref"},
    )
    statements: list[str] = []
    sa.event.listen(
        c._get_engine().sync_engine,
        "before_cursor_execute",
        lambda _conn, _cur, statement, *_: statements.append(" ".join(statement.split())),
    )
    try:
        await c.erase(ADA, "er-1")
        erased = list(statements)
        statements.clear()
        await c.verify(ADA)
    finally:
        await c.aclose()
    where = [s.partition(" WHERE ")[2] for s in erased if " WHERE " in s]
    receipt = "lethe_erasure_receipts.system = ? AND lethe_erasure_receipts.erase_key = ?"
    assert where and all(
        "lower(CAST(email AS VARCHAR)) = ?" in w or "CAST(ref AS VARCHAR) = ?" in w or w == receipt
        for w in where
    ), where
    assert not any("LIKE" in s for s in erased)
    assert any("LIKE" in s for s in statements)
