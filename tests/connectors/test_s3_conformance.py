"""The conformance kit against the s3 connector, on moto's S3 server (real HTTP, Object Lock).

Each person has a profile with two versions, an object deleted since (a version and a delete
marker), notes under their user name, and an invoice under a COMPLIANCE-mode Object Lock:
the invoice is declared retained (S3 refuses to delete it), everything else of the subject's
must go, every version of it; nobody else's changes by a byte.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.testing import ConformanceSuite, FaultInjector, Harness, Person, Seeded, built_with
from tests.support.s3_server import MotoS3, SlowDown, start

# The kit against a protocol server: a minute's worth of round trips, so `make check` leaves
# it to `make test` (the connector's own tests stay in the quick lane).
pytestmark = pytest.mark.slow

BUCKET = "lethe-uploads"
PREFIXES = ["users/{email}/", "by-name/{username}/", "invoices/{email}/"]
LOCKED_UNTIL = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Harness:
    def __init__(self, s3: MotoS3, bucket: str = BUCKET) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.client = s3.client()
        self.options: dict[str, Any] = {
            "bucket": bucket,
            "endpoint_url": s3.url,
            "access_key_id": "test",
            "secret_access_key": "test",
            "prefixes": PREFIXES,
            "page_size": 7,  # the crowd test's 30 near-duplicates span many pages
            "batch_size": 4,  # and the subject's versions several DeleteObjects calls
            "timeout_seconds": 5,
            "max_attempts": 1,
        }

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry.from_entry_points().build(
            "uploads", "s3", {**self.options, **options}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        return await asyncio.to_thread(self._seed, people)

    def _put(self, key: str, body: bytes, **extra: Any) -> tuple[str, str]:
        answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        return (key, answer["VersionId"])

    def _seed(self, people: Sequence[Person]) -> Seeded:
        self.s3.reset()
        self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        records: dict[Person, set[Any]] = {p: set() for p in people}
        retained: set[Any] = set()
        for n, p in enumerate(people):
            mine = records[p]
            profile = f"users/{p.email}/profile.json"
            for version in (1, 2):
                body = json.dumps({"email": p.email, "name": p.name, "v": version}).encode()
                mine.add(self._put(profile, body))
            old = f"users/{p.email}/old-avatar.png"
            mine.add(self._put(old, f"avatar of {p.username}".encode()))
            marker = self.client.delete_object(Bucket=self.bucket, Key=old)
            mine.add((old, marker["VersionId"]))
            mine.add(self._put(f"by-name/{p.username}/notes.txt", p.username.encode()))
            invoice = self._put(
                f"invoices/{p.email}/2026-{n:03d}.pdf",
                f"invoice to {p.email}".encode(),
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=LOCKED_UNTIL,
            )
            mine.add(invoice)
            retained.add(invoice)
        return Seeded(
            records={p: frozenset(r) for p, r in records.items()},
            traces={p: frozenset({p.email, p.username}) for p in people},
            retained=frozenset(retained),
        )

    async def snapshot(self) -> Mapping[Any, Any]:
        return await asyncio.to_thread(self._snapshot)

    def _snapshot(self) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket)
        for page in pages:
            for marker in page.get("DeleteMarkers", []):
                out[(marker["Key"], marker["VersionId"])] = "delete marker"
            for version in page.get("Versions", []):
                key = (version["Key"], version["VersionId"])
                try:
                    body = self.client.get_object(
                        Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"]
                    )["Body"].read()
                except self.client.exceptions.ClientError:
                    body = ("unreadable as listed", version["ETag"])  # see tests.support.s3_server
                out[key] = body
        return out


class TestS3(ConformanceSuite):
    kind = "s3"
    identifier_kinds = frozenset({"email", "username"})

    @pytest.fixture
    def harness(self, moto_s3: MotoS3) -> Harness:
        return S3Harness(moto_s3)

    @pytest.fixture
    def transient_fault(self, harness: S3Harness) -> FaultInjector:
        # Nothing listens there: the connection is refused.
        return built_with(harness, endpoint_url=f"http://127.0.0.1:{free_port()}")

    @pytest.fixture
    def permanent_fault(self, harness: S3Harness) -> FaultInjector:
        return built_with(harness, bucket="no-such-bucket")

    @pytest.fixture
    def rate_limit_fault(self, harness: S3Harness) -> Iterator[FaultInjector]:
        limited = SlowDown(retry_after=7)
        try:
            yield built_with(harness, endpoint_url=limited.url)
        finally:
            limited.stop()
        assert limited.requests >= 1
