"""Erase a subject from any SQL database SQLAlchemy can reach, following a declared table map.

Each rule names a table, the column that identifies the subject's rows and what to do:

    delete      remove the rows
    anonymize   keep the rows, overwrite columns (``set`` fixed values, ``nullify`` columns)
    retain      keep the rows under a legal basis until a date; counted, never touched

A rule matches either on one of the subject's identifiers (``identifier = "email"``) or through
a parent rule (``parent = "users.user_id"``: this table's key is among the ``user_id`` values of
the rows the ``users`` rule matched). Parent values are resolved before anything changes; rows
are changed children first, so foreign keys hold. Everything happens in one transaction, and
an erase that would change more than ``max_rows`` rows changes nothing.

Identifiers are always bound parameters. Table and column names come only from configuration
and must be plain SQL identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ._errors import BlastRadiusExceeded, ConnectorConfigError, PermanentError, TransientError
from ._legal_basis import LegalBasis
from ._outcomes import Erased, NotFound, Outcome, Residual, Retained
from ._protocol import BaseConnector, Capability, ConnectorOptions
from ._subject import IDENTIFIER_KINDS, Subject

__all__ = ["SqlConnector", "SqlOptions", "TableRule", "async_url"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_CHUNK = 500  # bound values per IN (...) statement
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


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} is not a plain SQL identifier")
    return value


class TableRule(BaseModel):
    """One table of the map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    key: str
    action: Literal["delete", "anonymize", "retain"]
    identifier: str | None = None
    parent: str | None = None
    case_insensitive: bool = True
    set: dict[str, str | int | float | bool] = Field(default_factory=dict)
    nullify: list[str] = Field(default_factory=list)
    legal_basis: str | None = None
    note: str | None = None
    retain_days: int | None = Field(default=None, ge=1)
    review_days: int | None = Field(default=None, ge=1)

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

    @model_validator(mode="after")
    def _shape(self) -> TableRule:
        if (self.identifier is None) == (self.parent is None):
            raise ValueError(f"table {self.table}: give exactly one of identifier or parent")
        if self.identifier is not None and self.identifier not in IDENTIFIER_KINDS:
            known = ", ".join(sorted(IDENTIFIER_KINDS))
            raise ValueError(
                f"table {self.table}: unknown identifier {self.identifier!r} ({known})"
            )
        if self.parent is not None:
            if "." not in self.parent:
                raise ValueError(f"table {self.table}: parent must be 'table.column'")
            _, _, pcol = self.parent.rpartition(".")
            _check_name(pcol, "column")
        if self.action == "anonymize" and self.key not in {*self.set, *self.nullify}:
            # Otherwise the kept rows still point at the subject through their key.
            raise ValueError(
                f"table {self.table}: anonymize must overwrite its key column {self.key!r}"
                " (in 'set' or 'nullify')"
            )
        if self.action != "anonymize" and (self.set or self.nullify):
            raise ValueError(f"table {self.table}: 'set'/'nullify' only apply to anonymize")
        if self.action == "retain":
            if not self.legal_basis:
                raise ValueError(f"table {self.table}: retain needs a legal_basis")
            if self.legal_basis not in {b.value for b in LegalBasis}:
                raise ValueError(
                    f"table {self.table}: unknown legal_basis {self.legal_basis!r}"
                    " (see connectors.LegalBasis)"
                )
            if (self.retain_days is None) == (self.review_days is None):
                raise ValueError(f"table {self.table}: retain needs retain_days or review_days")
        elif self.legal_basis or self.retain_days or self.review_days:
            raise ValueError(f"table {self.table}: legal_basis/retain_days only apply to retain")
        return self

    @property
    def parent_table(self) -> str | None:
        return self.parent.rpartition(".")[0] if self.parent else None

    @property
    def parent_column(self) -> str | None:
        return self.parent.rpartition(".")[2] if self.parent else None


class SqlOptions(ConnectorOptions):
    url: str = Field(description="SQLAlchemy URL; give url_env in lethe.toml for secrets")
    tables: list[TableRule] = Field(min_length=1)

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
        names = [r.table for r in self.tables]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"each table may appear once; repeated: {', '.join(sorted(dupes))}")
        _order(self.tables)  # raises on unknown parents and cycles
        return self


