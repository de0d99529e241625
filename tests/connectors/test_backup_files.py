"""Backup copies are found, reported retained until rotation, and never touched."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import ConnectorConfigError, ConnectorRegistry, NotFound, Retained, Subject
from connectors.backup_files import BackupFilesConnector

ADA = Subject(ref="ps", email="ada@example.org")


def copy(root: Path, name: str, content: bytes, days_ago: int) -> Path:
    path = root / name
    path.write_bytes(content)
    t = (datetime.now(UTC) - timedelta(days=days_ago)).timestamp()
    os.utime(path, (t, t))
    return path


def build(root: Path, **options: object) -> BackupFilesConnector:
    options = {"path": str(root), "retention_days": 30, **options}
    c = ConnectorRegistry({"backup_files": BackupFilesConnector}).build(
        "backups", "backup_files", options
    )
    assert isinstance(c, BackupFilesConnector)
    return c


async def test_copies_with_the_subject_are_retained_until_rotation(tmp_path: Path) -> None:
    copy(tmp_path, "old.sql", b"INSERT INTO users VALUES ('grace@example.org');", 20)
    copy(tmp_path, "mid.sql", b"INSERT ... ('ADA@EXAMPLE.ORG', 'Ada');", 10)
    newest = copy(tmp_path, "new.db", b"\x00\x01ada@example.orgAda Byron\x00", 3)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}

    outcome = await build(tmp_path).erase(ADA, "er-1")

    assert isinstance(outcome, Retained)
    assert outcome.legal_basis == "backup-rotation"
    assert outcome.retained_counts == {"copies.retained": 2}
    taken = datetime.fromtimestamp(newest.stat().st_mtime, tz=UTC).date()
    assert outcome.retained_until == taken + timedelta(days=30)
    assert sorted(c["name"] for c in outcome.evidence["copies"]) == ["mid.sql", "new.db"]
    assert digests == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()
    }


async def test_match_spanning_read_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.backup_files._BLOCK", 8)
    copy(tmp_path, "a.txt", b"0123456789abcada@example.org xyz", 1)
    assert isinstance(await build(tmp_path).erase(ADA, "er-1"), Retained)


@pytest.mark.parametrize("block", [8, 9, 1 << 20])  # 9: 'Á' is split between two reads
async def test_non_ascii_letters_are_found_in_any_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The copy holds what the person typed; the request carries it lower-cased. Folding the
    # bytes only folded ASCII, so this copy was reported NotFound.
    monkeypatch.setattr("connectors.backup_files._BLOCK", block)
    copy(tmp_path, "dump.sql", b"\xff\xfe INSERT ('x', '\xc3\x81D\xc3\x81@EXAMPLE.ORG');", 2)
    copy(tmp_path, "other.sql", b"INSERT ('ada@example.org');", 2)
    outcome = await build(tmp_path).erase(Subject(ref="ps", email="ádá@example.org"), "er-1")
    assert isinstance(outcome, Retained)
    assert [c["name"] for c in outcome.evidence["copies"]] == ["dump.sql"]


async def test_no_copy_holds_the_subject(tmp_path: Path) -> None:
    copy(tmp_path, "a.sql", b"grace@example.org", 1)
    outcome = await build(tmp_path).erase(ADA, "er-1")
    assert isinstance(outcome, NotFound)
    assert outcome.evidence == {"copies_scanned": 1}


async def test_pattern_limits_the_copies(tmp_path: Path) -> None:
    copy(tmp_path, "a.sql", b"ada@example.org", 1)
    copy(tmp_path, "b.db", b"ada@example.org", 1)
    outcome = await build(tmp_path, pattern="*.db").erase(ADA, "er-1")
    assert isinstance(outcome, Retained) and outcome.retained_counts == {"copies.retained": 1}


async def test_missing_directory(tmp_path: Path) -> None:
    c = build(tmp_path / "nope")
    with pytest.raises(Exception, match="does not exist"):
        await c.check()


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError, match="retention_days"):
        build(tmp_path, retention_days=0)
    with pytest.raises(ConnectorConfigError, match="identifiers"):
        build(tmp_path, identifiers=["shoe_size"])
    with pytest.raises(ConnectorConfigError, match="name does not identify one person"):
        build(tmp_path, identifiers=["name"])
    assert build(tmp_path, identifiers=["name", "email"]).options.identifiers == ["name", "email"]


@pytest.mark.parametrize(
    "spelling",
    [
        "ZO\u00cb@EXAMPLE.ORG",  # capitals only Unicode folds
        "zoe\u0308@example.org",  # decomposed
        "zo\u00eb@\uff45xample.org",  # a fullwidth letter
    ],
)
async def test_copies_holding_any_spelling_are_retained(tmp_path: Path, spelling: str) -> None:
    # Listing a copy as retained erases nothing; missing one would be a false record. So a
    # backup errs towards retention: look-alikes of the address count as the subject's.
    copy(tmp_path, "dump.sql", f"INSERT ('{spelling}');".encode(), 2)
    outcome = await build(tmp_path).erase(Subject(ref="ps", email="zo\u00eb@example.org"), "e")
    assert isinstance(outcome, Retained)
