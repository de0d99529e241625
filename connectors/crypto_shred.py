"""Crypto-shredded backups: erase a person from every backup copy by destroying their key.

Backups cannot be edited, but they can be written so that each person's data in them is
encrypted under a key of that person's own (a *data key*), kept outside the backups in a
**key store**. Destroying the key makes that person's data in every copy, old and new,
unreadable, while everyone else's still restores. This connector does the destroying.

    [systems.backups]
    connector = "crypto_shred"
    url_env = "BACKUP_KEYS_URL"      # the key store: a table reached through SQLAlchemy
    table = "subject_keys"
    identifier = "email"             # the kind of identifier the key is filed under
    backup_retention_days = 35       # how long the encrypted copies live before rotation

The key store is a table (:func:`key_table`): ``key_id`` (random, names nobody), the
identifier the key is filed under, the key itself, when it was made and when it was
destroyed. Erasing finds the subject's live keys (matched by ``connectors._matching``: the
candidates the database returns are confirmed in Python, so a look-alike's key is never
destroyed), then in one transaction overwrites the key *and* the identifier with NULL and
stamps ``destroyed_at``; the row stays as the tombstone that names the key id. On SQLite the
engine zeroes freed space (``secure_delete``); on PostgreSQL the old row version stays on disk
until ``VACUUM``, which the connector runs on the table after destroying (MariaDB's InnoDB
purges it by itself).

The outcome is ``Retained`` under ``backup-rotation``: the ciphertext is still in the copies
until they rotate away (``backup_retention_days`` after the erasure), unreadable. Evidence is
each key id and the time it was destroyed. ``verify`` reports live keys still filed under the
subject (and look-alikes: the identifier with whitespace around it).

A KMS instead of a table: implement :class:`KeyStore` (find candidates, destroy by id) and
name it in ``key_store = "package.module:Class"``; it is built with the connector's options.

:func:`seal` and :func:`unseal` are the envelope the backup side uses (AES-256-GCM, the key id
as associated data); :class:`SqlKeyStore` also issues keys (:meth:`SqlKeyStore.issue`) and
reads them back for a restore (:meth:`SqlKeyStore.key`). Tests and ``lethe demo`` use them.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import sqlalchemy as sa
from pydantic import Field, field_validator
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from vocabulary import LegalBasis

from ._errors import ConnectorConfigError
from ._idempotency import REPLAYED_FROM_RECEIPT
from ._matching import IDENTIFYING_KINDS, IdentifierMatch
from ._outcomes import NotFound, NotSearched, Outcome, Residual, Retained
from ._plan import Plan
from ._protocol import BaseConnector, Capability, ConnectorOptions, guard_blast_radius
from ._receipt import receipt_of, replayed
from ._subject import Subject
from .sql import (
    _candidates,
    _zero_freed_space,
    async_url,
    sql_failure,
)

__all__ = [
    "CryptoShredConnector",
    "CryptoShredOptions",
    "KeyDestroyed",
    "KeyStore",
    "SqlKeyStore",
    "StoredKey",
    "key_table",
    "seal",
    "unseal",
]

_NONCE = 12
_KEY_ID = 32


class KeyDestroyed(Exception):
    """A backup record whose key is gone: it cannot be read, by anyone, ever."""


def seal(key: bytes, key_id: str, plaintext: bytes) -> bytes:
    """``plaintext`` encrypted under ``key`` (AES-256-GCM), with the key id in front so that a
    restore knows which key to ask for. The key id is authenticated (associated data)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kid = key_id.encode().ljust(_KEY_ID)
    if len(kid) != _KEY_ID:
        raise ValueError("a key id is at most 32 bytes")
    nonce = os.urandom(_NONCE)
    return kid + nonce + AESGCM(key).encrypt(nonce, plaintext, kid)


def key_id_of(blob: bytes) -> str:
    return blob[:_KEY_ID].decode().rstrip()


def unseal(key: bytes | None, blob: bytes) -> bytes:
    """The plaintext of a :func:`seal`-ed record; :class:`KeyDestroyed` without its key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if key is None:
        raise KeyDestroyed(f"the key {key_id_of(blob)} was destroyed: this record is unreadable")
    kid, nonce, body = blob[:_KEY_ID], blob[_KEY_ID : _KEY_ID + _NONCE], blob[_KEY_ID + _NONCE :]
    return AESGCM(key).decrypt(nonce, body, kid)


def _split(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def key_table(name: str = "subject_keys", identifier_column: str = "email") -> sa.Table:
    """The key store's table (``schema.table`` allowed), for creating it."""
    schema, table = _split(name)
    return sa.Table(
        table,
        sa.MetaData(schema=schema),
        sa.Column("key_id", sa.String(_KEY_ID), primary_key=True),
        sa.Column(identifier_column, sa.String(320), nullable=True, index=True),
        # Hex text: portable, and some drivers mangle bytes (aiomysql with PyMySQL 1.1).
        sa.Column("key_material", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(), nullable=True),
    )


