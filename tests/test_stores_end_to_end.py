"""Object stores and backups through a whole request: a version under S3 Object Lock appears in
the request's outcome and in its certificate with its basis and until-date."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger import ProofLog
from ledger.proof import check_certificate
from ledger.proof.signing import TreeHeadSigner
from lethe.assertions import mint_assertion
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import SystemConfig, build_connectors
from tests.support.s3_server import MotoS3, start
from tests.test_end_to_end import FAST, PORTAL, settings_for
from workflows import ErasureWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

EMAIL = "ada@example.org"
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


async def test_a_locked_object_is_in_the_outcome_and_the_certificate(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    s3: MotoS3,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LETHE_TEST_S3_SECRET", "test")
    client = seed_bucket(s3)
    systems = {
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
        )
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
        (outcome,) = await ledger.outcomes(done.request_id)
        log = ProofLog(ledger, TreeHeadSigner(signing_key))
        cert = await log.certificate(done.request_id, issued_at=datetime.now(UTC))
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
    assert EMAIL not in repr(cert).lower()

    left = sorted(v["Key"] for v in client.list_object_versions(Bucket="uploads")["Versions"])
    assert left == [f"users/{EMAIL}/contract.pdf", "users/grace@example.org/avatar.png"]
