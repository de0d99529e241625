"""crypto_shred beyond the kit: an old backup can no longer be read for the erased subject while
everyone else's still restores, on SQLite, PostgreSQL and MariaDB; a KMS plugged in through
the KeyStore interface; configuration errors in one line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import (
    REPLAYED_FROM_RECEIPT,
    ConnectorConfigError,
    ConnectorRegistry,
    Retained,
    Subject,
)
from connectors._journal import MemoryJournal, using_journal
from connectors.crypto_shred import (
    CryptoShredConnector,
    CryptoShredOptions,
    KeyDestroyed,
    SqlKeyStore,
    StoredKey,
    key_id_of,
    key_table,
    seal,
    unseal,
)
from connectors.testing import SUBJECT
from tests.connectors.databases import SystemDatabase, provision

PEOPLE = {
    "Ada@Example.org": {"name": "Ada Byron", "plan": "gold"},
    "nada@example.org": {"name": "Nada Nadal", "plan": "silver"},
    "grace@example.org": {"name": "Grace Hopper", "plan": "gold"},
}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemDatabase]:
    async with provision(request.param, tmp_path) as db:
        await db.create(key_table(db.qualify("subject_keys")).metadata)
        yield db


def options(db: SystemDatabase, **more: Any) -> dict[str, Any]:
    return {
        "url": db.url,
        "table": db.qualify("subject_keys"),
        "backup_retention_days": 35,
        **more,
    }


async def make_backup(store: SqlKeyStore, path: Path) -> None:
    """What the backup side does each night: every person's record under their own key."""
    lines = []
    for email, record in PEOPLE.items():
        key_id, key = await store.issue(email)
        blob = seal(key, key_id, json.dumps({"email": email, **record}).encode())
        lines.append(blob.hex())
    path.write_text("\n".join(lines), encoding="ascii")


async def restore(store: SqlKeyStore, path: Path) -> tuple[list[dict[str, Any]], int]:
    """What a restore does: every record it can read, and how many it cannot."""
    restored, unreadable = [], 0
    for line in path.read_text(encoding="ascii").splitlines():
        blob = bytes.fromhex(line)
        try:
            restored.append(json.loads(unseal(await store.key(key_id_of(blob)), blob)))
        except KeyDestroyed:
            unreadable += 1
    return restored, unreadable


async def test_an_old_backup_cannot_be_read_for_the_subject_and_restores_everyone_else(
    database: SystemDatabase, tmp_path: Path
) -> None:
    connector = ConnectorRegistry.from_entry_points().build(
        "backups", "crypto_shred", options(database)
    )
    assert isinstance(connector, CryptoShredConnector)
    store = connector.store
    assert isinstance(store, SqlKeyStore)
    old, new = tmp_path / "monday.bak", tmp_path / "tuesday.bak"
    await make_backup(store, old)
    await make_backup(store, new)
    before = old.read_bytes()
    restored, unreadable = await restore(store, old)
    assert unreadable == 0 and {r["email"] for r in restored} == set(PEOPLE)

    try:
        outcome = await connector.erase(SUBJECT.subject(), "er-shred-1")
        residual = await connector.verify(SUBJECT.subject())
        for path in (old, new):
            restored, unreadable = await restore(store, path)
            assert unreadable == 1
            assert sorted(r["email"] for r in restored) == ["grace@example.org", "nada@example.org"]
    finally:
        await connector.aclose()

    assert old.read_bytes() == before, "the backup itself is never edited"
    assert isinstance(outcome, Retained)
    assert outcome.legal_basis == "backup-rotation"
    today = datetime.now(UTC).date()
    assert outcome.retained_until in {today + timedelta(days=35), today + timedelta(days=36)}
    assert outcome.counts == {"keys.destroyed": 2}
    destroyed = outcome.evidence["keys_destroyed"]
    assert len(destroyed) == 2 and all(len(d["key_id"]) == 32 for d in destroyed)
    assert all(datetime.fromisoformat(d["destroyed_at"]).tzinfo is not None for d in destroyed)
    # Not "ada" alone: it is three hex digits, and the evidence holds random hex key ids.
    evidence = json.dumps(outcome.evidence).lower()
    assert "ada@" not in evidence and "byron" not in evidence and "example.org" not in evidence
    assert residual.clean
    # The tombstones name the key and when it went, nothing else.
    rows = await database.dump(key_table(database.qualify("subject_keys")).metadata)
    gone = [r for r in rows.values() if r[2] is None]
    assert len(gone) == 2 and all(r[1] is None and r[4] is not None for r in gone)


