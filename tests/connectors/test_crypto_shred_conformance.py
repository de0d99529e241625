"""The conformance kit against crypto_shred, with its key store on SQLite, PostgreSQL and
MariaDB: the subject's keys are destroyed (material and identifier gone, the row kept as the
tombstone naming the key id), nobody else's key changes by a byte."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.crypto_shred import key_table
from connectors.testing import ConformanceSuite, FaultInjector, Person, Seeded, built_with
from tests.connectors.databases import OneSchemaPerClass, SystemDatabase

_CREATED = datetime(2026, 1, 1, 3, 0, 0)


class KeyStoreHarness:
    def __init__(self, db: SystemDatabase) -> None:
        self.db = db
        self.table = key_table(db.qualify("subject_keys"))
        self.metadata = self.table.metadata
        self.options: dict[str, Any] = {
            "url": db.url,
            "table": db.qualify("subject_keys"),
            "backup_retention_days": 35,
        }

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry.from_entry_points().build(
            "backups", "crypto_shred", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        rows = []
        records: dict[Person, frozenset[Any]] = {}
        for n, p in enumerate(people):
            # Two keys for each person (two backup generations), one for another purpose.
            ids = [f"k{n:03d}a", f"k{n:03d}b"]
            for key_id in ids:
                rows.append(
                    {
                        "key_id": key_id,
                        "email": p.email,
                        "key_material": f"{n:064x}",
                        "created_at": _CREATED,
                        "destroyed_at": None,
                    }
                )
            records[p] = frozenset((self.table.name, k) for k in ids)
        await self.db.replace_rows(self.metadata, {self.table.name: rows})
        return Seeded(records=records, traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self) -> Mapping[Any, Any]:
        return await self.db.dump(self.metadata)


class CryptoShredSuite(OneSchemaPerClass, ConformanceSuite):
    kind = "crypto_shred"
    identifier_kinds = frozenset({"email"})

    @classmethod
    def make_harness(cls, database: SystemDatabase) -> KeyStoreHarness:
        return KeyStoreHarness(database)

    @pytest.fixture
    def transient_fault(
        self, harness: KeyStoreHarness, database: SystemDatabase, tmp_path: Path
    ) -> FaultInjector:
        return built_with(harness, url=database.unreachable_url(tmp_path))

    @pytest.fixture
    def permanent_fault(self, harness: KeyStoreHarness, database: SystemDatabase) -> FaultInjector:
        return built_with(harness, table=database.qualify("no_such_table"))


class TestCryptoShredOnSqlite(CryptoShredSuite):
    backend = "sqlite"


@pytest.mark.services
class TestCryptoShredOnPostgres(CryptoShredSuite):
    backend = "postgresql"


@pytest.mark.services
class TestCryptoShredOnMariadb(CryptoShredSuite):
    backend = "mariadb"
