"""The sql connector on SQLite: what is erased, what is kept, what is refused."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import (
    BlastRadiusExceeded,
    ConnectorConfigError,
    ConnectorRegistry,
    Erased,
    NotFound,
    PermanentError,
    Retained,
    Subject,
    TransientError,
)
from connectors.sql import SqlConnector

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);
CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES users(id),
                    author_name TEXT, body TEXT);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, email TEXT, amount INTEGER);
"""

SUBJECT = Subject(ref="ps_test", email="ada@example.org")


def tables(**overrides: Any) -> list[dict[str, Any]]:
    return [
        {"table": "users", "key": "email", "identifier": "email", "action": "delete"},
        {
            "table": "posts",
            "key": "author_id",
            "parent": "users.id",
            "action": "anonymize",
            "set": {"author_id": 0, "author_name": "Anonymous"},
        },
        {
            "table": "invoices",
            "key": "email",
            "identifier": "email",
            "action": "retain",
            "legal_basis": "gdpr-17-3-b",
            "retain_days": 3650,
            "note": "tax law",
        },
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        people = [
            (1, "ada@example.org", "Ada"),
            (2, "nada@example.org", "Nada"),
            (3, "grace@example.org", "Grace"),
            (4, "ADA@example.org.uk", "Other Ada"),
        ]
        conn.executemany("INSERT INTO users VALUES (?, ?, ?)", people)
        for uid, _, name in people:
            conn.executemany(
                "INSERT INTO posts (author_id, author_name, body) VALUES (?, ?, ?)",
                [(uid, name, f"hello from {name}"), (uid, name, "again")],
            )
            conn.execute(
                "INSERT INTO invoices (email, amount) VALUES (?, 100)", (people[uid - 1][1],)
            )
    return path


def build(db: Path, **options: Any) -> SqlConnector:
    options.setdefault("url", f"sqlite:///{db}")
    options.setdefault("tables", tables())
    connector = ConnectorRegistry({"sql": SqlConnector}).build("app", "sql", options)
    assert isinstance(connector, SqlConnector)
    return connector


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("users", "posts", "invoices")
        }


async def test_erase_deletes_anonymises_and_retains(db: Path) -> None:
    before = dump(db)
    c = build(db)
    outcome = await c.erase(SUBJECT, "er-1")
    after = dump(db)
    await c.aclose()

    assert isinstance(outcome, Retained)
    assert outcome.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert outcome.retained_counts == {"invoices.retained": 1}
    assert outcome.legal_basis == "gdpr-17-3-b"
    assert outcome.retained_until == date.today() + timedelta(days=3650)
    assert [u for u in after["users"] if u[0] == 1] == []
    assert [p for p in after["posts"] if p[1] == 0] == [
        (1, 0, "Anonymous", "hello from Ada"),
        (2, 0, "Anonymous", "again"),
    ]
    # Everyone else, byte for byte; the retained invoice untouched.
    assert [u for u in before["users"] if u[0] != 1] == after["users"]
    assert [p for p in before["posts"] if p[1] != 1] == [p for p in after["posts"] if p[1] != 0]
    assert before["invoices"] == after["invoices"]


async def test_erase_is_case_insensitive_and_exact(db: Path) -> None:
    c = build(db)
    outcome = await c.erase(Subject(ref="ps", email="Ada@Example.ORG"), "er-1")
    await c.aclose()
    assert isinstance(outcome, Retained)
    remaining = {u[1] for u in dump(db)["users"]}
    assert remaining == {"nada@example.org", "grace@example.org", "ADA@example.org.uk"}


async def test_second_erase_changes_nothing(db: Path) -> None:
    c = build(db)
    await c.erase(SUBJECT, "er-1")
    snapshot = dump(db)
    again = await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert dump(db) == snapshot
    # Only the retained invoice still matches.
    assert isinstance(again, Retained) and again.counts == {}


async def test_unknown_subject_is_not_found(db: Path) -> None:
    before = dump(db)
    c = build(db)
    outcome = await c.erase(Subject(ref="ps", email="nobody@example.org"), "er-1")
    await c.aclose()
    assert isinstance(outcome, NotFound)
    assert dump(db) == before


async def test_erased_when_nothing_is_retained(db: Path) -> None:
    c = build(db, tables=tables()[:2])
    outcome = await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert isinstance(outcome, Erased)
    assert outcome.evidence["rows_changed"] == 3
    assert outcome.evidence["remaining_after_commit"] == 0  # verified after the commit


async def test_verify_reports_leftovers_but_not_retained_rows(db: Path) -> None:
    c = build(db)
    assert not (await c.verify(SUBJECT)).clean  # before: everything still there
    await c.erase(SUBJECT, "er-1")
    residual = await c.verify(SUBJECT)
    await c.aclose()
    assert residual.clean, residual.remaining


