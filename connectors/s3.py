"""Objects in an S3 bucket (AWS S3, MinIO, Ceph…): every version under the subject's prefixes.

Configuration names the bucket and the places the subject's objects live, as prefix templates
with one placeholder that is a whole path segment::

    [systems.uploads]
    connector = "s3"
    bucket = "acme-uploads"
    prefixes = ["users/{email}/", "exports/{user_id}/", "hashed/{email|sha256}/"]

``{kind}`` is an identifier the request carries (``connectors.IDENTIFIER_KINDS``);
``{kind|sha256}`` is the hex SHA-256 of its normal form, for applications that key their
objects by a hash of the address (a pseudonymous key: the raw address is then never sent to
the store). The placeholder must stand for a whole segment (``…/{email}/…``), so that
``users/42/`` never reaches ``users/420/``.

**Who is the subject.** The store lists keys under the prefix before the placeholder
(narrowed to the identifier's leading characters where the matching policy allows:
``connectors._matching``); the segment where the placeholder stands is then compared by the
policy (:meth:`IdentifierMatch.equals`). ``users/Ada@Example.org/`` is the subject's for
``ada@example.org``; ``users/ nada@…/``, ``users/ada@example.org.uk/`` are not. A segment that
equals the subject's identifier only without the whitespace around it is a look-alike: left,
and reported by ``verify`` (``object_versions.lookalike``).

**What is erased.** Every version of every object there, and every delete marker (a marker's
key names the person too), permanently, in batched ``DeleteObjects`` calls (up to 1000 keys
each) naming the version. Versions under **S3 Object Lock** cannot be deleted (S3 refuses,
whoever asks): a retention (``GOVERNANCE`` or ``COMPLIANCE`` mode with a retain-until date)
or a legal hold. They are reported ``Retained``: a retention until its latest retain-until
date under ``lock_basis`` (by default GDPR Art. 17(3)(b), a legal obligation: Object Lock
exists for record-keeping rules), a legal hold under ``legal-hold`` with a review date
``legal_hold_review_days`` ahead (a hold has no end date). Lethe does not bypass a
governance-mode retention. When the lock lapses, ``lethe retry`` erases them.

**Evidence** is the bucket, the counts, the number of ``DeleteObjects`` calls, and for each
locked version its version id, mode and retain-until date (at most 50 listed): never a key, since
keys hold the identifier. The receipt journal (``connectors._journal``) keeps what an erase set
out to do and what it did, so a repeat replays it.

Needs ``boto3``: ``pip install 'lethe-erasure[s3]'``. Calls run in threads (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from vocabulary import LEGAL_BASES, LegalBasis

from ._errors import ConnectorConfigError, PermanentError, TransientError, parse_retry_after
from ._idempotency import REPLAYED_FROM_RECEIPT
from ._matching import IdentifierMatch, normal_form
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Residual, Retained
from ._plan import Plan
from ._protocol import BaseConnector, Capability, ConnectorOptions, guard_blast_radius
from ._receipt import receipt_of, replayed
from ._subject import IDENTIFIER_KINDS, Subject

#: boto3's S3 client (typed loosely: boto3 ships no type information).
S3Client = Any

__all__ = ["PrefixTemplate", "S3Connector", "S3Options"]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(\|sha256)?\}")
#: At most this many locked versions are listed one by one in the evidence.
_EVIDENCE_LOCKS = 50
#: ``DeleteObjects`` takes at most 1000 keys.
_MAX_BATCH = 1000
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "503",
        "500",
        "Throttling",
    }
)


@dataclass(frozen=True)
class PrefixTemplate:
    """``users/{email}/``: the text before the placeholder, its kind, and the text after."""

    before: str
    kind: str
    hashed: bool
    after: str

    @classmethod
    def parse(cls, text: str) -> PrefixTemplate:
        found = list(_PLACEHOLDER.finditer(text))
        if len(found) != 1 or text.count("{") != 1 or text.count("}") != 1:
            raise ValueError(
                f"prefix {text!r} needs exactly one placeholder such as {{email}} or"
                " {email|sha256}"
            )
        (m,) = found
        kind = m.group(1)
        if kind not in IDENTIFIER_KINDS:
            raise ValueError(
                f"prefix {text!r}: {kind!r} is not an identifier kind"
                f" ({', '.join(sorted(IDENTIFIER_KINDS))})"
            )
        if kind == "name":
            raise ValueError(f"prefix {text!r}: a name does not identify one person")
        before, after = text[: m.start()], text[m.end() :]
        if (before and not before.endswith("/")) or not after.startswith("/"):
            raise ValueError(
                f"prefix {text!r}: the placeholder must be a whole path segment"
                " (…/{kind}/…), so that one identifier is never the start of another"
            )
        return cls(before, kind, bool(m.group(2)), after)

    def wanted(self, subject: Subject) -> IdentifierMatch | None:
        """The subject's identifier as this template's segment compares it."""
        value = subject.get(self.kind)
        if value is None:
            return None
        if self.hashed:
            normal = normal_form(
                self.kind, value.strip(), "phone" if self.kind == "phone" else None
            )
            if normal is None:
                return None
            digest = hashlib.sha256(normal.encode()).hexdigest()
            return IdentifierMatch("customer_id", "exact", digest)
        return IdentifierMatch.of(self.kind, value)

    def listing_prefix(self, wanted: IdentifierMatch, *, narrow: bool) -> str:
        """Where to list: ``before``, plus (``narrow``) the identifier's leading characters
        every equal segment starts with (ASCII, and no letter where A-Z fold)."""
        if not narrow:
            return self.before
        first = wanted.pattern()[0] if wanted.match != "phone" else None
        if not isinstance(first, str):
            return self.before
        if wanted.folds_case:
            cut = next((i for i, ch in enumerate(first) if ch.isalpha()), len(first))
            first = first[:cut]
        return self.before + first


class S3Options(ConnectorOptions):
    bucket: str = Field(min_length=3, description="The bucket holding the subject's objects")
    prefixes: list[str] = Field(
        min_length=1, description="Prefix templates, one placeholder each: users/{email}/"
    )
    endpoint_url: str | None = Field(
        default=None, description="For S3-compatible stores (MinIO…); AWS when unset"
    )
    region: str = "us-east-1"
    access_key_id: str | None = Field(
        default=None, description="Unset: boto3's usual credential chain (environment, role…)"
    )
    secret_access_key: str | None = None
    lock_basis: str = Field(
        default=LegalBasis.GDPR_17_3_B.value,
        description="The legal basis of versions kept by an Object Lock retention",
    )
    lock_note: str = (
        "kept under S3 Object Lock until its retain-until date (a record-keeping obligation);"
        " erased when the lock lapses"
    )
    legal_hold_review_days: int = Field(default=90, ge=1)
    page_size: int = Field(default=1000, ge=1, le=1000, description="Keys per listing page")
    batch_size: int = Field(default=_MAX_BATCH, ge=1, le=_MAX_BATCH)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, description="botocore's own retries per call")

    @field_validator("prefixes")
    @classmethod
    def _templates(cls, v: list[str]) -> list[str]:
        for text in v:
            PrefixTemplate.parse(text)
        return v

    @field_validator("lock_basis")
    @classmethod
    def _basis(cls, v: str) -> str:
        if v not in LEGAL_BASES:
            raise ValueError(f"unknown legal basis {v!r}")
        return v


@dataclass(frozen=True)
class _Version:
    key: str
    version_id: str
    marker: bool


@dataclass(frozen=True)
class _Lock:
    version_id: str
    mode: str | None
    until: date | None
    legal_hold: bool

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version_id": self.version_id}
        if self.mode:
            out["mode"] = self.mode
            out["retain_until"] = self.until.isoformat() if self.until else None
        if self.legal_hold:
            out["legal_hold"] = True
        return out


@dataclass
class _Found:
    """The subject's versions, split into what can be deleted and what a lock keeps."""

    deletable: list[_Version] = field(default_factory=list)
    locked: list[_Lock] = field(default_factory=list)
    lookalikes: int = 0
    missing: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        markers = sum(v.marker for v in self.deletable)
        counts = {"object_versions.deleted": len(self.deletable) - markers}
        if markers:
            counts["delete_markers.deleted"] = markers
        return {k: n for k, n in counts.items() if n}


