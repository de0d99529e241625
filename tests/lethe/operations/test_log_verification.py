"""The proof log against its heads, and certificates handed out earlier against the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import ErasureRounds, Ledger, OutcomeEntry, ProofLog, TreeHeadSigner
from ledger.proof import key_fingerprint
from lethe.certificates import load_certificate, write_certificate
from lethe.errors import LetheError
from lethe.operations.log_verification import signing_key_of, superseded_receipts, verify_log
from lethe.settings import Settings, load_settings
from tests.support.requests import ERASED, NOW, finished_request


@dataclass
class _Reading:
    settings: Settings
    ledger: Ledger


@pytest.fixture
def reading(sqlite_ledger: Ledger, bare_home: Path) -> _Reading:
    return _Reading(load_settings(), sqlite_ledger)


def test_receipts_sealed_after_a_certificate_supersede_it() -> None:
    cert: dict[str, Any] = {"receipts": [{"leaf_index": 3}, {"leaf_index": 4}]}
    assert superseded_receipts(cert, [3, 4]) == []
    assert superseded_receipts(cert, [3, 4, 17, 18]) == [17, 18]


def test_a_certificate_is_checked_with_the_key_that_signed_it() -> None:
    old, new = (Ed25519PrivateKey.generate().public_key() for _ in range(2))
    cert = {"tree_head": {"key_fingerprint": key_fingerprint(new)}}
    assert signing_key_of(cert, [old, new]) is new
    assert signing_key_of({"tree_head": {"key_fingerprint": "other"}}, [old, new]) is old


async def test_an_empty_log_is_not_called_verified(reading: _Reading) -> None:
    key = Ed25519PrivateKey.generate().public_key()
    done = await verify_log(reading, [key])
    assert not done.ok and not done.own_key
    [problem] = done.check.ordered()
    assert problem.message.startswith("the proof log is empty: nothing was ever sealed in sqlite")


async def test_without_a_key_given_or_kept_here_nothing_is_checked(reading: _Reading) -> None:
    with pytest.raises(LetheError, match="no public key to check against: give --public-key"):
        await verify_log(reading, [])


async def test_a_certificate_a_later_round_added_to_is_pointed_out(
    reading: _Reading, sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    signing = Ed25519PrivateKey.generate()
    log = ProofLog(sqlite_ledger, TreeHeadSigner(signing))
    await finished_request(sqlite_ledger, "er-c", {"crm": OutcomeEntry("failed", error="down")})
    await log.seal("er-c", at=NOW)
    path = tmp_path / "c.json"
    write_certificate(await log.certificate("er-c", issued_at=NOW), path)
    certs = [(path, load_certificate(path)[0])]

    done = await verify_log(reading, [signing.public_key()], certs)
    assert done.ok and done.certificates[0]["newer_receipts"] == []

    later = NOW + timedelta(days=3)  # a retry erases crm in round 1, and is sealed
    await sqlite_ledger.begin_system(
        "er-c", "crm", 1, connector="sql", connector_version="1", at=later
    )
    await sqlite_ledger.finish_system("er-c", "crm", 1, ERASED, at=later)
    await ErasureRounds(sqlite_ledger).close_round("er-c", "crm", 1, at=later)
    await log.seal("er-c", at=later)

    done = await verify_log(reading, [signing.public_key()], certs)
    [report] = done.certificates
    assert done.ok  # still a true statement of the past, and its head is in the log
    assert report["newer_receipts"] and report["notes"][0].startswith(
        f"superseded: the log holds {len(report['newer_receipts'])} receipts of er-c"
    )
