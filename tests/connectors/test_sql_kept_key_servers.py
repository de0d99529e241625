"""``keep_key`` on every database the sql connector supports: the orders of the subject keep
their link to the (anonymised) customer row and lose only the columns the job names; the
look-alike customers and their orders are untouched. Each backend must end in the same state,
written out below, so the same data gives the same result on each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import ConnectorRegistry, Erased, Subject
from connectors.sql import SqlConnector
from tests.connectors.databases import BACKENDS, SystemDatabase, provision

ADA = Subject(ref="ps_test", email="ada@example.org")

PEOPLE = [
    (1, "ada@example.org", "Ada", "1 Byron St"),
    (2, "ADA@example.org.uk", "Other Ada", "2 Elsewhere"),  # case and a longer domain
    (3, "ada+news@example.org", "Tagged Ada", "3 Margin Rd"),  # a plus-tag: another address
    (4, "grace@example.org", "Grace", "4 Navy Yard"),
]
ORDERS = [
    (10 * cid + j, cid, f"ship {cid}/{j}", 10 * cid + j) for cid, *_ in PEOPLE for j in (1, 2)
]


@pytest.fixture(params=BACKENDS)
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with provision(request.param, tmp_path) as db:
        md = sa.MetaData(schema=db.schema)
        customers = sa.Table(
            "customers",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("email", sa.String(255), nullable=True),
            sa.Column("name", sa.String(100), nullable=True),
            sa.Column("address", sa.String(200), nullable=True),
        )
        orders = sa.Table(
            "orders",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("customer_id", sa.Integer, nullable=False),
            sa.Column("shipping_address", sa.String(200), nullable=True),
            sa.Column("total", sa.Integer, nullable=False),
        )
        await db.create(md)
        async with db.engine.begin() as conn:
            await conn.execute(
                customers.insert(),
                [dict(zip(("id", "email", "name", "address"), p, strict=True)) for p in PEOPLE],
            )
            await conn.execute(
                orders.insert(),
                [
                    dict(zip(("id", "customer_id", "shipping_address", "total"), o, strict=True))
                    for o in ORDERS
                ],
            )
        yield db, customers, orders


def build(db: SystemDatabase) -> SqlConnector:
    tables = [
        {
            "table": db.qualify("customers"),
            "label": "customers",
            "key": "email",
            "identifier": "email",
            "action": "anonymize",
            "nullify": ["email", "name", "address"],
        },
        {
            "table": db.qualify("orders"),
            "label": "orders",
            "key": "customer_id",
            "parent": f"{db.qualify('customers')}.id",
            "action": "anonymize",
            "keep_key": True,
            "nullify": ["shipping_address"],
        },
    ]
    c = ConnectorRegistry({"sql": SqlConnector}).build(
        "shop", "sql", {"url": db.url, "tables": tables}
    )
    assert isinstance(c, SqlConnector)
    return c


async def dump(db: SystemDatabase, *tables: sa.Table) -> list[list[tuple[Any, ...]]]:
    async with db.engine.connect() as conn:
        return [
            [tuple(r) for r in await conn.execute(sa.select(t).order_by(t.c.id))] for t in tables
        ]


async def test_the_orders_keep_their_link_on_every_backend(shop: Any) -> None:
    db, customers, orders = shop
    connector = build(db)
    try:
        outcome = await connector.erase(ADA, "er-keep-1")
        assert isinstance(outcome, Erased)
        assert outcome.counts == {"customers.anonymized": 1, "orders.anonymized": 2}
        after_customers, after_orders = await dump(db, customers, orders)
        check = await connector.verify(ADA)
    finally:
        await connector.aclose()
    assert after_customers == [(1, None, None, None), *PEOPLE[1:]]
    assert after_orders == [
        (oid, cid, None if cid == 1 else ship, total) for oid, cid, ship, total in ORDERS
    ]
    assert not any(check.remaining.values()), check.remaining
