"""The ``sql`` connector erasing one subject from 1,000,000-row tables on PostgreSQL.

A database ``lethe_bench_sql_<pid>`` is made for the run (and dropped after), with tables of
``scale`` x 1,000,000 rows each, filled by ``generate_series``, and the index each matching
policy needs (docs/writing-a-connector.md):

    people    id, email, name, address      expression index on lower(email)
    orders    id, person_id, shipping_...   plain index on person_id (a parent -> child rule)
    accounts  id, customer_no (text), ...   plain index on customer_no
    members   id, member_no (integer), ...  plain index on member_no, later one on its text form

and last, a trigram index on ``lower(email)`` (pg_trgm), which docs/privacy.md advises for the
look-alike search of ``verify`` (a ``LIKE '%…%'``, otherwise a scan of the column).

Next to each subject's row sit look-alike bystanders the policy must not take: the same
address at a longer domain or with a prefix (``xperson-…``), an id differing in case only
(``c-0000123``: exact ids are exact) or with a suffix. One erase per subject through the real
connector (``SqlConnector.erase``: receipt, count, change, commit, the check after commit),
then ``verify`` (which also looks for values with whitespace around them). Each is timed; the
baseline, interleaved subject by subject, is a bare ``UPDATE … WHERE id = :pk`` of one row of the
same table through the same driver (a row set aside for it).

The SQL the connector runs is captured by SQLAlchemy's ``before_cursor_execute`` event (never
re-typed here) and each statement on the bench's tables is ``EXPLAIN``-ed with its own
parameters: the plan of the look-up shows whether an index serves it.

Before and after, the count and a checksum of every row no erase or baseline update may touch
(bystanders and look-alikes) are compared: equal, or the run fails; the subjects' rows must be
anonymised.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.bench import Bench
from tests.bench.postgres import postgres_reachable, scratch_database

__all__ = ["POLICIES", "ROWS", "SUBJECTS", "run"]

#: Rows of each table at full scale.
ROWS = 1_000_000
#: Subjects erased (and baseline rows updated) per policy at full scale.
SUBJECTS = 20
#: The target of issue 11: one subject's erase under 50 ms.
TARGET_MS = 50.0


def email_of(i: int) -> str:
    return f"person-{i:07d}@million.example"


def customer_no_of(i: int) -> str:
    return f"C-{i:07d}"


@dataclass(frozen=True)
class Policy:
    """One matching policy as a table map, the subject it erases, and what it changes."""

    key: str  # short, for the table printed
    name: str
    #: The table whose rows the look-up finds (for a parent -> child rule: the child).
    table: str
    tables: list[dict[str, Any]]
    #: The subject's identifiers for row number i.
    identifiers: Any
    #: (table, rows changed, SQL condition each changed row meets afterwards) for row i.
    changes: Any
    #: Index to create before this policy runs (None: the tables' own ones serve).
    extra_index: str | None = None
    #: A PostgreSQL extension the extra index needs (the policy is skipped without it).
    needs_extension: str | None = None
    note: str = ""


def _people_changed(i: int) -> list[tuple[str, str]]:
    return [("people", f"id = {i} AND email IS NULL AND name IS NULL AND address IS NULL")]


POLICIES: list[Policy] = [
    Policy(
        key="email",
        name="email: lower(email) = :w",
        table="people",
        tables=[
            {
                "table": "people",
                "key": "email",
                "identifier": "email",
                "action": "anonymize",
                "nullify": ["email", "name", "address"],
            }
        ],
        identifiers=lambda i: (email_of(i), {}),
        changes=_people_changed,
        note="expression index on lower(email)",
    ),
    Policy(
        key="parent_child",
        name="parent -> child: orders.person_id in people.id",
        table="orders",
        tables=[
            {
                "table": "people",
                "key": "email",
                "identifier": "email",
                "action": "anonymize",
                "nullify": ["email", "name", "address"],
            },
            {
                "table": "orders",
                "key": "person_id",
                "parent": "people.id",
                "action": "anonymize",
                "keep_key": True,
                "nullify": ["shipping_address"],
            },
        ],
        identifiers=lambda i: (email_of(i), {}),
        changes=lambda i: [
            *_people_changed(i),
            ("orders", f"person_id = {i} AND shipping_address IS NULL"),
        ],
        note="lower(email) on the parent, plain index on orders.person_id",
    ),
    Policy(
        key="id_text",
        name="exact id: customer_no = :w (text column)",
        table="accounts",
        tables=[
            {
                "table": "accounts",
                "key": "customer_no",
                "identifier": "customer_id",
                "action": "anonymize",
                "nullify": ["customer_no", "name", "address"],
            }
        ],
        identifiers=lambda i: (f"nobody-{i}@million.example", {"customer_id": customer_no_of(i)}),
        changes=lambda i: [
            ("accounts", f"id = {i} AND customer_no IS NULL AND name IS NULL AND address IS NULL")
        ],
        note="plain index on customer_no",
    ),
    Policy(
        key="id_integer",
        name="exact id: member_no = :w (integer column, plain index)",
        table="members",
        tables=[
            {
                "table": "members",
                "key": "member_no",
                "identifier": "user_id",
                "action": "delete",
            }
        ],
        identifiers=lambda i: (f"nobody-{i}@million.example", {"user_id": str(i)}),
        changes=lambda i: [("members", f"member_no = {i}")],  # gone: none may match
        note="plain index on member_no; a column of whole numbers is compared as a number",
    ),
    Policy(
        key="email_trigram",
        name="email: lower(email) = :w, and a trigram index for verify's look-alike search",
        table="people",
        tables=[
            {
                "table": "people",
                "key": "email",
                "identifier": "email",
                "action": "anonymize",
                "nullify": ["email", "name", "address"],
            }
        ],
        identifiers=lambda i: (email_of(i), {}),
        changes=_people_changed,
        extra_index="CREATE EXTENSION IF NOT EXISTS pg_trgm;"
        " CREATE INDEX people_email_trgm ON people USING gin (lower(email) gin_trgm_ops)",
        needs_extension="pg_trgm",
        note="lower(email), and gin (lower(email) gin_trgm_ops) (docs/privacy.md)",
    ),
]


@dataclass
class Rows:
    """Which rows of each table the run changes: subjects (per policy) and baseline rows."""

    n: int
    subjects: dict[str, list[int]] = field(default_factory=dict)  # policy name -> row numbers
    baseline: dict[str, list[int]] = field(default_factory=dict)  # table -> row ids

    def touched(self, table: str) -> set[int]:
        """Row ids of ``table`` an erase or a baseline update may change."""
        ids = set(self.baseline.get(table, ()))
        for policy in POLICIES:
            if table in {t["table"] for t in policy.tables}:
                ids.update(self.subjects.get(policy.name, ()))
        return ids


TABLE_DDL = """
CREATE TABLE people (id bigint PRIMARY KEY, email text, name text, address text);
CREATE TABLE orders (id bigint PRIMARY KEY, person_id bigint, shipping_address text);
CREATE TABLE accounts (id bigint PRIMARY KEY, customer_no text, name text, address text);
CREATE TABLE members (id bigint PRIMARY KEY, member_no bigint, name text);
"""

# Row i of each table belongs to person i. Every fifth address is stored in capitals (the
# same address by the policy: lower(email) finds it); every order's id is its person's.
FILL = """
INSERT INTO people SELECT i,
  CASE WHEN i % 5 = 0 THEN 'Person-' || lpad(i::text, 7, '0') || '@Million.Example'
       ELSE 'person-' || lpad(i::text, 7, '0') || '@million.example' END,
  'Person ' || i, i || ' Long Road' FROM generate_series(0, $1 - 1) AS i;
