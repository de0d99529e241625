"""The conformance kit against backup_files: copies are found, reported retained, never touched.

Each person has a nightly export of their own; one full dump holds everyone. Every copy is
declared retained (the connector never edits a backup), so the kit checks that the subject's
copies are reported and that no copy changes by a byte.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.testing import ConformanceSuite, FaultInjector, Harness, Person, Seeded, built_with


class BackupHarness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.options: dict[str, Any] = {"path": str(root), "retention_days": 35}

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry.from_entry_points().build(
            "backups", "backup_files", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        for old in self.root.iterdir():
            old.unlink()
        records: dict[Person, set[str]] = {p: set() for p in people}
        lines = []
        for n, p in enumerate(people):
            line = f"INSERT INTO users VALUES ({n}, '{p.email}', '{p.username}');\n"
            lines.append(line)
            name = f"export-{n:03d}.sql"
            (self.root / name).write_text(line, encoding="utf-8")
            records[p].add(name)
        (self.root / "full-dump.sql").write_text("".join(lines), encoding="utf-8")
        for p in people:
            records[p].add("full-dump.sql")
        for path in self.root.iterdir():
            os.utime(path, (1_700_000_000, 1_700_000_000))
        everything = frozenset(p.name for p in self.root.iterdir())
        return Seeded(
            records={p: frozenset(r) for p, r in records.items()},
            traces={p: frozenset({p.email}) for p in people},
            retained=everything,
        )

    async def snapshot(self) -> Mapping[Any, Any]:
        return {p.name: p.read_bytes() for p in sorted(self.root.iterdir())}


class TestBackupFiles(ConformanceSuite):
    kind = "backup_files"
    identifier_kinds = frozenset({"email"})

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Harness:
        root = tmp_path / "copies"
        root.mkdir()
        return BackupHarness(root)

    @pytest.fixture
    def transient_fault(self, harness: BackupHarness, tmp_path: Path) -> FaultInjector:
        return built_with(harness, path=str(tmp_path / "not-mounted"))