class MemoryKms:
    """A KMS in memory, plugged in as ``key_store = "module:Class"``."""

    keys: dict[str, tuple[str, bool]] = {}

    def __init__(self, name: str, options: CryptoShredOptions) -> None:
        self.name = name

    async def candidates(self, wanted: Any, *, around: bool = False) -> list[StoredKey]:
        return [StoredKey(k, who, live) for k, (who, live) in self.keys.items() if live]

    async def destroy(self, key_ids: Sequence[str]) -> datetime:
        for k in key_ids:
            self.keys[k] = ("", False)
        return datetime.now(UTC)

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_a_kms_can_stand_in_for_the_table() -> None:
    MemoryKms.keys = {"kms-1": ("Ada@Example.org", True), "kms-2": ("nada@example.org", True)}
    connector = ConnectorRegistry.from_entry_points().build(
        "backups",
        "crypto_shred",
        {"key_store": f"{__name__}:MemoryKms", "backup_retention_days": 7},
    )
    outcome = await connector.erase(Subject(ref="ps", email="ada@example.org"), "er-kms")
    assert isinstance(outcome, Retained) and outcome.counts == {"keys.destroyed": 1}
    assert [d["key_id"] for d in outcome.evidence["keys_destroyed"]] == ["kms-1"]
    assert MemoryKms.keys["kms-2"] == ("nada@example.org", True)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"key_store": "nowhere"}, "package.module:Class"),
        ({"key_store": "no_such_module:Kms"}, "cannot import key store"),
        ({"url": None}, "needs url"),
        ({"identifier": "name"}, "identifier"),
        ({"table": "keys; drop"}, "table"),
    ],
)
def test_a_bad_configuration_is_refused_in_one_line(given: dict[str, Any], says: str) -> None:
    base = {"url": "sqlite+aiosqlite:///k.db", "backup_retention_days": 7}
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build("backups", "crypto_shred", {**base, **given})
    assert says in str(err.value) and "\n" not in str(err.value)


async def test_an_interrupted_erase_is_finished_by_another_worker_and_counts_its_keys(
    tmp_path: Path,
) -> None:
    async with provision("sqlite", tmp_path) as db:
        await db.create(key_table(db.qualify("subject_keys")).metadata)
        journal = MemoryJournal()
        with using_journal(journal):
            first = ConnectorRegistry.from_entry_points().build(
                "backups", "crypto_shred", options(db)
            )
            assert isinstance(first, CryptoShredConnector)
            store = first.store
            assert isinstance(store, SqlKeyStore)
            ids = [(await store.issue("ada@example.org"))[0] for _ in range(2)]
            # The attempt destroyed the first key, then the worker died before its outcome.
            await journal.put("er-crash", {"destroying": sorted(ids)})
            await store.destroy(ids[:1])
            await first.aclose()
            other = ConnectorRegistry.from_entry_points().build(
                "backups", "crypto_shred", options(db)
            )
            try:
                outcome = await other.erase(Subject(ref="ps", email="ada@example.org"), "er-crash")
            finally:
                await other.aclose()
    assert isinstance(outcome, Retained) and outcome.counts == {"keys.destroyed": 2}
    assert outcome.evidence[REPLAYED_FROM_RECEIPT] is True
    by_id = {d["key_id"]: d for d in outcome.evidence["keys_destroyed"]}
    assert by_id[ids[0]] == {"key_id": ids[0], "destroyed_by_an_interrupted_attempt": True}
    assert "destroyed_at" in by_id[ids[1]]
