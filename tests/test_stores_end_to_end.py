"""Object stores and backups through a whole request: a version under S3 Object Lock, and a
crypto-shredded backup, appear in the request's outcome and in its certificate with their basis
and until-date; the shredded backup no longer restores the subject. After a restore brings
the person back (the object, the key), ``lethe backups replay`` erases them again."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from connectors.crypto_shred import (
    KeyDestroyed,
    SqlKeyStore,
    key_id_of,
    key_table,
    seal,
    unseal,
)
from ledger import ProofLog
from ledger.proof import check_certificate
from ledger.proof.signing import TreeHeadSigner
from lethe.assertions import mint_assertion
from lethe.demo.run import write_demo_config
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import SystemConfig, build_connectors
from tests.support.canary import Canary, find
from tests.support.cli import Lethe
from tests.support.s3_server import MotoS3, start
from tests.test_end_to_end import FAST, PORTAL, settings_for
from tests.test_pii_canary import lethe_env
from workflows import ErasureWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

#: A canary: an address seen nowhere else, searched for afterwards in every form.
CANARY = Canary.new()
EMAIL = CANARY.email
LOCKED_UNTIL = datetime(2034, 6, 30, tzinfo=UTC)


@pytest.fixture
def s3() -> Iterator[MotoS3]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


def seed_bucket(s3: MotoS3) -> Any:
    client = s3.client()
    client.create_bucket(Bucket="uploads", ObjectLockEnabledForBucket=True)
    client.put_object(Bucket="uploads", Key=f"users/{EMAIL}/avatar.png", Body=b"a")
    client.put_object(Bucket="uploads", Key=f"users/{EMAIL}/avatar.png", Body=b"b")
    client.put_object(
        Bucket="uploads",
        Key=f"users/{EMAIL}/contract.pdf",
        Body=b"signed",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=LOCKED_UNTIL,
    )
    client.put_object(Bucket="uploads", Key="users/grace@example.org/avatar.png", Body=b"g")
    return client


async def seed_key_store(url: str) -> tuple[SqlKeyStore, bytes, bytes, bytes]:
    """A key store with the subject's key and another person's, and a backup record of each."""
    from connectors.crypto_shred import CryptoShredOptions

    store = SqlKeyStore("backups", CryptoShredOptions(url=url, backup_retention_days=30))
    async with store.engine().begin() as conn:
        await conn.run_sync(key_table().metadata.create_all)
    ada_id, ada_key = await store.issue(EMAIL)
    grace_id, grace_key = await store.issue("grace@example.org")
    ada_backup = seal(ada_key, ada_id, b"ada's orders")
    return store, ada_key, ada_backup, seal(grace_key, grace_id, b"grace's")


async def test_a_locked_object_and_a_shredded_backup_are_in_the_outcome_and_the_certificate(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    s3: MotoS3,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LETHE_TEST_S3_SECRET", "test")
    client = seed_bucket(s3)
    keys_url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    store, ada_key, ada_backup, grace_backup = await seed_key_store(keys_url)
    systems = {
        "backups": SystemConfig(
            "backups", "crypto_shred", {"url": keys_url, "backup_retention_days": 30}
        ),
        "uploads": SystemConfig(
            "uploads",
            "s3",
            {
                "bucket": "uploads",
                "endpoint_url": s3.url,
                "access_key_id": "test",
                "secret_access_key_env": "LETHE_TEST_S3_SECRET",
                "prefixes": ["users/{email}/"],
            },
        ),
    }
    settings = settings_for(tmp_path, dev_server_env, task_queue, systems)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    signing_key = Ed25519PrivateKey.generate()
    try:
        async with worker_module.build_worker(
            dev_server_env.client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=signing_key,
        ):
            draft = validate_request(
                settings, email=EMAIL, assertion=mint_assertion(PORTAL, EMAIL, audience="lethe")
            )
            done = await submit_request(
                draft,
                settings=settings,
                ledger=ledger,
                client=dev_server_env.client,
                keys=keys,
                policy=FAST,
            )
            handle = dev_server_env.client.get_workflow_handle_for(
                ErasureWorkflow.run, done.workflow_id
            )
            result = await asyncio.wait_for(handle.result(), timeout=120)
            outcomes = {o.system: o for o in await ledger.outcomes(done.request_id)}
            outcome = outcomes["uploads"]
            log = ProofLog(ledger, TreeHeadSigner(signing_key))
            cert = await log.certificate(done.request_id, issued_at=datetime.now(UTC))
            ledger_files = {p.name: p.read_bytes() for p in tmp_path.glob("ledger.db*")}

            # A restore brings the person back: the avatar into the bucket, the key (and the
            # address it is filed under) into the key store. The existing verb erases again.
            client.put_object(Bucket="uploads", Key=f"users/{EMAIL}/avatar.png", Body=b"back")
            ada_id = key_id_of(ada_backup)
            with sqlite3.connect(tmp_path / "keys.db") as db:
                db.execute(
                    "UPDATE subject_keys SET email = ?, key_material = ? WHERE key_id = ?",
                    (EMAIL, ada_key.hex(), ada_id),
                )
            assert unseal(await store.key(ada_id), ada_backup) == b"ada's orders"
            seed = signing_key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            config = tmp_path / "lethe.toml"
            write_demo_config(config, systems)
            for name, value in lethe_env(settings, keys, seed, config).items():
                monkeypatch.setenv(name, value)
            cli = Lethe(dict(os.environ), tmp_path)
            code, out, err = await cli(
                "backups", "replay", "--request", done.request_id, "--systems",
                "uploads,backups", "--reason", "restored from last week's backup",
                "--operator", "kim", "--wait", "--json",
            )  # fmt: skip
            assert code == 0, err
            replayed = {r["system"]: r for r in json.loads(out)["started"]}
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()

    assert result.status == "completed_with_exceptions"
    assert outcome.outcome == "retained" and outcome.legal_basis == "gdpr-17-3-b"
    assert outcome.retained_until is not None
    assert str(outcome.retained_until)[:10] == "2034-06-30"
    assert outcome.counts == {"object_versions.deleted": 2}
    assert outcome.retained_counts == {"object_versions.retained": 1}
    assert outcome.verified_at is not None and not any((outcome.residual or {}).values())

    assert check_certificate(cert, signing_key.public_key()).ok
    (receipt,) = [
        e["receipt"]
        for e in cert["receipts"]
        if e["receipt"]["kind"] == "system_outcome" and e["receipt"]["system"] == "uploads"
    ]
    assert receipt["outcome"] == "retained"
    assert receipt["legal_basis"] == "gdpr-17-3-b"
    assert str(receipt["retained_until"])[:10] == "2034-06-30"
    assert receipt["evidence"]["locked_versions"][0]["retain_until"] == "2034-06-30"
    assert find([CANARY], "certificate", json.dumps(cert, default=str)) == []
    # Lethe's record (the ledger's file) and the key store after shredding hold no trace of
    # the person: the key store's row lost the address and the key, on disk too.
    for path in sorted(tmp_path.glob("ledger.db*")):  # with its write-ahead log, if any
        assert find([CANARY], path.name, path.read_bytes()) == []
    keys_file = (tmp_path / "keys.db").read_bytes()
    assert find([CANARY], "key store", keys_file) == []
    assert ada_key.hex().encode() not in keys_file

    shredded = outcomes["backups"]
    assert shredded.outcome == "retained" and shredded.legal_basis == "backup-rotation"
    assert shredded.retained_until is not None and shredded.counts == {"keys.destroyed": 1}
    (shred_receipt,) = [
        e["receipt"]
        for e in cert["receipts"]
        if e["receipt"]["kind"] == "system_outcome" and e["receipt"]["system"] == "backups"
    ]
    assert shred_receipt["legal_basis"] == "backup-rotation"
    assert shred_receipt["retained_until"] == receipt_date(shredded.retained_until)
    assert [k["key_id"] for k in shred_receipt["evidence"]["keys_destroyed"]] == [
        ada_backup[:32].decode().strip()
    ]
    try:
        with pytest.raises(KeyDestroyed):
            unseal(await store.key(ada_backup[:32].decode().strip()), ada_backup)
        assert unseal(await store.key(grace_backup[:32].decode().strip()), grace_backup) == (
            b"grace's"
        )
    finally:
        await store.aclose()

    # The replay: both erased again in round 1 (the contract is still locked, the archive's
    # ciphertext still there until rotation), and the restored key is gone again.
    assert {s: (r["round"], r["outcome"]) for s, r in replayed.items()} == {
        "uploads": (1, "retained"),
        "backups": (1, "retained"),
    }
    with pytest.raises(KeyDestroyed):
        unseal(await store.key(key_id_of(ada_backup)), ada_backup)
    for name, before in ledger_files.items():
        assert find([CANARY], name, before) == []

    left = sorted(v["Key"] for v in client.list_object_versions(Bucket="uploads")["Versions"])
    assert left == [f"users/{EMAIL}/contract.pdf", "users/grace@example.org/avatar.png"]


def receipt_date(value: object) -> object:
    """A date as the receipt holds it (the ledger's value, JSON-ready)."""
    return value.isoformat() if hasattr(value, "isoformat") else value
