"""The HTTP API's clients, requesters' status tokens and idempotency keys (``lethe serve``).

A token is shown once, when it is made, and kept here only as its SHA-256 digest: a copy of
the ledger lets nobody call the API. A client's token is ``lethe_<client id>_<secret>``; its
scopes say what it may do (``intake``: submit requests; ``operate``: an operator's verbs;
``audit``: read the record). A revoked client stays listed, with when it was revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .store import Ledger, LedgerError
from .tables import ApiClientRecord, ApiIdempotencyKey, RequestAccessToken

__all__ = [
    "SCOPES",
    "ApiClients",
    "IdempotentRequest",
    "IssuedClient",
    "status_token",
    "token_digest",
]

#: What a client may be allowed to do.
SCOPES = ("intake", "operate", "audit")

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def token_digest(token: str) -> str:
    """The SHA-256 of a token, as the ledger keeps it (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def status_token(key: bytes, request_id: str) -> str:
    """The token a requester shows to see their request (``lethe serve``): derived from the
    request id under a key of Lethe's own, so the API's answer, a retried submission and the
    code's mail all give the same one; the ledger keeps only its SHA-256."""
    mac = hmac.new(key, b"lethe status token\0" + request_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


@dataclass(frozen=True)
class IssuedClient:
    client: ApiClientRecord
    token: str  # shown once; the ledger keeps its digest


@dataclass(frozen=True)
class IdempotentRequest:
    request_id: str
    same_body: bool


class ApiClients:
    """Clients, tokens and keys; one short transaction a call."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # -- clients ---------------------------------------------------------------------------

    async def add(
        self, name: str, scopes: Sequence[str], *, at: datetime, created_by: str
    ) -> IssuedClient:
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise LedgerError(f"scopes are {', '.join(SCOPES)}")
        client_id = "ac-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))
        token = f"lethe_{client_id}_{secrets.token_urlsafe(32)}"
        row = ApiClientRecord(
            client_id=client_id,
            name=name,
            scopes=sorted(set(scopes)),
            token_hash=token_digest(token),
            created_at=at,
            created_by=created_by[:120],
        )
        try:
            async with self._ledger.session() as s, s.begin():
                s.add(row)
        except IntegrityError:
            raise LedgerError(f"an API client named {name!r} exists already") from None
        return IssuedClient(row, token)

    async def list(self) -> list[ApiClientRecord]:
        async with self._ledger.session() as s:
            q = sa.select(ApiClientRecord).order_by(ApiClientRecord.created_at)
            return list((await s.scalars(q)).all())

    async def revoke(self, name_or_id: str, *, at: datetime) -> ApiClientRecord | None:
        """Revoke by name or id; None if there is no such client. Revoking twice keeps the
        first time."""
        async with self._ledger.session() as s, s.begin():
            q = sa.select(ApiClientRecord).where(
                sa.or_(ApiClientRecord.name == name_or_id, ApiClientRecord.client_id == name_or_id)
            )
            row = (await s.scalars(q.with_for_update())).one_or_none()
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = at
            return row

    async def authenticate(self, token: str) -> ApiClientRecord | None:
        """The active client whose token this is, or None."""
        digest = token_digest(token)
        async with self._ledger.session() as s:
            q = sa.select(ApiClientRecord).where(ApiClientRecord.token_hash == digest)
            row = (await s.scalars(q)).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        # The lookup is by digest; compare again in constant time all the same.
        return row if hmac.compare_digest(row.token_hash, digest) else None

    # -- requesters' status tokens ---------------------------------------------------------

    async def grant_access(self, request_id: str, token: str, *, at: datetime) -> None:
        """Record the digest of ``request_id``'s status token (once; a repeat is a no-op)."""
        try:
            async with self._ledger.session() as s, s.begin():
                s.add(
                    RequestAccessToken(
                        request_id=request_id, token_hash=token_digest(token), created_at=at
                    )
                )
        except IntegrityError:
            pass

    async def access_allowed(self, request_id: str, token: str) -> bool:
        async with self._ledger.session() as s:
            q = sa.select(RequestAccessToken.token_hash).where(
                RequestAccessToken.request_id == request_id
            )
            stored = (await s.execute(q)).scalar_one_or_none()
        return stored is not None and hmac.compare_digest(stored, token_digest(token))

    # -- idempotency keys ------------------------------------------------------------------

    async def idempotent(
        self, client_id: str, key: str, body_digest: str
    ) -> IdempotentRequest | None:
        async with self._ledger.session() as s:
            q = sa.select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.client_id == client_id, ApiIdempotencyKey.key == key
            )
            row = (await s.scalars(q)).one_or_none()
        if row is None:
            return None
        return IdempotentRequest(row.request_id, row.body_digest == body_digest)

    async def remember(
        self, client_id: str, key: str, body_digest: str, request_id: str, *, at: datetime
    ) -> IdempotentRequest:
        """Record the key; if another call recorded it first, what that call recorded."""
        try:
            async with self._ledger.session() as s, s.begin():
                s.add(
                    ApiIdempotencyKey(
                        client_id=client_id,
                        key=key,
                        body_digest=body_digest,
                        request_id=request_id,
                        created_at=at,
                    )
                )
        except IntegrityError:
            found = await self.idempotent(client_id, key, body_digest)
            if found is not None:
                return found
            raise
        return IdempotentRequest(request_id, True)