#: How long to wait after ``SlowDown`` when the store does not say (S3 sends no Retry-After;
#: AWS asks clients to back off): Lethe's own back-off then starts from here.
SLOW_DOWN_WAIT = timedelta(seconds=5)


def _retry_after(err: Exception, code: str) -> timedelta | None:
    """The store's ``Retry-After`` (S3-compatible stores may send one), else a pause after
    ``SlowDown``, else None (Lethe's retry policy decides)."""
    response = getattr(err, "response", None) or {}
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    told = parse_retry_after(headers.get("retry-after"))
    if told is not None:
        return told
    return SLOW_DOWN_WAIT if code == "SlowDown" else None


def _code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    error = response.get("Error") or {}
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


@dataclass(frozen=True)
class _Plan:
    """The version ids an erase set out to delete (object versions, delete markers), as its
    journal entry keeps them. An unversioned bucket's versions are all ``null``: counted."""

    versions: Counter[str]
    markers: Counter[str]

    @classmethod
    def of(cls, entry: Any) -> _Plan:
        entry = entry if isinstance(entry, dict) else {}
        return cls(Counter(entry.get("versions") or []), Counter(entry.get("markers") or []))

    @staticmethod
    def _split(versions: list[_Version]) -> tuple[Counter[str], Counter[str]]:
        return (
            Counter(v.version_id for v in versions if not v.marker),
            Counter(v.version_id for v in versions if v.marker),
        )

    def minus(self, present: list[_Version]) -> dict[str, int]:
        """What was planned and is no longer there, as counts."""
        versions, markers = self._split(present)
        gone = {
            "object_versions.deleted": sum((self.versions - versions).values()),
            "delete_markers.deleted": sum((self.markers - markers).values()),
        }
        return {k: n for k, n in gone.items() if n}

    def plus(self, present: list[_Version]) -> _Plan:
        versions, markers = self._split(present)
        return _Plan(self.versions | versions, self.markers | markers)

    def plain(self) -> dict[str, list[str]]:
        return {
            "versions": sorted(self.versions.elements()),
            "markers": sorted(self.markers.elements()),
        }