INSERT INTO orders SELECT i, i, i || ' Long Road, parcel' FROM generate_series(0, $1 - 1) AS i;
INSERT INTO accounts SELECT i, 'C-' || lpad(i::text, 7, '0'), 'Account ' || i, i || ' Short Lane'
  FROM generate_series(0, $1 - 1) AS i;
INSERT INTO members SELECT i, i, 'Member ' || i FROM generate_series(0, $1 - 1) AS i;
"""

INDEXES = """
CREATE INDEX people_email_lower ON people (lower(email));
CREATE INDEX orders_person ON orders (person_id);
CREATE INDEX accounts_customer_no ON accounts (customer_no);
CREATE INDEX members_member_no ON members (member_no);
"""


def lookalikes(i: int, n: int) -> dict[str, list[tuple[Any, ...]]]:
    """Rows that look like subject i's and are someone else's (ids from n up, unique by i)."""
    base = n + 10 * i
    email = email_of(i)
    return {
        "people": [
            (base, email + ".org", "Look-alike", "1 Other Street"),
            (base + 1, "x" + email, "Look-alike", "2 Other Street"),
            (base + 2, email.replace("@", "+tag@"), "Look-alike", "3 Other Street"),
        ],
        "accounts": [
            (base, customer_no_of(i).lower(), "Look-alike", "4 Other Street"),
            (base + 1, customer_no_of(i) + "-OLD", "Look-alike", "5 Other Street"),
        ],
        "members": [(base, i * 10 + n * 10, "Look-alike")],  # another number holding i's digits
    }


@asynccontextmanager
async def million_database(rows: Rows) -> AsyncIterator[str]:
    """A fresh database, filled and indexed; its URL (``postgresql://…``). Dropped after."""
    import asyncpg

    async with scratch_database("sql") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(TABLE_DDL)
            for statement in FILL.split(";"):
                if statement.strip():
                    await conn.execute(statement, rows.n)
            extra: dict[str, list[tuple[Any, ...]]] = {}
            for i in {i for subjects in rows.subjects.values() for i in subjects}:
                for table, records in lookalikes(i, rows.n).items():
                    extra.setdefault(table, []).extend(records)
            for table, records in extra.items():
                await conn.copy_records_to_table(table, records=records)
            await conn.execute(INDEXES)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        yield url


async def bystanders(url: str, rows: Rows) -> dict[str, tuple[int, str]]:
    """For each table: the count and a checksum of the rows nothing may change."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        out: dict[str, tuple[int, str]] = {}
        for table in ("people", "orders", "accounts", "members"):
            row = await conn.fetchrow(
                f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
                f" FROM {table} AS t WHERE NOT (id = ANY($1::bigint[]))",
                sorted(rows.touched(table)),
            )
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
        return out
    finally:
        await conn.close()


# --- the SQL the connector runs, and its plans -----------------------------------------------


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) any SQLAlchemy engine sends while inside."""
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    statements: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield statements
    finally:
        sa.event.remove(Engine, "before_cursor_execute", hook)


BENCH_TABLES = ("people", "orders", "accounts", "members")


def _scans(node: dict[str, Any]) -> Iterator[str]:
    """Each scan of a plan (JSON form) as ``Node Type [using index] on table``."""
    kind = node.get("Node Type", "?")
    if "Scan" in kind:
        index = f" using {node['Index Name']}" if node.get("Index Name") else ""
        relation = f" on {node['Relation Name']}" if node.get("Relation Name") else ""
        yield f"{kind}{index}{relation}"
    for child in node.get("Plans", ()):
        yield from _scans(child)


async def explained(url: str, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """``EXPLAIN`` of each captured statement that reads or changes a bench table."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        plans = []
        for statement, parameters in statements:
            words = statement.split()
            if not words or words[0].upper() not in ("SELECT", "UPDATE", "DELETE"):
                continue
            if not any(t in words or f"{t}," in words for t in BENCH_TABLES):
                continue
            args = list(parameters) if isinstance(parameters, list | tuple) else []
            value = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *args)
            plan = json.loads(value) if isinstance(value, str) else value
            plans.append(
                {
                    "statement": " ".join(words)[:200],
                    "scans": list(_scans(plan[0]["Plan"])),
                }
            )
        return plans
    finally:
        await conn.close()


def _summary(plans: list[dict[str, Any]], tables: list[str]) -> str:
    """The scans of the first statement reading each table: its look-up."""
    found = []
    for table in tables:
        first = next(
            (p for p in plans if any(s.endswith(f" on {table}") for s in p["scans"])), None
        )
        found.append("; ".join(first["scans"]) if first else f"no statement on {table}")
    return "; ".join(found)


def _seq_scans(plans: list[dict[str, Any]]) -> list[str]:
    return sorted({s for p in plans for s in p["scans"] if s.startswith("Seq Scan")})


# --- the run ---------------------------------------------------------------------------------


def _pct(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p / 100))]


async def measure_policy(
    policy: Policy, url: str, subjects: list[int], baseline_ids: list[int]
) -> dict[str, Any] | None:
    """Erase each subject (the first as a warm-up whose SQL is captured), verify, and update
    one baseline row by primary key in between; check what changed. None when the
    PostgreSQL extension the policy's extra index needs is not available."""
    import asyncpg
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from connectors import ConnectorRegistry, Erased, Subject
    from connectors.sql import SqlConnector, async_url

    if policy.extra_index:
        conn = await asyncpg.connect(url)
        try:
            if policy.needs_extension and not await conn.fetchval(
                "SELECT count(*) FROM pg_available_extensions WHERE name = $1",
                policy.needs_extension,
            ):
                return None
            start = time.perf_counter()
            await conn.execute(policy.extra_index)
            await conn.execute(f"ANALYZE {policy.table}")
            indexed_s: float | None = time.perf_counter() - start
        finally:
            await conn.close()
    else:
        indexed_s = None
    options = {"url": url, "tables": policy.tables}
    connector = ConnectorRegistry({"sql": SqlConnector}).build(
        f"bench-{policy.table}-{uuid.uuid4().hex[:8]}", "sql", options
    )
    engine = create_async_engine(async_url(url))
    erase_ms: list[float] = []
    verify_ms: list[float] = []
    baseline_ms: list[float] = []
    plans: list[dict[str, Any]] = []
    verify_plans: list[dict[str, Any]] = []
    update = sa.text(f"UPDATE {policy.table} SET {_baseline_set(policy.table)} WHERE id = :id")

    def subject(i: int) -> Subject:
        email, identifiers = policy.identifiers(i)
        return Subject(ref=f"bench-{i}", email=email, identifiers=identifiers)

    try:
        for n, (i, pk) in enumerate(zip(subjects, baseline_ids, strict=True)):
            start = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(update, {"id": pk})
            base = time.perf_counter() - start
            with captured() as erase_sql:
                start = time.perf_counter()
                outcome = await connector.erase(subject(i), f"bench-{uuid.uuid4()}")
                erased = time.perf_counter() - start
            if not isinstance(outcome, Erased):
                raise AssertionError(f"{policy.name}: subject {i}: {type(outcome).__name__}")
            with captured() as verify_sql:
                start = time.perf_counter()
                residual = await connector.verify(subject(i))
                verified = time.perf_counter() - start
            if residual.remaining:
                raise AssertionError(f"{policy.name}: subject {i} left {residual.remaining}")
            if n == 0:  # the warm-up: engine, receipts table, first plans; its SQL is kept
                plans = await explained(url, erase_sql)
                verify_plans = await explained(url, verify_sql)
                continue
            baseline_ms.append(base * 1000)
            erase_ms.append(erased * 1000)
            verify_ms.append(verified * 1000)
    finally:
        await connector.aclose()
        await engine.dispose()
    await _check_changed(policy, url, subjects)
    return {
        "key": policy.key,
        "policy": policy.name,
        "index": policy.note,
        "extra_index_built_s": indexed_s,
        "rows": await _count(url, policy.table),
        "subjects": len(erase_ms),
        "erase_p50_ms": _pct(erase_ms, 50),
        "erase_p95_ms": _pct(erase_ms, 95),
        "verify_p50_ms": _pct(verify_ms, 50),
        "verify_p95_ms": _pct(verify_ms, 95),
        "baseline_p50_ms": _pct(baseline_ms, 50),
        "ratio_p50": _pct(erase_ms, 50) / _pct(baseline_ms, 50),
        "target_ms": TARGET_MS,
        "target_met": _pct(erase_ms, 50) < TARGET_MS,  # by the median erase
        "plan": _summary(plans, [t["table"] for t in policy.tables]),
        "verify_plan": "; ".join(dict.fromkeys(s for p in verify_plans for s in p["scans"])),
        "seq_scans": _seq_scans(plans),
        "verify_seq_scans": _seq_scans(verify_plans),
        "statements": plans,
        "verify_statements": verify_plans,
        "erase_runs_ms": erase_ms,
        "verify_runs_ms": verify_ms,
        "baseline_runs_ms": baseline_ms,
    }


def _baseline_set(table: str) -> str:
    return {
        "people": "email = NULL, name = NULL, address = NULL",
        "orders": "shipping_address = NULL",
        "accounts": "customer_no = NULL, name = NULL, address = NULL",
        "members": "member_no = NULL, name = NULL",
    }[table]


async def _count(url: str, table: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def _check_changed(policy: Policy, url: str, subjects: list[int]) -> None:
    """Every subject's rows are anonymised (or, for a delete, gone)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for i in subjects:
            for table, condition in policy.changes(i):
                found = int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {condition}"))
                wanted = 0 if policy.tables[0]["action"] == "delete" else 1
                if found != wanted:
                    raise AssertionError(f"{policy.name}: row {i} of {table} was not erased")
    finally:
        await conn.close()


def plan_rows(n: int, per_policy: int) -> Rows:
    """Subjects spread over the table (distinct for each policy on a shared table), and the
    baseline's rows (other ones, also spread)."""
    rows = Rows(n)
    step = max(1, n // (len(POLICIES) * per_policy * 2 + 1))
    numbers = iter(range(step // 2, n, step))
    for policy in POLICIES:
        rows.subjects[policy.name] = [next(numbers) for _ in range(per_policy)]
    for table in BENCH_TABLES:
        rows.baseline[table] = [next(numbers) for _ in range(per_policy)]
    return rows


async def run(bench: Bench) -> None:
    """``make bench`` entry: one subject's erase and verify, each policy, on big tables."""
    from lethe.logs import configure_logging

    if not postgres_reachable():
        bench.notes.append("skipped: no PostgreSQL on 127.0.0.1:5432 (this benchmark needs one)")
        return
    configure_logging(level="ERROR")
    n = bench.scaled(ROWS)
    per_policy = max(3, min(SUBJECTS, bench.scaled(SUBJECTS))) + 1  # + the warm-up
    rows = plan_rows(n, per_policy)
    start = time.perf_counter()
    results = []
    async with million_database(rows) as url:
        filled = time.perf_counter() - start
        before = await bystanders(url, rows)
        for policy in POLICIES:
            result = await measure_policy(
                policy, url, rows.subjects[policy.name], rows.baseline[policy.table]
            )
            if result is None:
                bench.notes.append(f"{policy.key}: skipped, no {policy.needs_extension} here")
            else:
                results.append(result)
        after = await bystanders(url, rows)
    for table, figures in before.items():
        if after[table] != figures:
            raise AssertionError(f"{table}: a bystander row changed ({figures} -> {after[table]})")
    bench.notes.append(
        f"{n:,} rows in each of people, orders, accounts, members (+ look-alikes), filled and"
        f" indexed in {filled:.0f} s; {per_policy - 1} subjects per policy after a warm-up;"
        f" baseline: UPDATE … WHERE id = :pk of one row, same table, same driver, interleaved;"
        f" every other row unchanged afterwards (count and checksum, checked)"
    )
    for r in results:
        base = f"{r['key']}: bare UPDATE by primary key"
        bench.record(base, [ms / 1000 for ms in r["baseline_runs_ms"]])
        bench.record(
            f"{r['key']}: sql erase", [ms / 1000 for ms in r["erase_runs_ms"]], baseline=base
        )
        bench.record(f"{r['key']}: sql verify", [ms / 1000 for ms in r["verify_runs_ms"]])
        seq = f"; Seq Scan in the erase: {', '.join(r['seq_scans'])}" if r["seq_scans"] else ""
        met = "met" if r["target_met"] else "MISSED"
        bench.notes.append(
            f"{r['key']} ({r['policy']}; {r['index']}): erase p50 {r['erase_p50_ms']:.1f} ms"
            f" (target {TARGET_MS:.0f} ms: {met}), p95 {r['erase_p95_ms']:.1f} ms; verify p50"
            f" {r['verify_p50_ms']:.1f} ms; look-up plan: {r['plan']}{seq}; verify's scans:"
            f" {r['verify_plan']}"
        )
    bench.data["sql"] = [
        {k: v for k, v in r.items() if not k.endswith("_runs_ms")} for r in results
    ]
    bench.data["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