def _order(rules: Sequence[TableRule]) -> list[TableRule]:
    """Rules with every parent before its children."""
    by_table = {r.table: r for r in rules}
    for r in rules:
        if r.parent_table is not None and r.parent_table not in by_table:
            raise ValueError(f"table {r.table}: parent table {r.parent_table!r} is not in the map")
    ordered: list[TableRule] = []
    state: dict[str, int] = {}

    def visit(rule: TableRule, path: tuple[str, ...]) -> None:
        if state.get(rule.table) == 2:
            return
        if state.get(rule.table) == 1:
            raise ValueError(f"parent references form a cycle: {' -> '.join((*path, rule.table))}")
        state[rule.table] = 1
        if rule.parent_table is not None:
            visit(by_table[rule.parent_table], (*path, rule.table))
        state[rule.table] = 2
        ordered.append(rule)

    for r in rules:
        visit(r, ())
    return ordered


def _table(name: str, *columns: str) -> sa.TableClause:
    schema, _, table = name.rpartition(".")
    return sa.table(table, *(sa.column(c) for c in columns), schema=schema or None)


def _short(exc: BaseException) -> str:
    """A DB error's first line, without SQLAlchemy's background link (parameters are hidden)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text}"[:300]


class SqlConnector(BaseConnector):
    kind: ClassVar[str] = "sql"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE, Capability.VERIFY})
    Options: ClassVar[type[ConnectorOptions]] = SqlOptions

    def __init__(self, name: str, options: ConnectorOptions) -> None:
        assert isinstance(options, SqlOptions)
        super().__init__(name, options)
        self.opts = options
        self._ordered = _order(options.tables)
        self._engine: AsyncEngine | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            try:
                self._engine = create_async_engine(
                    async_url(self.opts.url), hide_parameters=True, pool_pre_ping=True
                )
            except (NoSuchModuleError, ImportError) as exc:
                raise ConnectorConfigError(f"database driver not installed: {exc}") from None
        return self._engine

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _translate(self, exc: SQLAlchemyError) -> Exception:
        """Schema and permission problems are permanent; lost connections and locks are not.

        Drivers disagree on classes (SQLite calls a missing table an OperationalError, like a
        lock), so the message decides when the class cannot.
        """
        text = _short(exc)
        if any(hint in text.lower() for hint in _PERMANENT_HINTS):
            return PermanentError(f"{self.name}: database refused the statement ({text})")
        if isinstance(exc, DBAPIError) and (
            exc.connection_invalidated
            or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
        ):
            return TransientError(f"{self.name}: database unavailable ({text})")
        if isinstance(exc, sa.exc.TimeoutError | sa.exc.DisconnectionError):
            return TransientError(f"{self.name}: database unavailable ({text})")
        return PermanentError(f"{self.name}: database refused the statement ({text})")

    # -- matching ---------------------------------------------------------------------------

    def _direct_condition(self, rule: TableRule, subject: Subject) -> sa.ColumnElement[bool] | None:
        assert rule.identifier is not None
        value = subject.get(rule.identifier)
        if value is None or not value.strip():
            return None  # an absent or empty identifier never matches anything
        col: sa.ColumnClause[Any] = sa.column(rule.key)
        if rule.case_insensitive:
            return sa.func.lower(col) == value.strip().lower()
        return col == value.strip()

    async def _conditions(
        self, conn: AsyncConnection, subject: Subject
    ) -> dict[str, list[sa.ColumnElement[bool]]]:
        """For each table, the WHERE clauses (chunked) that select the subject's rows."""
        conds: dict[str, list[sa.ColumnElement[bool]]] = {}
        for rule in self._ordered:
            if rule.identifier is not None:
                c = self._direct_condition(rule, subject)
                conds[rule.table] = [c] if c is not None else []
                continue
            assert rule.parent_table is not None and rule.parent_column is not None
            values: list[Any] = []
            for pc in conds[rule.parent_table]:
                query: sa.Select[Any] = (
                    sa.select(sa.column(rule.parent_column))
                    .select_from(_table(rule.parent_table, rule.parent_column))
                    .where(pc)
                    .distinct()
                )
                values.extend(v for v in (await conn.execute(query)).scalars() if v is not None)
            values = sorted(set(values), key=repr)
            conds[rule.table] = [
                sa.column(rule.key).in_(values[i : i + _CHUNK])
                for i in range(0, len(values), _CHUNK)
            ]
        return conds

    async def _count(
        self, conn: AsyncConnection, rule: TableRule, conds: list[sa.ColumnElement[bool]]
    ) -> int:
        total = 0
        for c in conds:
            q = sa.select(sa.func.count()).select_from(_table(rule.table, rule.key)).where(c)
            total += int((await conn.execute(q)).scalar_one())
        return total

    # -- the protocol -----------------------------------------------------------------------

    async def check(self) -> None:
        try:
            columns: dict[str, set[str]] = {
                r.table: {r.key, *r.set, *r.nullify} for r in self._ordered
            }
            for r in self._ordered:
                if r.parent_table is not None and r.parent_column is not None:
                    columns[r.parent_table].add(r.parent_column)
            async with self._get_engine().connect() as conn:
                for table, cols in columns.items():
                    # Selecting nothing still makes the database name every table and column.
                    q: sa.Select[Any] = (
                        sa.select(*[sa.column(c) for c in sorted(cols)])  # type: ignore[assignment]
                        .select_from(_table(table, *cols))
                        .where(sa.false())
                    )
                    await conn.execute(q)
        except SQLAlchemyError as exc:
            raise self._translate(exc) from None

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        try:
            async with self._get_engine().begin() as conn:
                return await self._erase_in(conn, subject)
        except SQLAlchemyError as exc:
            raise self._translate(exc) from None

    async def _erase_in(self, conn: AsyncConnection, subject: Subject) -> Outcome:
        conds = await self._conditions(conn, subject)
        planned = {r.table: await self._count(conn, r, conds[r.table]) for r in self._ordered}
        to_change = sum(planned[r.table] for r in self._ordered if r.action != "retain")
        limit = self.opts.max_rows
        if to_change > limit:
            raise BlastRadiusExceeded(would_touch=to_change, limit=limit, where=self.name)
        if not any(planned.values()):
            return NotFound(evidence={"tables_checked": len(self._ordered)})

        counts: dict[str, int] = {}
        changed = 0
        # Children first: a row is removed before the row its foreign key points at.
        for rule in reversed(self._ordered):
            if rule.action == "retain" or not planned[rule.table]:
                continue
            done = 0
            for c in conds[rule.table]:
                tbl = _table(rule.table, rule.key, *rule.set, *rule.nullify)
                if rule.action == "delete":
                    stmt: sa.Executable = sa.delete(tbl).where(c)
                else:
                    values: dict[str, Any] = {**rule.set, **dict.fromkeys(rule.nullify)}
                    stmt = sa.update(tbl).where(c).values(values)
                result = await conn.execute(stmt)
                done += max(int(getattr(result, "rowcount", 0) or 0), 0)
            changed += done
            if changed > limit:  # rows arrived between the count and the change
                raise BlastRadiusExceeded(would_touch=changed, limit=limit, where=self.name)
            verb = "deleted" if rule.action == "delete" else "anonymized"
            counts[f"{rule.table}.{verb}"] = done

        retained = [
            (r, planned[r.table])
            for r in self._ordered
            if r.action == "retain" and planned[r.table]
        ]
        evidence: dict[str, Any] = {"rows_changed": changed}
        if not retained:
            return Erased(counts=counts, evidence=evidence)

        return self._retained(retained, counts, evidence)

    def _retained(
        self,
        retained: list[tuple[TableRule, int]],
        counts: dict[str, int],
        evidence: dict[str, Any],
    ) -> Retained:
        today = date.today()
        details: list[tuple[TableRule, int, date | None, date | None]] = []
        for rule, n in retained:
            until = today + timedelta(days=rule.retain_days) if rule.retain_days else None
            review = today + timedelta(days=rule.review_days) if rule.review_days else None
            details.append((rule, n, until, review))
        # The exception as a whole lasts as long as its longest dated part; if no part is
        # dated, it is indefinite and reviewed on the latest review date.
        dated = [(u, r) for r, _, u, _ in details if u is not None]
        reviewed = [(v, r) for r, _, _, v in details if v is not None]
        until_date, main_rule = max(dated, key=lambda d: d[0]) if dated else (None, None)
        review_date = None
        if main_rule is None:
            review_date, main_rule = max(reviewed, key=lambda d: d[0])
        evidence["retained"] = [
            {
                "table": r.table,
                "rows": n,
                "legal_basis": r.legal_basis,
                "retained_until": u.isoformat() if u else None,
                "review_on": v.isoformat() if v else None,
            }
            for r, n, u, v in details
        ]
        notes = "; ".join(f"{r.table}: {r.note}" for r, *_ in details if r.note)
        return Retained(
            legal_basis=str(main_rule.legal_basis),
            note=notes or f"kept under {main_rule.legal_basis}",
            retained_until=until_date,
            review_on=review_date,
            retained_counts={f"{r.table}.retained": n for r, n, *_ in details},
            counts=counts,
            evidence=evidence,
        )

    async def verify(self, subject: Subject) -> Residual:
        try:
            async with self._get_engine().connect() as conn:
                conds = await self._conditions(conn, subject)
                remaining = {}
                for rule in self._ordered:
                    if rule.action == "retain":
                        continue
                    n = await self._count(conn, rule, conds[rule.table])
                    if n:
                        remaining[f"{rule.table}.remaining"] = n
                return Residual(remaining=remaining)
        except SQLAlchemyError as exc:
            raise self._translate(exc) from None
