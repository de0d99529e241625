"""Erase a subject from any SQL database SQLAlchemy can reach, following a declared table map.

Each rule names a table, the column that identifies the subject's rows and what to do:

    delete      remove the rows
    anonymize   keep the rows, overwrite columns: ``set`` fixed values, ``nullify`` columns,
                ``hash`` columns with a keyed hash (HMAC-SHA256 under ``hash_secret``) of one of
                the subject's identifiers, so kept rows can still be grouped but not read. The
                key column is among them, unless a rule matched through a parent keeps it
                (``keep_key = true``): then it only links to the parent's row, which the map
                must delete or anonymise (a parent that retains or keeps its key is refused)
    retain      keep the rows under a legal basis until a date; counted, never touched

A retain rule's ``legal_basis`` is one code of :class:`~connectors.LegalBasis` or a table by the
request's jurisdiction (``{ gdpr = "gdpr-17-3-b", ccpa = "ccpa-105-d-8" }``); ``note``,
``retain_days`` and ``review_days`` may be tables too, naming the same jurisdictions. Under a
jurisdiction, a basis must be that law's exception or one of no law (``contract``, …). A request
whose jurisdiction a rule that keeps rows has no entry for fails permanently and changes nothing:
keeping without a basis is not allowed, and erasing what must be kept would be worse.

A rule matches either on one of the subject's identifiers (``identifier = "email"``) or through
a parent rule (``parent = "users.user_id"``: this table's key is among the ``user_id`` values of
the rows the ``users`` rule matched). A table may carry several rules on different key columns
(phpBB's ``topics`` are keyed by first and by last poster); only a table with one rule can be a
parent. Parent values are resolved before anything changes; tables are changed children first
(so foreign keys hold) and, within a table, anonymising rules before deleting ones. Everything
happens in one transaction, in chunks of ``chunk_size`` bound values, and an erase that would
change more than ``max_rows`` rows changes nothing. After the commit, the matching queries run
again and their result is part of the evidence.

Matching follows each identifier kind's policy (``connectors._matching``): an address by its
normal form (NFC, letters A-Z in either case), ids exactly unless a rule opts in with
``match = "ascii_case_insensitive"``, a phone number by its digits. Identifiers are bound
parameters, never query text; ``%``, ``_`` and ``*`` in an identifier are literal characters.
The database only finds candidates, index-friendly where the identifier allows it
(``lower(col) = :w`` for an ASCII address, ``col = :w`` for an exact id, ``LIKE`` with a gap for
each run of non-ASCII characters otherwise); every candidate is confirmed in Python by the
policy, never by the database's collation or ``lower()``, and rows are changed only where the
column holds one of the confirmed values exactly. On MySQL/MariaDB, whose default collations
call ``ådä`` equal to ``ada`` and ignore trailing spaces, "exactly" means byte-equal
(``HEX(CONVERT(col USING utf8mb4))``); on SQLite and PostgreSQL the ordinary ``=`` is already
exact. A key column that holds numbers (``customer_no = 42``) is compared by its text form:
``"42"`` matches, ``"042"`` does not. So the same map changes the same rows on every database.

``name`` does not identify one person: a rule keyed on it must also name an identifying
column, ``also = { email = "email" }`` (column -> identifier kind; every one must match too).
Stored values are never trimmed: a value that differs from the subject's only by surrounding
whitespace or invisible characters is left as it is and reported by ``verify`` as
``<rule>.lookalike``, so the erasure does not end verified-clean while an operator has a
likely copy of the person to look at (that search scans the column, or uses a trigram index).

A rule keyed on an identifier the request lacks (a ``username`` rule, for a request that
carries only the address) cannot be applied: the erase does what the other rules can and
answers ``NotSearched``, naming the missing kinds (``not_searched`` in the evidence names the
rules), never ``NotFound``.

**Receipts.** Every erase that changes (or keeps) something writes a receipt, in the same
transaction, to a table of the target database: ``receipts_table``, by default
``lethe_erasure_receipts`` in the schema of the map's first table. Its first statement inserts
the receipt's key (system, idempotency key), so two attempts of one erase serialise on it; the
last writes the outcome (counts, evidence, basis, dates) there before the commit. A repeat of
the erase (a worker died after the commit, before Lethe's ledger heard) finds the receipt and
replays it, so it reports what the first attempt did rather than "nothing left". The table is
created when absent (by ``check`` or the first erase); a connection that may not create it
fails with one line saying so and how to create it; afterwards it needs only ``SELECT``,
``INSERT`` and ``UPDATE`` on it, and it may live in another schema (database, on MySQL) of the
same server: ``receipts_table = "lethe.erasure_receipts"``. There is no opting out: without a
receipt in the erase's own transaction, a crash at the wrong moment makes the record
understate the erasure.
A receipt holds counts and evidence, never an identifier; a receipt older than the request's
sealing may be deleted. An erase that finds nothing writes none.

Table and column names come only from configuration and must be plain SQL identifiers.
Cascades declared in the schema (``ON DELETE CASCADE``) happen too, uncounted: list such tables
in the map so that they are counted and bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    NoSuchTableError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from vocabulary import JURISDICTIONS, LEGAL_BASES, basis_fits

from ._errors import ConnectorConfigError, PermanentError, TransientError
from ._matching import IDENTIFYING_KINDS, POLICIES, IdentifierMatch, Match, normal_form
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Residual, Retained
from ._plan import Plan
from ._protocol import BaseConnector, Capability, ConnectorOptions, guard_blast_radius
from ._receipt import receipt_of, replayed
from ._subject import IDENTIFIER_KINDS, Subject

__all__ = [
    "DEFAULT_RECEIPTS_TABLE",
    "SqlConnector",
    "SqlOptions",
    "TableRule",
    "async_url",
    "keyed_hash",
    "receipts_table",
    "sql_failure",
]

#: The receipts table's name unless ``receipts_table`` says otherwise (in the schema of the
#: map's first table).
DEFAULT_RECEIPTS_TABLE = "lethe_erasure_receipts"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_LIKE_ESCAPE = "/"
_PERMANENT_HINTS = (
    "no such table",
    "no such column",
    "does not exist",
    "doesn't exist",
    "unknown column",
    "syntax error",
    "permission denied",
    "access denied",
    "readonly database",
    "read-only",
)

#: PostgreSQL SQLSTATEs (classes or codes) that a later attempt may not meet: lost connections,
#: serialization failures and deadlocks, lack of resources, lock and statement timeouts, shutdown.
#: asyncpg's errors reach SQLAlchemy as a generic ``DBAPIError``, so the class cannot tell.
_TRANSIENT_SQLSTATES = ("08", "40", "53", "55P03", "57014", "57P01", "57P02", "57P03")

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mysql+pymysql": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
    "mariadb+pymysql": "mariadb+aiomysql",
}


def async_url(url: str) -> sa.URL:
    """The URL with a sync driver name swapped for its asyncio equivalent."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _zero_freed_space(dbapi_conn: Any, _record: Any) -> None:
    """SQLite keeps a deleted row's bytes in the file's free pages unless told to zero them
    (some builds do by default, many do not): an erased person would stay readable there."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def keyed_hash(secret: str, value: str, kind: str = "email") -> str:
    """HMAC-SHA256 of the value's normal form as ``kind``'s policy defines it (trimmed first):
    the same person always hashes the same. ``ValueError`` if the value has no normal form.

    Without the secret, the hash cannot be reversed by trying likely addresses.
    """
    normal = normal_form(kind, value.strip())
    if normal is None:
        raise ValueError(f"the {kind} has no normal form to hash")
    return hmac.new(secret.encode(), normal.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Retention:
    """A retain rule as it applies to one request."""

    legal_basis: str
    note: str | None
    retain_days: int | None
    review_days: int | None


@dataclass(frozen=True)
class _Kept:
    """Rows one retain rule keeps for one request, and why, until when."""

    rule: TableRule
    rows: int
    legal_basis: str
    note: str | None
    until: date | None
    review: date | None

    def evidence(self) -> dict[str, Any]:
        return {
            "table": self.rule.name,
            "rows": self.rows,
            "legal_basis": self.legal_basis,
            "retained_until": self.until.isoformat() if self.until else None,
            "review_on": self.review.isoformat() if self.review else None,
        }


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} is not a plain SQL identifier")
    return value


class TableRule(BaseModel):
    """One rule of the map: a table, the column that finds the subject's rows, an action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    key: str
    action: Literal["delete", "anonymize", "retain"]
    identifier: str | None = None
    parent: str | None = None
    label: str | None = Field(
        default=None, description="Name in counts and evidence (default: the table)"
    )
    match: Match | None = Field(
        default=None,
        description="How the key is compared: the identifier kind's policy unless the rule opts"
        " in (ascii_case_insensitive for an id, exact for a column holding phone normal forms)",
    )
    also: dict[str, str] = Field(
        default_factory=dict,
        description="column -> identifier kind that must match too (AND), each by its policy",
    )
    set: dict[str, str | int | float | bool] = Field(default_factory=dict)
    nullify: list[str] = Field(default_factory=list)
    keep_key: bool = Field(
        default=False,
        description="anonymize through a parent only: keep the key column (the link to the"
        " parent's row, itself erased or anonymised) and overwrite just the columns named",
    )
    hash: dict[str, str] = Field(
        default_factory=dict, description="column -> identifier kind whose keyed hash it gets"
    )
    legal_basis: str | dict[str, str] | None = Field(
        default=None,
        description="A LegalBasis code, or a table of them by jurisdiction ({gdpr=…, ccpa=…})",
    )
    note: str | dict[str, str] | None = None
    retain_days: int | dict[str, int] | None = None
    review_days: int | dict[str, int] | None = None

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        """``case_insensitive``, the setting ``match`` replaced: kept where its meaning holds."""
        if not isinstance(data, dict) or "case_insensitive" not in data:
            return data
        data = dict(data)
        flag = data.pop("case_insensitive")
        policy = POLICIES.get(str(data.get("identifier")))
        if policy is None or "match" in data:
            return data  # a parent rule never used it; an unknown kind is refused below
        if flag and policy.match == "exact":
            data["match"] = "ascii_case_insensitive"  # the opt-in it was (now A-Z only)
        elif not flag and policy.match == "ascii_case_insensitive":
            if "exact" not in policy.allowed:
                raise ValueError(
                    f"table {data.get('table')}: case_insensitive = false no longer applies:"
                    f" a {policy.kind} always matches by its policy ({policy.normal_form});"
                    " remove the setting"
                )
            data["match"] = "exact"
        return data

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        for part in v.split(".", 1):
            _check_name(part, "table")
        return v

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _check_name(v, "column")

    @field_validator("label")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        return None if v is None else _check_name(v, "label")

    @field_validator("nullify")
    @classmethod
    def _nullify(cls, v: list[str]) -> list[str]:
        return [_check_name(c, "column") for c in v]

    @field_validator("set")
    @classmethod
    def _set(cls, v: dict[str, Any]) -> dict[str, Any]:
        for c in v:
            _check_name(c, "column")
        return v

    @field_validator("also")
    @classmethod
    def _also(cls, v: dict[str, str]) -> dict[str, str]:
        for column, kind in v.items():
            _check_name(column, "column")
            if kind not in IDENTIFIER_KINDS:
                raise ValueError(f"also of column {column!r}: unknown identifier {kind!r}")
        return v

    @field_validator("hash")
    @classmethod
    def _hash(cls, v: dict[str, str]) -> dict[str, str]:
        for column, kind in v.items():
            _check_name(column, "column")
            if kind not in IDENTIFIER_KINDS:
                raise ValueError(f"hash of column {column!r}: unknown identifier {kind!r}")
        return v

    @model_validator(mode="after")
    def _shape(self) -> TableRule:
        if (self.identifier is None) == (self.parent is None):
            raise ValueError(f"table {self.table}: give exactly one of identifier or parent")
        if self.identifier is not None and self.identifier not in IDENTIFIER_KINDS:
            known = ", ".join(sorted(IDENTIFIER_KINDS))
            raise ValueError(
                f"table {self.table}: unknown identifier {self.identifier!r} ({known})"
            )
        self._check_matching()
        if self.parent is not None:
            if "." not in self.parent:
                raise ValueError(f"table {self.table}: parent must be 'table.column'")
            _, _, pcol = self.parent.rpartition(".")
            _check_name(pcol, "column")
        written = [*self.set, *self.nullify, *self.hash]
        if len(written) != len(set(written)):
            raise ValueError(f"table {self.table}: a column is overwritten twice")
        if self.keep_key:
            self._check_kept_key(written)
        elif self.action == "anonymize" and self.key not in written:
            # Otherwise the kept rows still point at the subject through their key.
            raise ValueError(
                f"table {self.table}: anonymize must overwrite its key column {self.key!r}"
                " (in 'set', 'nullify' or 'hash'), or keep it with keep_key = true when the"
                " rule matches through a parent"
            )
        if self.action != "anonymize" and written:
            raise ValueError(f"table {self.table}: 'set'/'nullify'/'hash' only apply to anonymize")
        if self.action == "retain":
            self._check_retention()
        elif self.legal_basis or self.retain_days or self.review_days:
            raise ValueError(f"table {self.table}: legal_basis/retain_days only apply to retain")
        return self

    def _check_kept_key(self, written: list[str]) -> None:
        """``keep_key``: an anonymising rule keyed through a parent keeps its key column. The
        key then only links to the parent's row, which the map erases or anonymises (checked
        over the whole map, :func:`_check_kept_keys`); an identifier is never kept."""
        where = f"table {self.table}"
        if self.action != "anonymize":
            raise ValueError(f"{where}: keep_key only applies to anonymize")
        if self.parent is None:
            raise ValueError(
                f"{where}: keep_key only applies to a rule matched through a parent; a column"
                f" holding the subject's {self.identifier} is overwritten, or it keeps the person"
            )
        if self.key in written:
            raise ValueError(f"{where}: keep_key, yet the key column {self.key!r} is overwritten")
        if not written:
            raise ValueError(f"{where}: anonymize overwrites no column ('set', 'nullify', 'hash')")

    def _check_matching(self) -> None:
        """``match`` fits the identifier; ``also`` only beside an identifier; a kind that does
        not identify one person (``name``) is never a rule's only key."""
        where = f"table {self.table}"
        if self.identifier is None:
            if self.match is not None or self.also:
                raise ValueError(f"{where}: 'match' and 'also' only apply to an identifier rule")
            return
        policy = POLICIES[self.identifier]
        if self.match is not None and self.match not in policy.allowed:
            allowed = ", ".join(sorted(policy.allowed))
            raise ValueError(
                f"{where}: a {self.identifier} cannot be matched {self.match!r}"
                f" (allowed: {allowed})"
            )
        if self.key in self.also:
            raise ValueError(f"{where}: 'also' names the key column {self.key!r}")
        kinds = {self.identifier, *self.also.values()}
        if not kinds & IDENTIFYING_KINDS:
            raise ValueError(
                f"{where}: {' and '.join(sorted(kinds))} does not identify one person and cannot"
                ' be a rule\'s only key; add also = { COLUMN = "email" } naming a column'
                f" that holds an identifying identifier ({', '.join(sorted(IDENTIFYING_KINDS))})"
            )

    def _check_retention(self) -> None:
        """A retain rule's basis, note and days: one value, or a table by jurisdiction.

        Every table names known jurisdictions only, and all of a rule's tables name the same
        ones (a rule cannot have a basis for a CCPA request but no period). A basis under a
        jurisdiction must be that law's own exception or one of no law (``contract``, …).
        """
        where = f"table {self.table}"
        if not self.legal_basis:
            raise ValueError(f"{where}: retain needs a legal_basis")
        if (self.retain_days is None) == (self.review_days is None):
            raise ValueError(f"{where}: retain needs retain_days or review_days")
        tables: dict[str, dict[str, Any]] = {}
        for field_name in ("legal_basis", "note", "retain_days", "review_days"):
            value = getattr(self, field_name)
            if not isinstance(value, dict):
                continue
            if not value:
                raise ValueError(f"{where}: {field_name} is an empty table")
            for jurisdiction in value:
                if jurisdiction not in JURISDICTIONS:
                    raise ValueError(
                        f"{where}: {field_name} names unknown jurisdiction {jurisdiction!r}"
                        f" (known: {', '.join(JURISDICTIONS)})"
                    )
            tables[field_name] = value
        bases = self.legal_basis if isinstance(self.legal_basis, dict) else {"": self.legal_basis}
        for jurisdiction, code in bases.items():
            at = f"legal_basis.{jurisdiction}" if jurisdiction else "legal_basis"
            if code not in LEGAL_BASES:
                raise ValueError(f"{where}: unknown {at} {code!r} (see connectors.LegalBasis)")
            if jurisdiction and not basis_fits(code, jurisdiction):
                raise ValueError(
                    f"{where}: {at} is {code!r}, an exception of another law, which does not"
                    f" answer a {jurisdiction} request"
                )
        for field_name in ("retain_days", "review_days"):
            value = getattr(self, field_name)
            days = value.values() if isinstance(value, dict) else [value]
            if any(d is not None and d < 1 for d in days):
                raise ValueError(f"{where}: {field_name} must be at least 1")
        if len({frozenset(t) for t in tables.values()}) > 1:
            listed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in tables.items())
            raise ValueError(
                f"{where}: per-jurisdiction tables must name the same jurisdictions ({listed})"
            )

    def retention_for(self, jurisdiction: str | None) -> _Retention | None:
        """What this retain rule keeps under for a request under ``jurisdiction``: basis,
        note and days; ``None`` when a table of the rule has no entry for it."""

        def pick(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return value.get(jurisdiction) if jurisdiction is not None else None

        basis = pick(self.legal_basis)
        note = pick(self.note)
        retain_days = pick(self.retain_days)
        review_days = pick(self.review_days)
        missing = any(
            isinstance(v, dict) and picked is None
            for v, picked in (
                (self.legal_basis, basis),
                (self.note, note),
                (self.retain_days, retain_days),
                (self.review_days, review_days),
            )
        )
        if missing or basis is None:
            return None
        return _Retention(basis, note, retain_days, review_days)

    @property
    def name(self) -> str:
        """How counts and evidence call this rule."""
        return self.label or self.table

    @property
    def written(self) -> list[str]:
        return [*self.set, *self.nullify, *self.hash]

    @property
    def parent_table(self) -> str | None:
        return self.parent.rpartition(".")[0] if self.parent else None

    @property
    def parent_column(self) -> str | None:
        return self.parent.rpartition(".")[2] if self.parent else None


class SqlOptions(ConnectorOptions):
    url: str = Field(description="SQLAlchemy URL; give url_env in lethe.toml for secrets")
    tables: list[TableRule] = Field(min_length=1)
    chunk_size: int = Field(default=500, ge=1, le=10_000, description="bound values a statement")
    hash_secret: SecretStr | None = Field(
        default=None,
        description="Key of the keyed hash; write hash_secret_env = 'VAR' in lethe.toml",
    )
    receipts_table: str | None = Field(
        default=None,
        description="Where erases keep their receipts, in their own transaction ([schema.]table;"
        f" default {DEFAULT_RECEIPTS_TABLE} in the schema of the first rule's table)",
    )

    @field_validator("receipts_table")
    @classmethod
    def _receipts_table(cls, v: str | None) -> str | None:
        if v is not None:
            for part in v.split(".", 1):
                _check_name(part, "receipts_table")
        return v

    @property
    def receipts_name(self) -> str:
        """The receipts table, qualified as configured."""
        if self.receipts_table is not None:
            return self.receipts_table
        schema, _, _ = self.tables[0].table.rpartition(".")
        return f"{schema}.{DEFAULT_RECEIPTS_TABLE}" if schema else DEFAULT_RECEIPTS_TABLE

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            async_url(v)
        except ArgumentError:
            raise ValueError("not a SQLAlchemy database URL") from None
        return v

    @model_validator(mode="after")
    def _graph(self) -> SqlOptions:
        seen: set[tuple[str, str]] = set()
        for r in self.tables:
            if (r.table, r.key) in seen:
                raise ValueError(f"table {r.table}: two rules on the same key column {r.key!r}")
            seen.add((r.table, r.key))
        for r in self.tables:
            for other in self.tables:
                if other is not r and other.table == r.table and other.key in r.written:
                    raise ValueError(
                        f"table {r.table}: rule on {r.key!r} overwrites {other.key!r}, the key "
                        "of another rule on the same table"
                    )
        if any(r.hash for r in self.tables) and self.hash_secret is None:
            raise ValueError(
                "a rule hashes columns: give hash_secret (hash_secret_env in lethe.toml)"
            )
        if self.hash_secret is not None and len(self.hash_secret.get_secret_value()) < 16:
            raise ValueError("hash_secret must be at least 16 characters")
        _order(self.tables)  # raises on unknown or ambiguous parents and on cycles
        _check_kept_keys(self.tables)
        return self


def _check_kept_keys(rules: Sequence[TableRule]) -> None:
    """A rule that keeps its key links its kept rows to the parent's rows: those must stop
    being the subject's (deleted, or anonymised with their own key overwritten), so that the
    key leads nowhere and verification, matching through the parent again, finds nothing."""
    by_table = {r.table: r for r in rules}
    for r in rules:
        if not r.keep_key or r.parent_table is None:
            continue
        parent = by_table[r.parent_table]
        if parent.action == "retain" or parent.keep_key:
            kept = "retains its rows" if parent.action == "retain" else "keeps its key too"
            raise ValueError(
                f"table {r.table}: keep_key needs a parent that stops being the subject's, but"
                f" the rule of {parent.table!r} {kept}"
            )


def _order(rules: Sequence[TableRule]) -> list[TableRule]:
    """Rules with every parent before its children."""
    by_table: dict[str, list[TableRule]] = {}
    for r in rules:
        by_table.setdefault(r.table, []).append(r)
    for r in rules:
        if r.parent_table is None:
            continue
        if r.parent_table not in by_table:
            raise ValueError(f"table {r.table}: parent table {r.parent_table!r} is not in the map")
        if len(by_table[r.parent_table]) > 1:
            raise ValueError(
                f"table {r.table}: parent table {r.parent_table!r} has several rules;"
                " a parent must have exactly one"
            )
    ordered: list[TableRule] = []
    state: dict[tuple[str, str], int] = {}

    def visit(rule: TableRule, path: tuple[str, ...]) -> None:
        ident = (rule.table, rule.key)
        if state.get(ident) == 2:
            return
        if state.get(ident) == 1:
            raise ValueError(f"parent references form a cycle: {' -> '.join((*path, rule.table))}")
        state[ident] = 1
        if rule.parent_table is not None:
            visit(by_table[rule.parent_table][0], (*path, rule.table))
        state[ident] = 2
        ordered.append(rule)

    for r in rules:
        visit(r, ())
    return ordered


def _change_order(ordered: Sequence[TableRule]) -> list[TableRule]:
    """Children before parents; within a table, anonymising rules before deleting ones.

    Anonymising first keeps plan and erase in step when two rules of a table match the same row
    (phpBB's private message of a user to themself): both rules see it, as the plan counted.
    """
    backwards = [r for r in reversed(ordered) if r.action != "retain"]
    position: dict[str, int] = {}
    for i, r in enumerate(backwards):
        position.setdefault(r.table, i)
    return sorted(backwards, key=lambda r: (position[r.table], r.action != "anonymize"))


def _table(name: str, *columns: str) -> sa.TableClause:
    schema, _, table = name.rpartition(".")
    return sa.table(table, *(sa.column(c) for c in dict.fromkeys(columns)), schema=schema or None)


def receipts_table(name: str) -> sa.Table:
    """The receipts table ``name`` (``[schema.]table``): one row an erase that changed or kept
    something, keyed by system and idempotency key; ``outcome`` is the receipt
    (``connectors.receipt_of``), written in the erase's transaction."""
    schema, _, table = name.rpartition(".")
    return sa.Table(
        table,
        sa.MetaData(),
        sa.Column("system", sa.String(64), primary_key=True),
        sa.Column("erase_key", sa.String(200), primary_key=True),
        sa.Column("connector_version", sa.String(32), nullable=False),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        schema=schema or None,
    )


def _receipt_key(key: str) -> str:
    """The key as stored: itself, or its SHA-256 if longer than the column."""
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class _Claimed(Exception):
    """The receipt's key is taken: an earlier attempt of the same erase committed."""


class _NothingToDo(Exception):
    """Raised inside the erase's transaction when it changes and keeps nothing: rolled back,
    claim included (an erase that finds nothing leaves no receipt)."""


def sql_failure(system: str, what: str, exc: Exception) -> Exception:
    """A database error as a connector failure: schema and permission problems are
    permanent; lost connections, locks and timeouts are not. ``what`` names the database in
    the message (``database``, ``key store``).

    Drivers disagree on classes (SQLite calls a missing table an OperationalError, like a
    lock; asyncpg lets a refused connection through as a bare OSError), so the message
    decides when the class cannot.
    """
    text = _short(exc)
    if isinstance(exc, OSError | TimeoutError):
        return TransientError(f"{system}: {what} unreachable ({text})")
    sqlstate = _sqlstate(exc)
    if sqlstate is not None and sqlstate.startswith(_TRANSIENT_SQLSTATES):
        return TransientError(f"{system}: {what} busy, try again ({text})")
    if any(hint in text.lower() for hint in _PERMANENT_HINTS):
        return PermanentError(f"{system}: {what} refused the statement ({text})")
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated
        or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
    ):
        return TransientError(f"{system}: {what} unavailable ({text})")
    if isinstance(exc, sa.exc.TimeoutError | sa.exc.DisconnectionError):
        return TransientError(f"{system}: {what} unavailable ({text})")
    return PermanentError(f"{system}: {what} refused the statement ({text})")


