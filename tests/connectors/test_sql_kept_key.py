"""``keep_key``: an anonymising rule matched through a parent may keep its key column (the
link to the parent's row) and overwrite only the columns the job names, when the parent's
rows stop being the subject's. Everything else is refused when the map is loaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connectors import ConnectorConfigError, ConnectorRegistry, Erased, NotFound, Subject
from connectors.sql import SqlConnector

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, address TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, shipping_address TEXT,
                     total INTEGER);
"""

ADA = Subject(ref="ps_test", email="ada@example.org")

CUSTOMERS = {
    "table": "customers",
    "key": "email",
    "identifier": "email",
    "action": "anonymize",
    "nullify": ["email", "name", "address"],
}
ORDERS = {
    "table": "orders",
    "key": "customer_id",
    "parent": "customers.id",
    "action": "anonymize",
    "keep_key": True,
    "nullify": ["shipping_address"],
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        people = [
            (1, "ada@example.org", "Ada", "1 Byron St"),
            (2, "ADA@example.org.uk", "Other Ada", "2 Elsewhere"),
            (3, " ada@example.org", "Spaced Ada", "3 Margin Rd"),
            (4, "grace@example.org", "Grace", "4 Navy Yard"),
        ]
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", people)
        for cid, *_rest in people:
            conn.executemany(
                "INSERT INTO orders (customer_id, shipping_address, total) VALUES (?, ?, ?)",
                [(cid, f"ship {cid}", 10 * cid), (cid, f"ship again {cid}", 11 * cid)],
            )
    return path


def build(db: Path, *rules: dict[str, Any]) -> SqlConnector:
    options = {"url": f"sqlite:///{db}", "tables": list(rules)}
    connector = ConnectorRegistry({"sql": SqlConnector}).build("shop", "sql", options)
    assert isinstance(connector, SqlConnector)
    return connector


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("customers", "orders")
        }


async def test_the_orders_keep_their_link_and_lose_only_the_named_columns(shop: Path) -> None:
    before = dump(shop)
    c = build(shop, CUSTOMERS, ORDERS)
    outcome = await c.erase(ADA, "er-1")
    after = dump(shop)
    assert isinstance(outcome, Erased)
    assert outcome.counts == {"customers.anonymized": 1, "orders.anonymized": 2}
    assert after["customers"][0] == (1, None, None, None)
    # The orders still belong to customer 1 (now nobody), totals kept, addresses gone.
    assert after["orders"][:2] == [(1, 1, None, 10), (2, 1, None, 11)]
    # Every other row, byte for byte: look-alikes included.
    assert after["customers"][1:] == before["customers"][1:]
    assert after["orders"][2:] == before["orders"][2:]
    # Verification matches through the parent again: nothing of Ada's is left to find.
    residual = await c.verify(ADA)
    assert {k: v for k, v in residual.remaining.items() if not k.endswith(".lookalike")} == {}
    # And a second erase finds nothing to do.
    assert isinstance(await c.erase(ADA, "er-2"), NotFound)
    assert dump(shop) == after
    await c.aclose()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{**CUSTOMERS, "nullify": ["name", "address"]}, ORDERS],
            r"table customers: anonymize must overwrite its key column 'email'.*keep_key = true",
        ),
        (
            [{**CUSTOMERS, "nullify": ["name", "address"], "keep_key": True}, ORDERS],
            "keep_key only applies to a rule matched through a parent",
        ),
        (
            [CUSTOMERS, {**ORDERS, "nullify": ["customer_id", "shipping_address"]}],
            "keep_key, yet the key column 'customer_id' is overwritten",
        ),
        (
            [CUSTOMERS, {**ORDERS, "nullify": []}],
            "anonymize overwrites no column",
        ),
        (
            [CUSTOMERS, {k: v for k, v in ORDERS.items() if k != "nullify"} | {"action": "delete"}],
            "keep_key only applies to anonymize",
        ),
        (
            [
                {
                    "table": "customers",
                    "key": "email",
                    "identifier": "email",
                    "action": "retain",
                    "legal_basis": "gdpr-17-3-b",
                    "retain_days": 30,
                },
                ORDERS,
            ],
            "keep_key needs a parent that stops being the subject's.*retains its rows",
        ),
    ],
)
def test_a_kept_key_that_would_keep_the_person_is_refused(
    shop: Path, rules: list[dict[str, Any]], message: str
) -> None:
    before = dump(shop)
    with pytest.raises(ConnectorConfigError, match=message) as refused:
        build(shop, *rules)
    assert len(str(refused.value).splitlines()) == 1
    assert dump(shop) == before