@dataclass(frozen=True)
class StoredKey:
    """A key as the store files it: its id, the identifier it is filed under (None once
    destroyed) and whether it still exists."""

    key_id: str
    filed_under: str | None
    live: bool


@runtime_checkable
class KeyStore(Protocol):
    """Where the per-subject keys are. Failures are :class:`TransientError` or
    :class:`PermanentError`, with messages that name no identifier."""

    async def candidates(self, wanted: IdentifierMatch, *, around: bool = False) -> list[StoredKey]:
        """Live keys whose identifier may equal ``wanted`` (a superset: the connector
        confirms), with anything around it too when ``around`` (for look-alikes)."""
        ...

    async def destroy(self, key_ids: Sequence[str]) -> datetime:
        """Destroy the keys (the material and what they are filed under), all or none;
        when. A key already destroyed stays destroyed."""
        ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...


class CryptoShredOptions(ConnectorOptions):
    key_store: str = Field(
        default="sql", description='"sql" (a table), or "package.module:Class" (a KMS…)'
    )
    url: str | None = Field(default=None, description="SQLAlchemy URL of the key store")
    table: str = "subject_keys"
    identifier: str = Field(default="email", description="The kind the keys are filed under")
    identifier_column: str | None = Field(
        default=None, description="Its column (default: the kind's name)"
    )
    backup_retention_days: int = Field(
        ge=1, description="How long an encrypted backup copy lives before rotation"
    )

    @field_validator("identifier")
    @classmethod
    def _identifying(cls, v: str) -> str:
        if v not in IDENTIFYING_KINDS:
            raise ValueError(f"must be one of {', '.join(sorted(IDENTIFYING_KINDS))}")
        return v

    @field_validator("table", "identifier_column")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not all(p.isidentifier() for p in v.split(".")):
            raise ValueError("must be a plain (optionally schema-qualified) name")
        return v