def _short(exc: BaseException) -> str:
    """A DB error's first line, without SQLAlchemy's background link (parameters are hidden)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text}"[:300]


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE a PostgreSQL driver attached to the error, if any."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _candidates(
    m: IdentifierMatch, column: str, *, around: bool = False, whole_numbers: int | None = None
) -> sa.ColumnElement[bool]:
    """What the database is asked for: a superset of the values equal to the subject's
    identifier (``around``: also with anything around them), on every backend.

    The column's text form (it may hold numbers), lower-cased where the policy folds A-Z (any
    backend's ``lower`` folds those; what it does to other characters does not matter, as
    they fall into the pattern's gaps). One literal is an equality an index can serve
    (``lower(col)`` needs an expression index); gaps become ``%``: a decomposed ``ë`` is two
    code points, which ``_`` would not match.

    A column of whole numbers (``whole_numbers``: the largest value its type holds) is
    compared as a number when the identifier is one written as the database writes it
    (``7``, not ``07``, ``+7`` or ``7.0``: the text forms that equal it): ``col = 7``, which a
    plain index serves. Any other identifier keeps the text comparison, which no such row meets.
    """
    if whole_numbers is not None and not around:
        literal = m.pattern()
        if len(literal) == 1 and literal[0] is not None:
            number = _decimal(literal[0], whole_numbers)
            if number is not None:
                return sa.column(column) == number
    expr: sa.ColumnElement[Any] = sa.cast(sa.column(column), sa.String)
    if m.folds_case:
        expr = sa.func.lower(expr)
    parts = (None, *m.pattern(), None) if around else m.pattern()
    if len(parts) == 1 and parts[0] is not None:
        return expr == parts[0]
    return expr.like(_like(parts), escape=_LIKE_ESCAPE)


_DECIMAL = re.compile(r"0|-?[1-9][0-9]*")


def _decimal(text: str, largest: int) -> int | None:
    """``text`` as a whole number when it is one in the form a database prints (no sign but
    ``-``, no leading zero, ASCII digits only) and within the column's range; else None."""
    if len(text) > 20 or not _DECIMAL.fullmatch(text):
        return None
    number = int(text)
    return number if -largest - 1 <= number <= largest else None


