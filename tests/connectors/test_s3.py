"""The s3 connector beyond the kit: Object Lock (retention, legal hold, governance), hashed
prefixes, unversioned buckets, configuration errors, the missing extra."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from connectors import (
    REPLAYED_FROM_RECEIPT,
    ConnectorConfigError,
    ConnectorRegistry,
    Erased,
    NotFound,
    Retained,
    Subject,
    TransientError,
)
from connectors._journal import MemoryJournal, using_journal
from connectors.s3 import SLOW_DOWN_WAIT, S3Connector
from tests.connectors.test_s3_conformance import moto_s3  # noqa: F401  (the fixture)
from tests.support.canary import names_mailbox
from tests.support.s3_server import MotoS3, SlowDown

BUCKET = "lethe-locked"
ADA = Subject(ref="ps_ada", email="ada@example.org", identifiers={"user_id": "1815"})
UNTIL = datetime(2033, 3, 1, tzinfo=UTC)


def build(s3: MotoS3, **options: Any) -> S3Connector:
    base: dict[str, Any] = {
        "bucket": BUCKET,
        "endpoint_url": s3.url,
        "access_key_id": "test",
        "secret_access_key": "test",
        "prefixes": ["users/{email}/"],
        "max_attempts": 1,
    }
    connector = ConnectorRegistry.from_entry_points().build("uploads", "s3", {**base, **options})
    assert isinstance(connector, S3Connector)
    return connector


@pytest.fixture
def bucket(moto_s3: MotoS3) -> Any:  # noqa: F811
    moto_s3.reset()
    client = moto_s3.client()
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


def versions(client: Any) -> list[tuple[str, str]]:
    page = client.list_object_versions(Bucket=BUCKET)
    return sorted(
        (v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
    )


async def test_a_locked_version_is_retained_until_its_lock_and_the_rest_deleted(
    moto_s3: MotoS3,  # noqa: F811
    bucket: Any,
) -> None:
    bucket.put_object(Bucket=BUCKET, Key="users/ada@example.org/photo.jpg", Body=b"1")
    bucket.put_object(Bucket=BUCKET, Key="users/Ada@Example.org/photo.jpg", Body=b"2")
    locked = bucket.put_object(
        Bucket=BUCKET,
        Key="users/ada@example.org/contract.pdf",
        Body=b"signed",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=UNTIL,
    )
    bucket.put_object(Bucket=BUCKET, Key="users/nada@example.org/photo.jpg", Body=b"3")
    # The server refuses the delete itself: the connector cannot delete it, whatever it tried.
    refused = bucket.delete_objects(
        Bucket=BUCKET,
        Delete={
            "Objects": [
                {"Key": "users/ada@example.org/contract.pdf", "VersionId": locked["VersionId"]}
            ]
        },
    )
    assert [e["Code"] for e in refused["Errors"]] == ["AccessDenied"]

    async with build(moto_s3) as s3:
        plan = await s3.plan(ADA)
        outcome = await s3.erase(ADA, "er-s3-1")
        residual = await s3.verify(ADA)
    assert isinstance(outcome, Retained)
    assert outcome.retained_until == date(2033, 3, 1)
    assert outcome.legal_basis == "gdpr-17-3-b"
    assert outcome.counts == {"object_versions.deleted": 2} == plan.counts
    assert outcome.retained_counts == {"object_versions.retained": 1} == plan.retained_counts
    assert outcome.evidence["locked_versions"] == [
        {"version_id": locked["VersionId"], "mode": "COMPLIANCE", "retain_until": "2033-03-01"}
    ]
    assert "ada@" not in repr(outcome).lower()
    assert residual.clean
    assert [k for k, _ in versions(bucket)] == [
        "users/ada@example.org/contract.pdf",
        "users/nada@example.org/photo.jpg",
    ]


async def test_a_legal_hold_is_retained_for_review_and_governance_is_not_bypassed(
    moto_s3: MotoS3,  # noqa: F811
    bucket: Any,
) -> None:
    bucket.put_object(
        Bucket=BUCKET,
        Key="users/ada@example.org/mail.eml",
        Body=b"x",
        ObjectLockLegalHoldStatus="ON",
    )
    bucket.put_object(
        Bucket=BUCKET,
        Key="users/ada@example.org/log.txt",
        Body=b"y",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=UNTIL,
    )
    async with build(moto_s3, legal_hold_review_days=30) as s3:
        outcome = await s3.erase(ADA, "er-s3-hold")
    assert isinstance(outcome, Retained)
    assert outcome.legal_basis == "legal-hold"
    assert outcome.review_on == datetime.now(UTC).date() + timedelta(days=30)
    assert outcome.retained_until is None
    assert outcome.retained_counts == {"object_versions.retained": 2}
    assert not outcome.counts
    held = [v for v in outcome.evidence["locked_versions"] if v.get("legal_hold")]
    governed = [v for v in outcome.evidence["locked_versions"] if v.get("mode") == "GOVERNANCE"]
    assert len(held) == 1 and len(governed) == 1
    assert len(versions(bucket)) == 2


async def test_every_version_and_delete_marker_goes_in_batches(
    moto_s3: MotoS3,  # noqa: F811
    bucket: Any,
) -> None:
    for n in range(5):
        bucket.put_object(Bucket=BUCKET, Key="users/ada@example.org/a.txt", Body=str(n).encode())
    bucket.delete_object(Bucket=BUCKET, Key="users/ada@example.org/a.txt")
    async with build(moto_s3, batch_size=2) as s3:
        outcome = await s3.erase(ADA, "er-s3-batches")
    assert isinstance(outcome, Erased)
    assert outcome.counts == {"object_versions.deleted": 5, "delete_markers.deleted": 1}
    assert outcome.evidence["delete_requests"] == 3
    assert versions(bucket) == []


async def test_a_hashed_prefix_finds_the_subject_by_the_digest_of_the_address(
    moto_s3: MotoS3,  # noqa: F811
    bucket: Any,
) -> None:
    mine = hashlib.sha256(b"ada@example.org").hexdigest()
    theirs = hashlib.sha256(b"nada@example.org").hexdigest()
    bucket.put_object(Bucket=BUCKET, Key=f"hashed/{mine}/x", Body=b"1")
    bucket.put_object(Bucket=BUCKET, Key=f"hashed/{theirs}/x", Body=b"2")
    bucket.put_object(Bucket=BUCKET, Key=f"hashed/{mine}0/x", Body=b"3")  # not a whole segment
    async with build(moto_s3, prefixes=["hashed/{email|sha256}/"]) as s3:
        outcome = await s3.erase(Subject(ref="ps", email="Ada@Example.org".lower()), "er-s3-hashed")
    assert isinstance(outcome, Erased) and outcome.counts == {"object_versions.deleted": 1}
    assert [k for k, _ in versions(bucket)] == sorted([f"hashed/{theirs}/x", f"hashed/{mine}0/x"])


async def test_an_exact_id_narrows_the_listing_and_spares_longer_ids(
    moto_s3: MotoS3,  # noqa: F811
) -> None:
    moto_s3.reset()
    client = moto_s3.client()
    client.create_bucket(Bucket=BUCKET)  # no versioning, no Object Lock
    for key in ("exports/1815/a.csv", "exports/18150/a.csv", "exports/181/a.csv"):
        client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    async with build(moto_s3, prefixes=["exports/{user_id}/"]) as s3:
        outcome = await s3.erase(ADA, "er-s3-ids")
        again = await s3.erase(ADA, "er-s3-ids-2")
    assert isinstance(outcome, Erased) and outcome.counts == {"object_versions.deleted": 1}
    assert isinstance(again, NotFound)
    keys = [k for k, _ in versions(client)]
    assert keys == ["exports/181/a.csv", "exports/18150/a.csv"]


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        ("users{email}/", "whole path segment"),
        ("users/{email}", "whole path segment"),
        ("users/{email}-x/", "whole path segment"),
        ("users/{email}/{username}/", "exactly one placeholder"),
        ("users/", "exactly one placeholder"),
        ("users/{mail}/", "not an identifier kind"),
        ("users/{name}/", "does not identify one person"),
    ],
)
def test_a_bad_prefix_template_is_refused_in_one_line(prefix: str, says: str) -> None:
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build(
            "uploads", "s3", {"bucket": "b-1", "prefixes": [prefix]}
        )
    assert says in str(err.value) and "\n" not in str(err.value)


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build(
            "uploads", "s3", {"bucket": "b-1", "prefixes": ["users/{email}/"]}
        )
    assert "pip install 'lethe-erasure[s3]'" in str(err.value) and "\n" not in str(err.value)


async def test_an_interrupted_erase_is_finished_by_another_worker_and_counts_what_it_did(
    moto_s3: MotoS3,  # noqa: F811
    bucket: Any,
) -> None:
    for n in range(5):
        bucket.put_object(Bucket=BUCKET, Key="users/ada@example.org/a.txt", Body=str(n).encode())
    journal = MemoryJournal()
    with using_journal(journal):
        first = build(moto_s3, batch_size=2)
        client = first._s3()
        calls = 0
        real = client.delete_objects

        def dies_on_the_second_batch(**kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise EndpointConnectionError(endpoint_url=moto_s3.url)
            return real(**kwargs)

        client.delete_objects = dies_on_the_second_batch
        with pytest.raises(TransientError):
            await first.erase(ADA, "er-s3-crash")
        await first.aclose()
        assert len(versions(bucket)) == 3  # the first batch went
        entry = journal.entries["er-s3-crash"]
        assert "outcome" not in entry and len(entry["deleting"]["versions"]) == 5
        assert not names_mailbox(repr(entry))

        async with build(moto_s3, batch_size=2) as other:
            outcome = await other.erase(ADA, "er-s3-crash")
            again = await other.erase(ADA, "er-s3-crash")
            later = await other.erase(ADA, "er-s3-crash/round-1")
    assert isinstance(outcome, Erased) and outcome.counts == {"object_versions.deleted": 5}
    assert outcome.evidence[REPLAYED_FROM_RECEIPT] is True
    assert outcome.evidence["deleted_by_an_interrupted_attempt"] == 2
    assert isinstance(again, Erased) and again.counts == outcome.counts
    assert isinstance(later, NotFound)
    assert versions(bucket) == []


@pytest.mark.parametrize(("told", "wait"), [(7, timedelta(seconds=7)), (None, SLOW_DOWN_WAIT)])
async def test_slow_down_is_transient_and_says_when_to_come_back(
    told: int | None, wait: timedelta
) -> None:
    limited = SlowDown(retry_after=told)
    try:
        async with build_against(limited.url) as s3:
            with pytest.raises(TransientError) as err:
                await s3.erase(ADA, "er-s3-slow")
    finally:
        limited.stop()
    assert err.value.retry_after == wait and "SlowDown" in str(err.value)
    assert not names_mailbox(str(err.value))


def build_against(url: str) -> S3Connector:
    connector = ConnectorRegistry.from_entry_points().build(
        "uploads",
        "s3",
        {
            "bucket": BUCKET,
            "endpoint_url": url,
            "prefixes": ["users/{email}/"],
            "max_attempts": 1,
            "access_key_id": "test",
            "secret_access_key": "test",
        },
    )
    assert isinstance(connector, S3Connector)
    return connector