async def test_blast_radius_refuses_and_changes_nothing(db: Path) -> None:
    before = dump(db)
    c = build(db, max_rows=2)  # the subject has 1 user + 2 posts = 3 rows to change
    with pytest.raises(BlastRadiusExceeded) as err:
        await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert err.value.would_touch == 3 and err.value.limit == 2
    assert "nothing was changed" in str(err.value)
    assert dump(db) == before


@pytest.mark.parametrize("email", ["", "   "])
async def test_empty_identifier_matches_nothing(db: Path, email: str) -> None:
    before = dump(db)
    c = build(db)
    outcome = await c.erase(Subject(ref="ps", email=email), "er-1")
    await c.aclose()
    assert isinstance(outcome, NotFound)
    assert dump(db) == before


async def test_wildcards_are_data_not_patterns(db: Path) -> None:
    before = dump(db)
    c = build(db)
    for pattern in ("%", "%@example.org", "_da@example.org", "' OR 1=1 --"):
        assert isinstance(await c.erase(Subject(ref="ps", email=pattern), "er-1"), NotFound)
    await c.aclose()
    assert dump(db) == before


async def test_check_names_missing_tables(db: Path) -> None:
    bad = tables()
    bad[0] = {**bad[0], "table": "no_such_table"}
    bad[1] = {**bad[1], "parent": "no_such_table.id"}
    c = build(db, tables=bad)
    with pytest.raises(PermanentError, match="no_such_table"):
        await c.check()
    await c.aclose()
    await build(db).check()


async def test_unreachable_database_is_transient(tmp_path: Path) -> None:
    c = build(tmp_path / "missing-dir" / "x.db")
    with pytest.raises(TransientError):
        await c.erase(SUBJECT, "er-1")
    await c.aclose()


async def test_failure_message_never_carries_the_identifier(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER no_delete BEFORE DELETE ON users "
            "BEGIN SELECT RAISE(ABORT, 'deletes are blocked'); END"
        )
    c = build(db)
    with pytest.raises(PermanentError) as err:
        await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert "deletes are blocked" in str(err.value)
    assert "ada@example.org" not in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tables": []}, "at least 1"),
        ({"max_rows": 0}, "max_rows"),
        (
            {
                "tables": [
                    {
                        "table": "users; DROP TABLE x",
                        "key": "email",
                        "identifier": "email",
                        "action": "delete",
                    }
                ]
            },
            "plain SQL identifier",
        ),
        ({"tables": [{"table": "users", "key": "email", "action": "delete"}]}, "exactly one"),
        (
            {
                "tables": [
                    {
                        "table": "users",
                        "key": "email",
                        "identifier": "shoe_size",
                        "action": "delete",
                    }
                ]
            },
            "unknown identifier",
        ),
        (
            {"tables": [{"table": "posts", "key": "a", "parent": "users.id", "action": "delete"}]},
            "not in the map",
        ),
        (
            {
                "tables": [
                    {
                        "table": "users",
                        "key": "email",
                        "identifier": "email",
                        "action": "anonymize",
                        "set": {"name": "x"},
                    }
                ]
            },
            "overwrite its key",
        ),
        (
            {
                "tables": [
                    {
                        "table": "users",
                        "key": "email",
                        "identifier": "email",
                        "action": "retain",
                        "legal_basis": "because",
                        "retain_days": 1,
                    }
                ]
            },
            "unknown legal_basis",
        ),
        (
            {
                "tables": [
                    {
                        "table": "users",
                        "key": "email",
                        "identifier": "email",
                        "action": "retain",
                        "legal_basis": "contract",
                    }
                ]
            },
            "retain_days",
        ),
        (
            {
                "tables": [
                    {"table": "a", "key": "x", "parent": "b.id", "action": "delete"},
                    {"table": "b", "key": "id", "parent": "a.x", "action": "delete"},
                ]
            },
            "cycle",
        ),
        ({"colour": "blue"}, "colour"),
        ({"url": "not a url"}, "SQLAlchemy"),
    ],
)
def test_bad_options_fail_at_load_with_the_system_name(
    db: Path, change: dict[str, Any], message: str
) -> None:
    options = {"url": f"sqlite:///{db}", "tables": tables(), **change}
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry({"sql": SqlConnector}).build("crm", "sql", options)
    assert "system 'crm'" in str(err.value)
    assert message in str(err.value)