#: The largest value of each whole-number type a reflected column may have. No row holds a
#: number beyond its column's range, and a driver that binds the parameter as the column's
#: type would refuse one: such an identifier keeps the text comparison, which meets no row.
_WHOLE_NUMBER_RANGES: tuple[tuple[type[sa.types.TypeEngine[Any]], int], ...] = (
    (sa.SmallInteger, 2**15 - 1),
    (sa.BigInteger, 2**63 - 1),
    (sa.Integer, 2**31 - 1),
)


def _whole_number_range(column_type: object) -> int | None:
    for kind, largest in _WHOLE_NUMBER_RANGES:
        if isinstance(column_type, kind):
            return largest
    return None


def _like(parts: Sequence[str | None]) -> str:
    """A LIKE pattern: literal parts escaped, a ``%`` for each gap."""
    out: list[str] = []
    for part in parts:
        if part is None:
            if not out or out[-1] != "%":
                out.append("%")
            continue
        out.append(
            "".join(_LIKE_ESCAPE + ch if ch in ("%", "_", _LIKE_ESCAPE) else ch for ch in part)
        )
    return "".join(out)


def _lacking(rule: TableRule, subject: Subject) -> tuple[str, ...]:
    """The identifier kinds a rule compares that the request lacks (or has no normal form of)."""
    assert rule.identifier is not None
    kinds = dict.fromkeys(
        kind
        for kind, match in ((rule.identifier, rule.match), *((k, None) for k in rule.also.values()))
        if IdentifierMatch.of(kind, subject.get(kind), match) is None
    )
    return tuple(kinds)