class S3Connector(BaseConnector[S3Options]):
    kind: ClassVar[str] = "s3"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    def __init__(self, name: str, options: S3Options) -> None:
        super().__init__(name, options)
        try:
            import boto3  # noqa: F401  (checked here: a missing extra fails at start-up)
        except ImportError:
            raise ConnectorConfigError(
                "the s3 connector needs boto3: pip install 'lethe-erasure[s3]'"
            ) from None
        self._templates = [PrefixTemplate.parse(p) for p in options.prefixes]
        self._client: S3Client | None = None

    # -- the store ---------------------------------------------------------------------------

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            o = self.options
            self._client = boto3.client(
                "s3",
                endpoint_url=o.endpoint_url,
                region_name=o.region,
                aws_access_key_id=o.access_key_id,
                aws_secret_access_key=o.secret_access_key,
                config=Config(
                    connect_timeout=o.timeout_seconds,
                    read_timeout=o.timeout_seconds,
                    retries={"max_attempts": o.max_attempts, "mode": "standard"},
                ),
            )
        return self._client

    def _failure(self, err: Exception, doing: str) -> Exception:
        """A botocore failure as the connector's error, naming the operation, never a key."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        if isinstance(err, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
            return TransientError(f"{self.name}: the object store is unreachable ({doing})")
        if isinstance(err, ConnectionClosedError):
            return TransientError(f"{self.name}: the object store closed the connection ({doing})")
        if isinstance(err, NoCredentialsError):
            return PermanentError(f"{self.name}: no credentials for the object store")
        if isinstance(err, ClientError):
            code = _code(err)
            if code in _TRANSIENT_CODES:
                return TransientError(
                    f"{self.name}: the object store answered {code} ({doing})",
                    retry_after=_retry_after(err, code),
                )
            return PermanentError(f"{self.name}: the object store answered {code} ({doing})")
        return TransientError(f"{self.name}: {type(err).__name__} ({doing})")

    async def _call(self, doing: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (BotoCoreError, ClientError) as err:
            raise self._failure(err, doing) from None

    async def check(self) -> None:
        await self._call("HeadBucket", self._s3().head_bucket, Bucket=self.options.bucket)

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- finding -----------------------------------------------------------------------------

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self._s3().get_paginator("list_object_versions")
        yield from paginator.paginate(
            Bucket=self.options.bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": self.options.page_size},
        )

    def _segment(self, template: PrefixTemplate, key: str, slashes: int) -> str | None:
        """The text standing where the placeholder stands in ``key`` (with as many ``/`` as
        the identifier has), or None when ``key`` is not under the template."""
        if not key.startswith(template.before):
            return None
        rest = key[len(template.before) :]
        parts = rest.split("/")
        if len(parts) <= slashes + 1:
            return None
        segment = "/".join(parts[: slashes + 1])
        if not rest[len(segment) :].startswith(template.after):
            return None
        return segment

    def _list(self, subject: Subject, *, narrow: bool) -> tuple[list[_Version], int, set[str]]:
        """The subject's versions (and delete markers), the look-alikes, the kinds missing."""
        mine: dict[tuple[str, str], _Version] = {}
        lookalikes = 0
        missing: set[str] = set()
        for template in self._templates:
            value = subject.get(template.kind)
            if value is None or not value.strip():
                missing.add(template.kind)
                continue
            wanted = template.wanted(subject)
            if wanted is None:
                continue  # no normal form: it equals nothing
            slashes = wanted.wanted.count("/")
            for page in self._pages(template.listing_prefix(wanted, narrow=narrow)):
                entries = [(v, False) for v in page.get("Versions", [])] + [
                    (m, True) for m in page.get("DeleteMarkers", [])
                ]
                for entry, marker in entries:
                    key = entry["Key"]
                    segment = self._segment(template, key, slashes)
                    if segment is None:
                        continue
                    if wanted.equals(segment):
                        version = _Version(key, str(entry.get("VersionId") or "null"), marker)
                        mine[(version.key, version.version_id)] = version
                    elif wanted.looks_like(segment):
                        lookalikes += 1
        return list(mine.values()), lookalikes, missing

    def _lock_enabled(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            answer = self._s3().get_object_lock_configuration(Bucket=self.options.bucket)
        except ClientError as err:
            if _code(err) in {"ObjectLockConfigurationNotFoundError", "404"}:
                return False
            if _code(err) in {"AccessDenied", "403"}:
                return True  # cannot tell: look at each version
            raise
        config = answer.get("ObjectLockConfiguration") or {}
        return config.get("ObjectLockEnabled") == "Enabled"

    def _lock_of(self, version: _Version) -> _Lock | None:
        """The lock on one version, or None (read with HEAD: mode, date, hold at once)."""
        head = self._s3().head_object(
            Bucket=self.options.bucket, Key=version.key, VersionId=version.version_id
        )
        hold = head.get("ObjectLockLegalHoldStatus") == "ON"
        mode = head.get("ObjectLockMode")
        until_at = head.get("ObjectLockRetainUntilDate")
        until = None
        if mode and until_at is not None:
            if isinstance(until_at, str):
                until_at = datetime.fromisoformat(until_at.replace("Z", "+00:00"))
            if until_at <= datetime.now(UTC):
                mode = None  # a retention that has lapsed keeps nothing
            else:
                until = until_at.astimezone(UTC).date()
        if not hold and not mode:
            return None
        return _Lock(version.version_id, mode, until, hold)

    def _find(self, subject: Subject, *, narrow: bool = True) -> _Found:
        versions, lookalikes, missing = self._list(subject, narrow=narrow)
        found = _Found(lookalikes=lookalikes, missing=missing)
        check_locks = bool(versions) and self._lock_enabled()
        for version in sorted(versions, key=lambda v: (v.key, v.version_id)):
            lock = None if version.marker or not check_locks else self._lock_of(version)
            if lock is None:
                found.deletable.append(version)
            else:
                found.locked.append(lock)
        return found

    async def _found(self, subject: Subject, *, narrow: bool = True) -> _Found:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(self._find, subject, narrow=narrow)
        except (BotoCoreError, ClientError) as err:
            raise self._failure(err, "ListObjectVersions") from None

    # -- the outcome -------------------------------------------------------------------------

    def _outcome(
        self, found: _Found, counts: dict[str, int], calls: int, *, earlier: int = 0
    ) -> Outcome:
        evidence: dict[str, Any] = {"bucket": self.options.bucket, "delete_requests": calls}
        if earlier:
            # This finishes what an interrupted attempt started, and counts what it did.
            evidence[REPLAYED_FROM_RECEIPT] = True
            evidence["deleted_by_an_interrupted_attempt"] = earlier
        missing = tuple(sorted(found.missing))
        kept: Retained | None = None
        if found.locked:
            holds = [lock for lock in found.locked if lock.legal_hold]
            evidence["locked_versions"] = [lock.evidence() for lock in found.locked][
                :_EVIDENCE_LOCKS
            ]
            retained_counts = {"object_versions.retained": len(found.locked)}
            if holds:
                kept = Retained(
                    legal_basis=LegalBasis.LEGAL_HOLD.value,
                    note=(
                        f"{len(holds)} object version(s) under an S3 legal hold (no end date)"
                        + (
                            f" and {len(found.locked) - len(holds)} under an Object Lock retention"
                            if len(holds) < len(found.locked)
                            else ""
                        )
                        + "; reviewed on the date given, erased when the hold is lifted"
                    ),
                    review_on=datetime.now(UTC).date()
                    + timedelta(days=self.options.legal_hold_review_days),
                    retained_counts=retained_counts,
                    counts=counts,
                    evidence=evidence,
                )
            else:
                until = max(lock.until for lock in found.locked if lock.until is not None)
                kept = Retained(
                    legal_basis=self.options.lock_basis,
                    note=self.options.lock_note,
                    retained_until=until,
                    retained_counts=retained_counts,
                    counts=counts,
                    evidence=evidence,
                )
        if missing:
            return NotSearched(missing=missing, counts=counts, evidence=evidence, kept=kept)
        if kept is not None:
            return kept
        if counts:
            return Erased(counts=counts, evidence=evidence)
        return NotFound(evidence={"bucket": self.options.bucket})

    # -- the operations ----------------------------------------------------------------------

    async def plan(self, subject: Subject) -> Plan:
        found = await self._found(subject)
        kept = {"object_versions.retained": len(found.locked)} if found.locked else {}
        return Plan(
            counts=found.counts(),
            retained_counts=kept,
            limit=self.options.max_items,
            evidence={"bucket": self.options.bucket},
        )

    async def verify(self, subject: Subject) -> Residual:
        # Listed under the whole prefix (not narrowed), so that look-alikes with a leading
        # space are seen too.
        found = await self._found(subject, narrow=False)
        remaining = {"object_versions.remaining": len(found.deletable)}
        if found.lookalikes:
            remaining["object_versions.lookalike"] = found.lookalikes
        return Residual(remaining={k: n for k, n in remaining.items() if n})

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        entry = await self.journal.get(request_id)
        if entry and "outcome" in entry:
            return replayed(entry["outcome"])
        found = await self._found(subject)
        guard_blast_radius(
            len(found.deletable),
            self.options,
            where=f"bucket {self.options.bucket}",
            unit="object versions",
        )
        # What an interrupted attempt of this erase set out to delete (version ids: opaque, they
        # name nobody) and what of it is gone now: that attempt deleted it, and it counts.
        planned = _Plan.of((entry or {}).get("deleting"))
        gone = planned.minus(found.deletable)
        await self.journal.put(request_id, {"deleting": planned.plus(found.deletable).plain()})
        calls = await self._delete(found)
        counts = found.counts()  # less what a lock refused in between
        for key, n in gone.items():
            counts[key] = counts.get(key, 0) + n
        outcome = self._outcome(found, counts, calls, earlier=sum(gone.values()))
        entry = {"deleting": planned.plus(found.deletable).plain()}
        await self.journal.put(request_id, {**entry, "outcome": receipt_of(outcome)})
        return outcome

    async def _delete(self, found: _Found) -> int:
        """Delete the versions in batches; the number of ``DeleteObjects`` calls. A version
        the store refuses because a lock came in between is moved to ``found.locked``."""
        size = self.options.batch_size
        calls = 0
        refused: list[_Version] = []
        batches = [found.deletable[i : i + size] for i in range(0, len(found.deletable), size)]
        for batch in batches:
            by_id = {(v.key, v.version_id): v for v in batch}
            answer = await self._call(
                "DeleteObjects",
                self._s3().delete_objects,
                Bucket=self.options.bucket,
                Delete={
                    "Objects": [{"Key": v.key, "VersionId": v.version_id} for v in batch],
                    "Quiet": True,
                },
            )
            calls += 1
            for error in answer.get("Errors", []):
                version = by_id.get((error.get("Key", ""), str(error.get("VersionId") or "null")))
                code = str(error.get("Code"))
                if code in _TRANSIENT_CODES:
                    raise TransientError(
                        f"{self.name}: DeleteObjects answered {code} for a version",
                        retry_after=SLOW_DOWN_WAIT if code == "SlowDown" else None,
                    )
                if version is None or code != "AccessDenied":
                    raise PermanentError(
                        f"{self.name}: DeleteObjects answered {code} for a version"
                    )
                refused.append(version)
        for version in refused:
            lock = await self._call("HeadObject", self._lock_of, version)
            if lock is None:
                raise PermanentError(
                    f"{self.name}: the object store refused to delete a version that is not"
                    " locked (AccessDenied): check the credentials' s3:DeleteObjectVersion"
                )
            found.deletable.remove(version)
            found.locked.append(lock)
        return calls