class SqlKeyStore:
    """The key store as a table reached through SQLAlchemy (SQLite, PostgreSQL, MariaDB…)."""

    def __init__(self, name: str, options: CryptoShredOptions) -> None:
        if not options.url:
            raise ConnectorConfigError("the sql key store needs url (or url_env)")
        self.name = name
        self.url = options.url
        self.column = options.identifier_column or options.identifier
        schema, table = _split(options.table)
        self.table = sa.table(
            table,
            sa.column("key_id"),
            sa.column(self.column),
            sa.column("key_material"),
            sa.column("created_at"),
            sa.column("destroyed_at"),
            schema=schema,
        )
        self._engine: AsyncEngine | None = None

    def engine(self) -> AsyncEngine:
        if self._engine is None:
            try:
                self._engine = create_async_engine(
                    async_url(self.url), hide_parameters=True, pool_pre_ping=True
                )
            except (NoSuchModuleError, ImportError) as exc:
                raise ConnectorConfigError(f"database driver not installed: {exc}") from None
            if self._engine.dialect.name == "sqlite":
                sa.event.listen(self._engine.sync_engine, "connect", _zero_freed_space)
        return self._engine

    def _failure(self, exc: Exception) -> Exception:
        """As the sql connector decides (``connectors.sql.sql_failure``)."""
        return sql_failure(self.name, "key store", exc)

    async def check(self) -> None:
        try:
            async with self.engine().connect() as conn:
                await conn.execute(sa.select(sa.func.count()).select_from(self.table))
        except (SQLAlchemyError, OSError) as exc:
            raise self._failure(exc) from None

    async def candidates(self, wanted: IdentifierMatch, *, around: bool = False) -> list[StoredKey]:
        t = self.table
        query = sa.select(t.c.key_id, t.c[self.column]).where(
            _candidates(wanted, self.column, around=around), t.c.key_material.is_not(None)
        )
        try:
            async with self.engine().connect() as conn:
                rows = (await conn.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise self._failure(exc) from None
        return [StoredKey(str(r[0]), r[1], True) for r in rows]

    async def destroy(self, key_ids: Sequence[str]) -> datetime:
        t = self.table
        when = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        try:
            engine = self.engine()
            async with engine.begin() as conn:
                await conn.execute(
                    t.update()
                    .where(t.c.key_id.in_(list(key_ids)), t.c.key_material.is_not(None))
                    .values({"key_material": None, self.column: None, "destroyed_at": when})
                )
            if engine.dialect.name == "postgresql":
                # The old row version (the key) stays in the table's pages until VACUUM.
                async with engine.connect() as conn:
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    name = self.table.fullname
                    await auto.execute(sa.text(f"VACUUM {name}"))
        except (SQLAlchemyError, OSError) as exc:
            raise self._failure(exc) from None
        return when.replace(tzinfo=UTC)

    async def issue(self, filed_under: str) -> tuple[str, bytes]:
        """A new key for a subject (the backup side's call): its id and the key."""
        key_id, key = secrets.token_hex(16), secrets.token_bytes(32)
        async with self.engine().begin() as conn:
            await conn.execute(
                self.table.insert().values(
                    {
                        "key_id": key_id,
                        self.column: filed_under,
                        "key_material": key.hex(),
                        "created_at": datetime.now(UTC).replace(tzinfo=None),
                    }
                )
            )
        return key_id, key

    async def key(self, key_id: str) -> bytes | None:
        """The key for a restore, or None once destroyed."""
        t = self.table
        async with self.engine().connect() as conn:
            row = (
                await conn.execute(sa.select(t.c.key_material).where(t.c.key_id == key_id))
            ).first()
        return None if row is None or row[0] is None else bytes.fromhex(row[0])

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def _store_class(ref: str) -> Any:
    if ref == "sql":
        return SqlKeyStore
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise ConnectorConfigError(f'key_store is "sql" or "package.module:Class", not {ref!r}')
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConnectorConfigError(f"cannot import key store {ref!r}: {exc}") from None


class CryptoShredConnector(BaseConnector[CryptoShredOptions]):
    kind: ClassVar[str] = "crypto_shred"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    def __init__(self, name: str, options: CryptoShredOptions) -> None:
        super().__init__(name, options)
        self.store: KeyStore = _store_class(options.key_store)(name, options)
        if not isinstance(self.store, KeyStore):
            raise ConnectorConfigError(f"key store {options.key_store!r} is not a KeyStore")

    async def check(self) -> None:
        await self.store.check()

    async def aclose(self) -> None:
        await self.store.aclose()

    def _wanted(self, subject: Subject) -> IdentifierMatch | None:
        return IdentifierMatch.of(self.options.identifier, subject.get(self.options.identifier))

    async def _keys(self, subject: Subject) -> list[str] | None:
        """The ids of the subject's live keys, or None if the request lacks the identifier."""
        value = subject.get(self.options.identifier)
        if value is None or not value.strip():
            return None
        wanted = self._wanted(subject)
        if wanted is None:
            return []
        found = await self.store.candidates(wanted)
        return sorted(k.key_id for k in found if k.live and wanted.equals(k.filed_under))

    def _kept(
        self,
        destroyed: list[dict[str, Any]],
        counts: dict[str, int],
        when: datetime,
        *,
        earlier: int = 0,
    ) -> Retained:
        day = when.date()
        evidence: dict[str, Any] = {
            "key_store": self.options.key_store,
            "keys_destroyed": destroyed,
        }
        if earlier:
            # This finishes what an interrupted attempt started, and counts what it did.
            evidence[REPLAYED_FROM_RECEIPT] = True
        return Retained(
            legal_basis=LegalBasis.BACKUP_ROTATION.value,
            note=(
                "the backup copies keep this person's data encrypted under keys destroyed on"
                f" {day.isoformat()}: unreadable by anyone; the ciphertext goes as the copies"
                " rotate"
            ),
            retained_until=day + timedelta(days=self.options.backup_retention_days),
            retained_counts={"encrypted_records.retained": len(destroyed)},
            counts=counts,
            evidence=evidence,
        )

    async def plan(self, subject: Subject) -> Plan:
        keys = await self._keys(subject) or []
        return Plan(
            counts={"keys.destroyed": len(keys)} if keys else {},
            retained_counts={"encrypted_records.retained": len(keys)} if keys else {},
            limit=self.options.max_items,
        )

    async def verify(self, subject: Subject) -> Residual:
        wanted = self._wanted(subject)
        if wanted is None:
            return Residual()
        around = await self.store.candidates(wanted, around=True)
        remaining = {
            "keys.remaining": sum(wanted.equals(k.filed_under) for k in around if k.live),
            "keys.lookalike": sum(wanted.looks_like(k.filed_under) for k in around if k.live),
        }
        return Residual(remaining={k: n for k, n in remaining.items() if n})

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        entry = await self.journal.get(request_id)
        if entry and "outcome" in entry:
            return replayed(entry["outcome"])
        keys = await self._keys(subject)
        if keys is None:
            return NotSearched(missing=(self.options.identifier,))
        # An attempt interrupted after destroying: its keys are gone already, and count.
        earlier: list[str] = list((entry or {}).get("destroying") or [])
        if not keys and not earlier:
            return NotFound(evidence={"key_store": self.options.key_store})
        guard_blast_radius(len(keys), self.options, where=f"key store of {self.name}", unit="keys")
        if keys:
            await self.journal.put(request_id, {"destroying": sorted({*earlier, *keys})})
            when = await self.store.destroy(keys)
        else:
            when = datetime.now(UTC).replace(microsecond=0)
        every = sorted({*earlier, *keys})
        before = sorted(set(earlier) - set(keys))  # an interrupted attempt destroyed these
        destroyed: list[dict[str, Any]] = [
            {"key_id": k, "destroyed_at": when.isoformat()}
            if k in keys
            else {"key_id": k, "destroyed_by_an_interrupted_attempt": True}
            for k in every
        ]
        outcome = self._kept(destroyed, {"keys.destroyed": len(every)}, when, earlier=len(before))
        await self.journal.put(
            request_id,
            {"destroying": every, "at": when.isoformat(), "outcome": receipt_of(outcome)},
        )
        return outcome