def _jurisdictions_of(rule: TableRule) -> list[str]:
    """The jurisdictions a per-jurisdiction rule has entries for (all its tables agree)."""
    for value in (rule.legal_basis, rule.note, rule.retain_days, rule.review_days):
        if isinstance(value, dict):
            return sorted(value)
    return []


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    return (values[i : i + size] for i in range(0, len(values), size))


class SqlConnector(BaseConnector[SqlOptions]):
    kind: ClassVar[str] = "sql"
    version: ClassVar[str] = "3"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    def __init__(self, name: str, options: SqlOptions) -> None:
        super().__init__(name, options)
        self._ordered = _order(options.tables)
        self._changing = _change_order(self._ordered)
        self._engine: AsyncEngine | None = None
        self._receipts = receipts_table(options.receipts_name)
        self._receipts_ready = False
        # table -> its whole-number columns and the largest value each holds (reflected once)
        self._whole_numbers: dict[str, dict[str, int]] = {}

    # -- plumbing ---------------------------------------------------------------------------

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            try:
                self._engine = create_async_engine(
                    async_url(self.options.url), hide_parameters=True, pool_pre_ping=True
                )
            except (NoSuchModuleError, ImportError) as exc:
                raise ConnectorConfigError(f"database driver not installed: {exc}") from None
            if self._engine.dialect.name == "sqlite":
                sa.event.listen(self._engine.sync_engine, "connect", _zero_freed_space)
        return self._engine

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _translate(self, exc: Exception) -> Exception:
        self._whole_numbers.clear()  # the schema may have changed: read it again next time
        return sql_failure(self.name, "database", exc)

    # -- receipts ---------------------------------------------------------------------------

    def _receipts_ddl(self, engine: AsyncEngine) -> str:
        ddl = str(sa.schema.CreateTable(self._receipts).compile(dialect=engine.dialect))
        return " ".join(ddl.split())

    async def _ensure_receipts(self) -> None:
        """Create the receipts table if it is absent (once per instance); a connection that
        may not create it is a permanent error that says how to."""
        if self._receipts_ready:
            return
        table = self._receipts
        engine = self._get_engine()

        def exists(conn: sa.Connection) -> bool:
            return sa.inspect(conn).has_table(table.name, schema=table.schema)

        try:
            async with engine.begin() as conn:
                if not await conn.run_sync(exists):
                    await conn.run_sync(lambda c: table.create(c, checkfirst=True))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            try:  # another worker (or attempt) may have created it meanwhile
                async with engine.connect() as conn:
                    found = await conn.run_sync(exists)
            except (SQLAlchemyError, OSError, TimeoutError):
                found = False
            translated = self._translate(exc)
            if not found and isinstance(translated, TransientError):
                raise translated from None
            if not found:
                raise PermanentError(
                    f"{self.name}: the receipts table {self.options.receipts_name} is missing and"
                    f" this connection may not create it ({_short(exc)}); have it created"
                    f" ({self._receipts_ddl(engine)}) or set receipts_table to a schema it may"
                    " write; nothing was changed"
                ) from None
        self._receipts_ready = True

    async def _replay(self, conn: AsyncConnection, key: str) -> Outcome | None:
        """The outcome a committed receipt of this erase holds, replayed; None if none."""
        t = self._receipts
        q = sa.select(t.c.outcome).where(
            t.c.system == self.name, t.c.erase_key == _receipt_key(key)
        )
        stored = (await conn.execute(q)).scalar_one_or_none()
        if stored is None:
            return None
        try:
            return replayed(json.loads(stored))
        except ValueError as exc:
            raise PermanentError(
                f"{self.name}: the receipt of this erase cannot be read ({exc});"
                " nothing was changed"
            ) from None

    async def _claim(self, conn: AsyncConnection, key: str) -> None:
        """Insert the receipt's key, the erase's first statement: a second attempt of the same
        erase waits here until the first commits (then finds its receipt: ``_Claimed``) or
        rolls back (then goes on)."""
        row = {
            "system": self.name,
            "erase_key": _receipt_key(key),
            "connector_version": self.version,
            "outcome": None,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        }
        try:
            await conn.execute(self._receipts.insert().values(row))
        except IntegrityError:
            raise _Claimed from None

    async def _record(self, conn: AsyncConnection, key: str, outcome: Outcome) -> None:
        t = self._receipts
        await conn.execute(
            t.update()
            .where(t.c.system == self.name, t.c.erase_key == _receipt_key(key))
            .values(outcome=json.dumps(receipt_of(outcome), sort_keys=True))
        )

    # -- matching ---------------------------------------------------------------------------

    def _exact_in(
        self, conn: AsyncConnection, column: str, values: Sequence[Any]
    ) -> sa.ColumnElement[bool]:
        """``column IN values``, byte-exact for strings even under MySQL's lax collations."""
        col: sa.ColumnClause[Any] = sa.column(column)
        cond: sa.ColumnElement[bool] = col.in_(values)
        if conn.dialect.name in ("mysql", "mariadb") and any(isinstance(v, str) for v in values):
            as_utf8 = sa.func.convert(col, sa.literal_column("CHAR CHARACTER SET utf8mb4"))
            hexes = [
                v.encode().hex().upper() if isinstance(v, str) else str(v).encode().hex().upper()
                for v in values
            ]
            cond = sa.and_(cond, sa.func.hex(as_utf8).in_(hexes))
        return cond

    async def _number_columns(self, conn: AsyncConnection, table: str) -> dict[str, int]:
        """``table``'s columns of whole numbers, each with the largest value its type holds,
        read from the database's catalogue once (again after a database error: the schema
        may have changed). A table not found has none (the query that follows says why)."""
        found = self._whole_numbers.get(table)
        if found is not None:
            return found
        schema, _, name = table.rpartition(".")

        def reflect(sync_conn: sa.Connection) -> dict[str, int] | None:
            try:
                columns = sa.inspect(sync_conn).get_columns(name, schema=schema or None)
            except NoSuchTableError:
                return None
            ranges = {c["name"]: _whole_number_range(c["type"]) for c in columns}
            return {column: largest for column, largest in ranges.items() if largest is not None}

        reflected = await conn.run_sync(reflect)
        if reflected is None:
            return {}
        self._whole_numbers[table] = reflected
        return reflected

    def _wanted(self, rule: TableRule, subject: Subject) -> dict[str, IdentifierMatch] | None:
        """The subject's identifiers a rule compares, by column (its key first, then ``also``);
        None when the request lacks one of them (an absent or empty identifier never
        matches anything)."""
        assert rule.identifier is not None
        wanted: dict[str, IdentifierMatch] = {}
        for column, kind, match in (
            (rule.key, rule.identifier, rule.match),
            *((c, k, None) for c, k in rule.also.items()),
        ):
            m = IdentifierMatch.of(kind, subject.get(kind), match)
            if m is None:
                return None
            wanted[column] = m
        return wanted

    async def _direct_rows(
        self, conn: AsyncConnection, rule: TableRule, subject: Subject, *, lookalikes: bool = False
    ) -> list[tuple[Any, ...]]:
        """The (key, *also) values of the rows whose columns hold the subject's identifiers,
        confirmed by each kind's policy; with ``lookalikes``, of the rows that would without
        the whitespace around some of them instead."""
        wanted = self._wanted(rule, subject)
        if wanted is None:
            return []
        columns = list(wanted)
        numbers = await self._number_columns(conn, rule.table)
        query: sa.Select[Any] = (
            sa.select(*[sa.column(c) for c in columns])  # type: ignore[assignment]
            .select_from(_table(rule.table, *columns))
            .where(
                *(
                    _candidates(m, c, around=lookalikes, whole_numbers=numbers.get(c))
                    for c, m in wanted.items()
                )
            )
        )
        found = []
        for row in (await conn.execute(query)).all():
            pairs = list(zip(wanted.values(), row, strict=True))
            if all(m.equals(v) for m, v in pairs):
                if not lookalikes:
                    found.append(tuple(row))
            elif lookalikes and all(m.equals(v) or m.looks_like(v) for m, v in pairs):
                found.append(tuple(row))
        return found

    async def _conditions(
        self, conn: AsyncConnection, subject: Subject
    ) -> dict[int, list[sa.ColumnElement[bool]]]:
        """For each rule (by position), the WHERE clauses, one a chunk, that select its rows."""
        conds: dict[int, list[sa.ColumnElement[bool]]] = {}
        by_table = {r.table: i for i, r in enumerate(self.options.tables)}
        size = self.options.chunk_size
        for rule in self._ordered:
            i = self.options.tables.index(rule)
            if rule.identifier is not None:
                conds[i] = await self._direct_conditions(conn, rule, subject)
                continue
            assert rule.parent_table is not None and rule.parent_column is not None
            parent_col = rule.parent_column
            found: set[Any] = set()
            for pc in conds[by_table[rule.parent_table]]:
                query: sa.Select[Any] = (
                    sa.select(sa.column(parent_col))
                    .select_from(_table(rule.parent_table, parent_col))
                    .where(pc)
                )
                found.update(v for v in (await conn.execute(query)).scalars() if v is not None)
            values = sorted(found, key=repr)
            conds[i] = [self._exact_in(conn, rule.key, chunk) for chunk in _chunks(values, size)]
        return conds

    async def _direct_conditions(
        self, conn: AsyncConnection, rule: TableRule, subject: Subject
    ) -> list[sa.ColumnElement[bool]]:
        """An identifier rule's WHERE clauses, one a chunk of key values: the key holds one
        of the confirmed values exactly, and so does every ``also`` column."""
        wanted = self._wanted(rule, subject)
        rows = await self._direct_rows(conn, rule, subject)
        if wanted is None or not rows:
            return []
        values = sorted({r[0] for r in rows}, key=repr)
        narrow = [
            self._exact_in(conn, column, sorted({r[n] for r in rows}, key=repr))
            for n, column in enumerate(rule.also, start=1)
        ]
        # The candidate condition again, which every confirmed value meets: the index that
        # served the search (lower(col)) serves the count and the change too.
        numbers = await self._number_columns(conn, rule.table)
        found = _candidates(wanted[rule.key], rule.key, whole_numbers=numbers.get(rule.key))
        return [
            sa.and_(found, self._exact_in(conn, rule.key, chunk), *narrow)
            for chunk in _chunks(values, size=self.options.chunk_size)
        ]

    async def _count(
        self, conn: AsyncConnection, rule: TableRule, conds: list[sa.ColumnElement[bool]]
    ) -> int:
        total = 0
        for c in conds:
            q = sa.select(sa.func.count()).select_from(_table(rule.table, rule.key)).where(c)
            total += int((await conn.execute(q)).scalar_one())
        return total

    async def _counted(
        self, conn: AsyncConnection, subject: Subject
    ) -> tuple[dict[int, list[sa.ColumnElement[bool]]], dict[int, int]]:
        conds = await self._conditions(conn, subject)
        counts = {
            i: await self._count(conn, rule, conds[i]) for i, rule in enumerate(self.options.tables)
        }
        return conds, counts

    def _plan_from(self, counts: dict[int, int], subject: Subject) -> tuple[Plan, list[_Kept]]:
        """The plan, and each retain rule that keeps rows with the basis it keeps them under.

        Raises ``PermanentError`` (before anything changes) when a retain rule that keeps rows
        has no basis for the request's jurisdiction: keeping without a basis is not allowed,
        and erasing what the organisation must keep would be worse.
        """
        changes: dict[str, int] = {}
        kept_counts: dict[str, int] = {}
        kept: list[_Kept] = []
        today = date.today()
        for i, rule in enumerate(self.options.tables):
            n = counts[i]
            if not n:
                continue
            if rule.action == "retain":
                key = f"{rule.name}.retained"
                kept_counts[key] = kept_counts.get(key, 0) + n
                kept.append(self._kept(rule, n, subject, today))
            else:
                key = f"{rule.name}.{_VERBS[rule.action]}"
                changes[key] = changes.get(key, 0) + n
        evidence = {"retained": [k.evidence() for k in kept]} if kept else {}
        plan = Plan(
            counts=changes,
            retained_counts=kept_counts,
            limit=self.options.max_items,
            evidence=evidence,
        )
        return plan, kept

    def _kept(self, rule: TableRule, rows: int, subject: Subject, today: date) -> _Kept:
        retention = rule.retention_for(subject.jurisdiction)
        if retention is None:
            law = (
                f"a {subject.jurisdiction} request"
                if subject.jurisdiction is not None
                else "a request of unknown jurisdiction"
            )
            raise PermanentError(
                f"{self.name}: retain rule {rule.name} has no legal basis for {law}"
                f" (its tables name {', '.join(_jurisdictions_of(rule))}); nothing was changed"
            )
        until = today + timedelta(days=retention.retain_days) if retention.retain_days else None
        review = today + timedelta(days=retention.review_days) if retention.review_days else None
        return _Kept(rule, rows, retention.legal_basis, retention.note, until, review)

    # -- the protocol -----------------------------------------------------------------------

    async def check(self) -> None:
        try:
            columns: dict[str, set[str]] = {}
            for r in self._ordered:
                columns.setdefault(r.table, set()).update({r.key, *r.written})
                if r.parent_table is not None and r.parent_column is not None:
                    columns.setdefault(r.parent_table, set()).add(r.parent_column)
            async with self._get_engine().connect() as conn:
                for table, cols in columns.items():
                    # Selecting nothing still makes the database name every table and column.
                    q: sa.Select[Any] = (
                        sa.select(*[sa.column(c) for c in sorted(cols)])  # type: ignore[assignment]
                        .select_from(_table(table, *cols))
                        .where(sa.false())
                    )
                    await conn.execute(q)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self._translate(exc) from None
        # The receipts table: created now if it can be (an operator learns of a missing right
        # here, not at the first erase), then read, as every erase will.
        await self._ensure_receipts()
        try:
            async with self._get_engine().connect() as conn:
                await conn.execute(sa.select(self._receipts.c.system).where(sa.false()))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self._translate(exc) from None

    async def plan(self, subject: Subject) -> Plan:
        try:
            async with self._get_engine().connect() as conn:
                _, counts = await self._counted(conn, subject)
                return self._plan_from(counts, subject)[0]
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self._translate(exc) from None

    def _unsearchable(self, subject: Subject) -> list[TableRule]:
        """The rules this request cannot apply: it lacks (or has a blank) identifier they need.

        ``lethe submit`` carries only the address unless given ``--identifier``; a rule keyed
        by ``username`` then finds nothing, and the record must say so rather than look
        complete (``NotSearched``).
        """
        return [
            r
            for r in self._ordered
            if r.identifier is not None and self._wanted(r, subject) is None
        ]

    def _not_searched(self, subject: Subject) -> dict[str, Any]:
        """Evidence naming the rules not applied, and the identifier kinds each lacked."""
        missing = sorted(
            {
                f"{r.name} (no {', '.join(_lacking(r, subject))})"
                for r in self._unsearchable(subject)
            }
        )
        return {"not_searched": missing} if missing else {}

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        """Erase in one transaction that also writes the receipt; a repeat replays it.

        ``request_id`` is the erase's idempotency key (``connectors.erase_key``).
        """
        unsearchable = self._unsearchable(subject)
        missing = tuple(sorted({k for r in unsearchable for k in _lacking(r, subject)}))
        engine = self._get_engine()
        try:
            await self._ensure_receipts()
            async with engine.connect() as conn:
                earlier = await self._replay(conn, request_id)
            if earlier is not None:
                return earlier
            try:
                async with engine.begin() as conn:
                    await self._claim(conn, request_id)
                    outcome = await self._erase_in(conn, subject, missing)
                    await self._record(conn, request_id, outcome)
            except _Claimed:
                async with engine.connect() as conn:
                    earlier = await self._replay(conn, request_id)
                if earlier is None:  # the receipt went between (deleted by hand): not ours
                    raise TransientError(
                        f"{self.name}: another attempt of this erase held its receipt; try again"
                    ) from None
                return earlier
            except _NothingToDo:
                checked = {"rules_checked": len(self._ordered), **self._not_searched(subject)}
                if missing:
                    return NotSearched(missing=missing, evidence=checked)
                return NotFound(evidence=checked)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self._translate(exc) from None
        # The change and its receipt are committed: a failing check afterwards is evidence,
        # not an error (an error would make Lethe retry an erase that already happened). A
        # replay does not repeat it (verify does, after every erase).
        after: dict[str, Any] = {}
        try:
            # The subject's own rows only: the look-alike search scans (verify() runs it).
            residual = await self._residual(subject, lookalikes=False)
            after["remaining_after_commit"] = sum(residual.remaining.values())
        except (TransientError, PermanentError) as exc:
            after["verification_after_commit_failed"] = type(exc).__name__
        return replace(outcome, evidence={**outcome.evidence, **after})

    def _anonymized_values(self, rule: TableRule, subject: Subject) -> dict[str, Any]:
        values: dict[str, Any] = {**rule.set, **dict.fromkeys(rule.nullify)}
        for column, kind in rule.hash.items():
            source = subject.get(kind)
            if source is None or not source.strip():
                raise PermanentError(
                    f"{self.name}: rule {rule.name} hashes column {column!r} from the subject's "
                    f"{kind}, which this request does not carry; nothing was changed"
                )
            assert self.options.hash_secret is not None
            try:
                values[column] = keyed_hash(
                    self.options.hash_secret.get_secret_value(), source, kind
                )
            except ValueError:
                raise PermanentError(
                    f"{self.name}: rule {rule.name} hashes column {column!r} from the subject's "
                    f"{kind}, which has no normal form to hash; nothing was changed"
                ) from None
        return values

    async def _erase_in(
        self, conn: AsyncConnection, subject: Subject, missing: tuple[str, ...]
    ) -> Outcome:
        """Change the subject's rows (inside the caller's transaction) and say what was done;
        ``_NothingToDo`` when the plan is empty."""
        conds, planned = await self._counted(conn, subject)
        plan, kept = self._plan_from(planned, subject)
        if plan.empty:
            raise _NothingToDo
        guard_blast_radius(plan.would_change, self.options, where=self.name, unit="rows")
        updates = {
            i: self._anonymized_values(rule, subject)
            for i, rule in enumerate(self.options.tables)
            if rule.action == "anonymize" and planned[i]
        }
        counts: dict[str, int] = {}
        changed = 0
        for rule in self._changing:
            i = self.options.tables.index(rule)
            if not planned[i]:
                continue
            done = 0
            for c in conds[i]:
                tbl = _table(rule.table, rule.key, *rule.written)
                if rule.action == "delete":
                    stmt: sa.Executable = sa.delete(tbl).where(c)
                else:
                    stmt = sa.update(tbl).where(c).values(updates[i])
                result = await conn.execute(stmt)
                done += max(int(getattr(result, "rowcount", 0) or 0), 0)
            changed += done
            # Rows that arrived between the count and the change: refuse, roll back.
            guard_blast_radius(changed, self.options, where=self.name, unit="rows")
            key = f"{rule.name}.{_VERBS[rule.action]}"
            counts[key] = counts.get(key, 0) + done
        evidence: dict[str, Any] = {"rows_changed": changed, **self._not_searched(subject)}
        retained = self._retained(plan, kept, counts, evidence) if kept else None
        if missing:
            # What the identifiers present found is gone (or kept, and why); the rest was not
            # looked for, and the record says so.
            return NotSearched(missing=missing, counts=counts, evidence=evidence, kept=retained)
        return retained if retained is not None else Erased(counts=counts, evidence=evidence)

    def _retained(
        self, plan: Plan, kept: list[_Kept], counts: dict[str, int], evidence: dict[str, Any]
    ) -> Retained:
        # The exception as a whole lasts as long as its longest dated part; if no part is
        # dated, it is indefinite and reviewed on the latest review date. Each rule reports its
        # own rows (two rules may share a label: the label's total is in retained_counts).
        dated = [k for k in kept if k.until is not None]
        main = (
            max(dated, key=lambda k: k.until or date.min)
            if dated
            else max(kept, key=lambda k: k.review or date.min)
        )
        evidence["retained"] = [k.evidence() for k in kept]
        notes = "; ".join(f"{k.rule.name}: {k.note}" for k in kept if k.note)
        return Retained(
            legal_basis=main.legal_basis,
            note=notes or f"kept under {main.legal_basis}",
            retained_until=main.until,
            review_on=None if dated else main.review,
            retained_counts=dict(plan.retained_counts),
            counts=counts,
            evidence=evidence,
        )

    async def verify(self, subject: Subject) -> Residual:
        return await self._residual(subject, lookalikes=True)

    async def _residual(self, subject: Subject, *, lookalikes: bool) -> Residual:
        """What still matches the subject, by rule; with ``lookalikes``, also the rows that
        would but for whitespace around a value (a scan of the key column, unless an index
        serves ``LIKE '%…%'``: a trigram index on PostgreSQL)."""
        try:
            async with self._get_engine().connect() as conn:
                conds = await self._conditions(conn, subject)
                remaining: dict[str, int] = {}
                for i, rule in enumerate(self.options.tables):
                    if rule.action == "retain":
                        continue
                    n = await self._count(conn, rule, conds[i])
                    if n:
                        key = f"{rule.name}.remaining"
                        remaining[key] = remaining.get(key, 0) + n
                    if lookalikes and rule.identifier is not None:
                        # Not the subject's value, but maybe theirs: an operator must look.
                        alike = len(await self._direct_rows(conn, rule, subject, lookalikes=True))
                        if alike:
                            key = f"{rule.name}.lookalike"
                            remaining[key] = remaining.get(key, 0) + alike
                return Residual(remaining=remaining)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self._translate(exc) from None


_VERBS = {"delete": "deleted", "anonymize": "anonymized", "retain": "retained"}