def test_keyed_hash_replaces_a_column_and_needs_a_secret(db: Path) -> None:
    from connectors.sql import keyed_hash

    rules = tables()[:2]
    rules[1] = {**rules[1], "set": {"author_id": 0}, "hash": {"author_name": "email"}}
    with pytest.raises(ConnectorConfigError, match="hash_secret"):
        build(db, tables=rules)
    with pytest.raises(ConnectorConfigError, match="at least 16"):
        build(db, tables=rules, hash_secret="short")
    assert keyed_hash("k" * 16, " Ada@Example.org ") == keyed_hash("k" * 16, "ada@example.org")
    assert keyed_hash("k" * 16, "ada@example.org") != keyed_hash("j" * 16, "ada@example.org")


async def test_keyed_hash_is_written_and_the_secret_never_shown(db: Path) -> None:
    from connectors.sql import keyed_hash

    secret = "s3cret-0123456789abcdef"
    rules = tables()[:2]
    rules[1] = {**rules[1], "set": {"author_id": 0}, "hash": {"author_name": "email"}}
    c = build(db, tables=rules, hash_secret=secret)
    assert secret not in repr(c.options)
    outcome = await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert isinstance(outcome, Erased)
    names = {p[2] for p in dump(db)["posts"] if p[1] == 0}
    assert names == {keyed_hash(secret, "ada@example.org")}


async def test_chunks_give_the_same_result(db: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "copy.db"
    shutil.copyfile(db, other)
    with sqlite3.connect(db) as conn:  # a subject with many rows
        conn.executemany(
            "INSERT INTO posts (author_id, author_name, body) VALUES (1, 'Ada', ?)",
            [(f"post {i}",) for i in range(40)],
        )
    with sqlite3.connect(other) as conn:
        conn.executemany(
            "INSERT INTO posts (author_id, author_name, body) VALUES (1, 'Ada', ?)",
            [(f"post {i}",) for i in range(40)],
        )
    small, large = build(db, chunk_size=3), build(other, chunk_size=500)
    a, b = await small.erase(SUBJECT, "er-1"), await large.erase(SUBJECT, "er-1")
    await small.aclose()
    await large.aclose()
    assert isinstance(a, Retained) and isinstance(b, Retained)
    assert a.counts == b.counts == {"users.deleted": 1, "posts.anonymized": 42}
    assert dump(db) == dump(other)


async def test_plan_reports_a_refusal_before_the_erase(db: Path) -> None:
    c = build(db, max_rows=2)
    plan = await c.plan(SUBJECT)
    await c.aclose()
    assert plan.would_change == 3 and plan.limit == 2 and plan.refused
    assert plan.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert plan.retained_counts == {"invoices.retained": 1}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [
                {"table": "users", "key": "email", "identifier": "email", "action": "delete"},
                {"table": "users", "key": "email", "identifier": "email", "action": "delete"},
            ],
            "two rules on the same key",
        ),
        (
            [
                {"table": "users", "key": "email", "identifier": "email", "action": "delete"},
                {"table": "users", "key": "name", "identifier": "name", "action": "delete"},
                {"table": "posts", "key": "author_id", "parent": "users.id", "action": "delete"},
            ],
            "has several rules",
        ),
        (
            [
                {"table": "posts", "key": "author_name", "identifier": "name", "action": "delete"},
                {
                    "table": "posts",
                    "key": "author_id",
                    "identifier": "user_id",
                    "action": "anonymize",
                    "set": {"author_id": 0, "author_name": "x"},
                },
            ],
            "overwrites 'author_name'",
        ),
    ],
)
def test_rules_on_one_table_are_checked(db: Path, rules: list[Any], message: str) -> None:
    with pytest.raises(ConnectorConfigError, match=message):
        build(db, tables=rules)


async def test_rules_a_request_has_no_identifier_for_are_named(db: Path) -> None:
    # `lethe submit` carries only the address: a rule keyed by user name finds nothing, and
    # the outcome must say it was not searched rather than look complete.
    rules = [
        *tables(),
        {
            "table": "invoices",
            "key": "amount",
            "identifier": "username",
            "action": "delete",
            "label": "invoices_by_name",
        },
    ]
    connector = build(db, tables=rules)
    try:
        outcome = await connector.erase(SUBJECT, "er-1")
        nobody = await connector.erase(Subject(ref="ps_x", email="x@example.net"), "er-2")
        named = await connector.erase(
            Subject(ref="ps_y", email="grace@example.org", identifiers={"username": "-1"}),
            "er-3",
        )
    finally:
        await connector.aclose()
    assert outcome.evidence["not_searched"] == ["invoices_by_name (no username)"]
    assert nobody.evidence["not_searched"] == ["invoices_by_name (no username)"]
    assert "not_searched" not in named.evidence
