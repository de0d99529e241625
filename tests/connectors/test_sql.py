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
    NotSearched,
    PermanentError,
    Retained,
    Subject,
    TransientError,
)
from connectors.sql import SqlConnector, _Retention

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


async def test_second_erase_changes_nothing_and_replays_the_first(db: Path) -> None:
    c = build(db)
    first = await c.erase(SUBJECT, "er-1")
    snapshot = dump(db)
    again = await c.erase(SUBJECT, "er-1")
    await c.aclose()
    assert dump(db) == snapshot
    # What the first erase did, from its receipt; not "only the invoice is left".
    assert isinstance(first, Retained) and isinstance(again, Retained)
    assert again.counts == first.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert again.evidence["replayed_from_receipt"] is True


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
    # A blank identifier is no identifier: nothing was looked for, and the outcome says so.
    assert isinstance(outcome, NotSearched) and outcome.missing == ("email",)
    assert not outcome.counts
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
                {"table": "users", "key": "name", "identifier": "username", "action": "delete"},
                {"table": "posts", "key": "author_id", "parent": "users.id", "action": "delete"},
            ],
            "has several rules",
        ),
        (
            [
                {
                    "table": "posts",
                    "key": "author_name",
                    "identifier": "username",
                    "action": "delete",
                },
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


async def test_rules_a_request_has_no_identifier_for_are_not_searched(db: Path) -> None:
    # `lethe submit` carries only the address: a rule keyed by user name cannot look, and
    # the outcome must say it was not searched rather than look complete (never NotFound);
    # what the address finds is erased and kept all the same, and counted.
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
    assert isinstance(outcome, NotSearched) and outcome.missing == ("username",)
    assert outcome.counts == {"users.deleted": 1, "posts.anonymized": 2}
    assert outcome.kept is not None and outcome.kept.legal_basis == "gdpr-17-3-b"
    assert outcome.retained_counts == {"invoices.retained": 1}
    assert outcome.evidence["not_searched"] == ["invoices_by_name (no username)"]
    # Nobody found by the address: still not "not found", since a rule did not look.
    assert isinstance(nobody, NotSearched) and nobody.missing == ("username",)
    assert nobody.counts == {} and nobody.evidence["not_searched"] == [
        "invoices_by_name (no username)"
    ]
    # With every identifier the rules need, every rule looked.
    assert isinstance(named, Retained) and "not_searched" not in named.evidence


# -- the legal basis depends on the request's jurisdiction --------------------------------------

#: The invoice rule with a basis for each law: the same rows, kept for the same reason.
BY_LAW: dict[str, Any] = {
    "legal_basis": {"gdpr": "gdpr-17-3-b", "ccpa": "ccpa-105-d-8"},
    "retain_days": 3650,
    "note": "tax law",
}


def invoice_rule(**fields: Any) -> list[dict[str, Any]]:
    """``tables()`` with the invoice rule's retention fields replaced by ``fields``."""
    rules = tables()
    kept = {k: v for k, v in rules[2].items() if k not in ("legal_basis", "retain_days", "note")}
    rules[2] = {**kept, **fields}
    return rules


def ada(jurisdiction: str | None) -> Subject:
    return Subject(ref="ps_test", email="ada@example.org", jurisdiction=jurisdiction)


@pytest.mark.parametrize(
    ("jurisdiction", "basis"), [("gdpr", "gdpr-17-3-b"), ("ccpa", "ccpa-105-d-8")]
)
async def test_a_retention_cites_the_basis_of_the_requests_law(
    db: Path, jurisdiction: str, basis: str
) -> None:
    c = build(db, tables=invoice_rule(**BY_LAW))
    try:
        plan = await c.plan(ada(jurisdiction))
        outcome = await c.erase(ada(jurisdiction), "er-1")
    finally:
        await c.aclose()
    assert isinstance(outcome, Retained)
    assert outcome.legal_basis == basis
    assert outcome.retained_until == date.today() + timedelta(days=3650)
    # The dry run names the basis the erase then records, rule by rule.
    assert [r["legal_basis"] for r in plan.evidence["retained"]] == [basis]
    assert plan.evidence["retained"] == outcome.evidence["retained"]


async def test_a_single_basis_still_answers_every_request(db: Path) -> None:
    c = build(db)
    try:
        gdpr = await c.plan(ada("gdpr"))
        outcome = await c.erase(ada("ccpa"), "er-1")
    finally:
        await c.aclose()
    assert isinstance(outcome, Retained) and outcome.legal_basis == "gdpr-17-3-b"
    assert gdpr.evidence["retained"][0]["legal_basis"] == "gdpr-17-3-b"


async def test_note_and_period_may_also_depend_on_the_law(db: Path) -> None:
    rules = invoice_rule(
        legal_basis={"gdpr": "gdpr-17-3-b", "ccpa": "ccpa-105-d-8"},
        retain_days={"gdpr": 3650, "ccpa": 2555},
        note={"gdpr": "tax law (10 years)", "ccpa": "IRS records (7 years)"},
    )
    c = build(db, tables=rules)
    try:
        ccpa = await c.erase(ada("ccpa"), "er-1")
    finally:
        await c.aclose()
    assert isinstance(ccpa, Retained)
    assert (ccpa.legal_basis, ccpa.note) == ("ccpa-105-d-8", "invoices: IRS records (7 years)")
    assert ccpa.retained_until == date.today() + timedelta(days=2555)


@pytest.mark.parametrize("jurisdiction", ["ccpa", None])
async def test_no_basis_for_the_requests_law_fails_and_changes_nothing(
    db: Path, jurisdiction: str | None
) -> None:
    # Keeping the invoices without a basis is not allowed, and erasing them (the law says keep
    # them) is worse: the erase fails, permanently, before anything changes.
    rules = invoice_rule(legal_basis={"gdpr": "gdpr-17-3-b"}, retain_days=3650, note="tax law")
    before = dump(db)
    c = build(db, tables=rules)
    try:
        with pytest.raises(PermanentError) as planned:
            await c.plan(ada(jurisdiction))
        with pytest.raises(PermanentError) as erased:
            await c.erase(ada(jurisdiction), "er-1")
    finally:
        await c.aclose()
    assert dump(db) == before
    message = str(erased.value)
    assert message == str(planned.value)
    assert message.startswith("app: retain rule invoices has no legal basis for ")
    assert ("a ccpa request" if jurisdiction else "unknown jurisdiction") in message
    assert "ada" not in message


async def test_no_basis_for_the_law_matters_only_where_rows_are_kept(db: Path) -> None:
    # Nothing to keep: nothing needs a basis, and the person's account goes.
    rules = invoice_rule(legal_basis={"gdpr": "gdpr-17-3-b"}, retain_days=3650, note="tax law")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM invoices WHERE email = 'ada@example.org'")
    c = build(db, tables=rules)
    try:
        outcome = await c.erase(ada("ccpa"), "er-1")
    finally:
        await c.aclose()
    assert isinstance(outcome, Erased) and outcome.counts["users.deleted"] == 1


async def test_rules_sharing_a_label_each_report_their_own_rows(db: Path) -> None:
    # Two retain rules named alike: the label's total counts each row once, and each rule's
    # evidence entry holds its own rows, not the label's total.
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE old_invoices (id INTEGER PRIMARY KEY, email TEXT)")
        conn.executemany("INSERT INTO old_invoices (email) VALUES (?)", [("ada@example.org",)] * 2)
    rules = [
        *tables(),
        {
            "table": "old_invoices",
            "key": "email",
            "identifier": "email",
            "action": "retain",
            "label": "invoices",
            "legal_basis": "gdpr-17-3-e",
            "retain_days": 365,
            "note": "disputed",
        },
    ]
    c = build(db, tables=rules)
    try:
        plan = await c.plan(SUBJECT)
        outcome = await c.erase(SUBJECT, "er-1")
    finally:
        await c.aclose()
    assert isinstance(outcome, Retained)
    assert outcome.retained_counts == {"invoices.retained": 3}
    kept = outcome.evidence["retained"]
    assert [(k["legal_basis"], k["rows"]) for k in kept] == [("gdpr-17-3-b", 1), ("gdpr-17-3-e", 2)]
    assert sum(k["rows"] for k in kept) == sum(outcome.retained_counts.values())
    assert plan.evidence["retained"] == kept
    # The longest-dated part decides the date and the basis the ledger shows.
    assert outcome.legal_basis == "gdpr-17-3-b"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {**BY_LAW, "legal_basis": {"gpdr": "gdpr-17-3-b"}},
            "legal_basis names unknown jurisdiction 'gpdr' (known: gdpr, ccpa)",
        ),
        (
            {**BY_LAW, "legal_basis": {"gdpr": "gdpr-17-3-z"}},
            "unknown legal_basis.gdpr 'gdpr-17-3-z'",
        ),
        (
            {**BY_LAW, "legal_basis": {"gdpr": "ccpa-105-d-8"}},
            "legal_basis.gdpr is 'ccpa-105-d-8', an exception of another law",
        ),
        (
            {**BY_LAW, "legal_basis": {"ccpa": "gdpr-17-3-b"}},
            "legal_basis.ccpa is 'gdpr-17-3-b', an exception of another law",
        ),
        ({**BY_LAW, "legal_basis": {}}, "retain needs a legal_basis"),
        ({**BY_LAW, "note": {}}, "note is an empty table"),
        (
            {**BY_LAW, "note": {"gdpr": "tax law"}},
            "must name the same jurisdictions (legal_basis: ccpa, gdpr; note: gdpr)",
        ),
        ({**BY_LAW, "retain_days": {"gdpr": 10, "ccpa": 0}}, "retain_days must be at least 1"),
        ({**BY_LAW, "retain_days": 0}, "retain_days must be at least 1"),
        ({**BY_LAW, "note": {"ccpa": "x", "eu": "y"}}, "note names unknown jurisdiction 'eu'"),
    ],
)
def test_bad_bases_by_law_fail_at_load_with_the_system_name(
    db: Path, fields: dict[str, Any], message: str
) -> None:
    options = {"url": f"sqlite:///{db}", "tables": invoice_rule(**fields)}
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry({"sql": SqlConnector}).build("crm", "sql", options)
    assert "system 'crm'" in str(err.value)
    assert message in str(err.value)


def test_a_basis_of_no_law_may_stand_under_either(db: Path) -> None:
    rules = invoice_rule(
        legal_basis={"gdpr": "contract", "ccpa": "suppression"}, review_days=365, note="x"
    )
    rule = build(db, tables=rules).options.tables[2]
    assert [rule.retention_for(law) for law in ("gdpr", "ccpa", None)] == [
        _Retention("contract", "x", None, 365),
        _Retention("suppression", "x", None, 365),
        None,
    ]


def test_a_subjects_repr_names_the_law_but_no_identifier() -> None:
    s = Subject(
        ref="ps_1", email="ada@example.org", identifiers={"name": "Ada"}, jurisdiction="ccpa"
    )
    assert repr(s) == "Subject(ref='ps_1', jurisdiction='ccpa', identifiers=<2 hidden>)"


def test_connectors_know_the_jurisdictions_the_ledger_records() -> None:
    from connectors import JURISDICTIONS
    from lethe.deadlines import STATUTES

    assert set(JURISDICTIONS) == set(STATUTES)  # each has its statute's deadlines
