"""A key column of whole numbers (connectors/sql.py): compared as a number, so that the plain
index the docs advise serves the look-up (on PostgreSQL ``col = $1::BIGINT`` is an Index Scan
where ``CAST(col AS VARCHAR) = '…'`` scanned every row), and an identifier beyond the column's
range is simply not found on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import Erased, IdentifierMatch, NotFound, Subject
from connectors.sql import SqlConnector, _candidates, _decimal
from tests.connectors.databases import BACKENDS, provision

pytestmark = pytest.mark.services


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("7", 7),
        ("-7", -7),
        (str(2**31 - 1), 2**31 - 1),
        (str(-(2**31)), -(2**31)),
        (str(2**31), None),  # beyond an integer column: the text comparison, which meets none
        ("07", None),
        ("+7", None),
        ("-0", None),
        ("7.0", None),
        ("7e0", None),
        ("\u0667", None),  # ARABIC-INDIC DIGIT SEVEN: int() reads it, a database never prints it
        ("", None),
    ],
)
def test_only_a_number_as_a_database_prints_it_is_compared_as_one(
    text: str, number: int | None
) -> None:
    assert _decimal(text, 2**31 - 1) == number


def test_the_candidate_is_a_plain_equality_only_for_a_column_of_numbers() -> None:
    m = IdentifierMatch.of("user_id", "1815")
    assert m is not None
    as_number = str(_candidates(m, "no", whole_numbers=2**63 - 1).compile())
    as_text = str(_candidates(m, "no").compile())
    around = str(_candidates(m, "no", around=True, whole_numbers=2**63 - 1).compile())
    assert as_number == "no = :no_1"
    assert "CAST(no AS VARCHAR)" in as_text
    assert "LIKE" in around and "CAST" in around  # the look-alike search reads the text form


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_identifier_beyond_the_columns_range_is_not_found_not_refused(
    backend: str, tmp_path: Path
) -> None:
    async with provision(backend, tmp_path) as db:
        md = sa.MetaData(schema=db.schema)
        sa.Table(
            "members",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("member_no", sa.Integer, nullable=True, index=True),
            sa.Column("tiny_no", sa.SmallInteger, nullable=True),
        )
        await db.create(md)
        async with db.engine.begin() as conn:
            await conn.execute(
                md.tables[db.qualify("members")].insert(),
                [
                    {"id": 1, "member_no": 2**31 - 1, "tiny_no": 7},
                    {"id": 2, "member_no": 30, "tiny_no": 300},
                ],
            )
        rules = [
            {"table": db.qualify("members"), "label": label, "key": key, "identifier": "user_id",
             "action": "delete"}
            for label, key in (("members", "member_no"), ("tiny", "tiny_no"))
        ]  # fmt: skip
        connector = SqlConnector(
            "club", SqlConnector.Options.model_validate({"url": db.url, "tables": rules})
        )
        try:
            beyond = Subject("ps_a", None, {"user_id": str(2**31)})
            assert isinstance(await connector.erase(beyond, "er-beyond"), NotFound)
            assert dict((await connector.verify(beyond)).remaining) == {}
            last = Subject("ps_b", None, {"user_id": str(2**31 - 1)})
            erased = await connector.erase(last, "er-last")
            assert isinstance(erased, Erased) and dict(erased.counts) == {"members.deleted": 1}
            async with db.engine.connect() as conn:
                left = await conn.execute(sa.text(f"SELECT id FROM {db.qualify('members')}"))
                assert [r[0] for r in left] == [2]
        finally:
            await connector.aclose()
