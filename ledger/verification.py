"""Identity verification evidence: email codes (as keyed hashes) and used portal assertions.

    verification_codes  one code per request: a salted HMAC of it (keyed by a key derived
                        from the vault master key, bound to the request id), its expiry, how
                        many wrong tries it took, and when it was used or locked
    portal_assertions   the claims of each accepted portal assertion; its nonce is the
                        primary key, so a token can open one request only

A resend (``lethe verify --resend``) replaces the row's hash with a new code's: the old code
stops working at once, and the wrong tries and a lock carry over. Each resend that went out
is a ``verification_code_resent`` event (who asked, why); their count is the resend limit's.

Neither table holds the code, the email address or the assertion's subject digest: what is
left once a request is over proves that verification happened, not who the person was.
Every check appends a ``request_events`` row (accepted or refused, with the reason).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .locks import lock_row
from .store import Ledger, LedgerError
from .tables import (
    ErasureRequestRecord,
    PortalAssertionRecord,
    RequestEvent,
    VerificationCode,
)
from .write_keys import lock_request, prior_event, replaying

__all__ = [
    "CODE_OUTCOMES",
    "CodeCheckResult",
    "IdentityRecords",
]

#: What a code check can come to. Only ``accepted`` moves a request forward.
CODE_OUTCOMES = ("accepted", "wrong_code", "locked", "expired", "used", "no_code")


@dataclass(frozen=True)
class CodeCheckResult:
    outcome: str  # one of CODE_OUTCOMES
    attempts: int
    attempts_left: int

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


class IdentityRecords:
    """Reads and writes verification evidence. Codes are hashed here, never stored."""

    def __init__(self, ledger: Ledger) -> None:
        if ledger.vault is None:
            raise LedgerError("verification codes need the vault key (their hashing key)")
        self._ledger = ledger
        # The current vault key's first; a retired one's still checks a code hashed before
        # a rotation.
        self._keys = ledger.vault.derive_keys("verification-code/v1")

    def _hash(self, request_id: str, salt: bytes, code: str, key: bytes | None = None) -> str:
        msg = b"\x00".join((b"lethe/verification-code", request_id.encode(), salt, code.encode()))
        return hmac.new(key or self._keys[0], msg, hashlib.sha256).hexdigest()

    # -- email codes ------------------------------------------------------------------------

    async def code(self, request_id: str) -> VerificationCode | None:
        async with self._ledger.session() as s:
            return await s.get(VerificationCode, request_id)

    async def issue_code(
        self,
        request_id: str,
        code: str,
        *,
        at: datetime,
        expires_at: datetime,
        attempt_limit: int,
    ) -> bool:
        """Store the hash of a new code. False (and nothing changed) if one was already sent:
        a retried send must not mail a second, different code."""
        async with self._ledger.session() as s, s.begin():
            if await s.get(ErasureRequestRecord, request_id) is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            row = await s.get(VerificationCode, request_id, with_for_update=True)
            if row is not None and row.sent_at is not None:
                return False
            salt = os.urandom(16)
            values: dict[str, Any] = {
                "salt": salt,
                "code_hash": self._hash(request_id, salt, code),
                "issued_at": at,
                "expires_at": expires_at,
                "attempts": 0,
                "attempt_limit": attempt_limit,
                "used_at": None,
                "locked_at": None,
                "sent_at": None,
            }
            if row is None:
                s.add(VerificationCode(request_id=request_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            return True

    async def mark_code_sent(self, request_id: str, *, at: datetime) -> None:
        await replaying(lambda: self._mark_code_sent(request_id, at))

    async def _mark_code_sent(self, request_id: str, at: datetime) -> None:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            row = await s.get(VerificationCode, request_id, with_for_update=True)
            if row is None:
                raise LedgerError(f"no verification code was issued for {request_id!r}")
            if row.sent_at is None:
                row.sent_at = at
                s.add(
                    RequestEvent(
                        request_id=request_id,
                        at=at,
                        kind="verification_code_sent",
                        write_key="verification_code_sent",
                        actor="lethe",
                        detail={"expires_at": row.expires_at.isoformat()},
                    )
                )

    async def resends(self, request_id: str) -> int:
        """How many new codes went out for ``request_id`` after the first."""
        q = sa.select(sa.func.count()).where(
            RequestEvent.request_id == request_id,
            RequestEvent.kind == "verification_code_resent",
        )
        async with self._ledger.session() as s:
            return int((await s.scalar(q)) or 0)

    async def reissue_code(
        self, request_id: str, code: str, *, number: int, at: datetime, expires_at: datetime
    ) -> str:
        """Replace the request's code with ``code`` (its ``number``-th resend): the old code
        stops working now; wrong tries and a lock carry over. Returns ``issued``, or why not:
        ``already_sent`` (resend ``number`` went out: a retried activity sends nothing),
        ``no_code`` (none was ever sent), ``used``, ``locked``.

        The new code counts as sent only once ``mark_code_resent`` says so; until then a
        check finds no code (the old one is gone, the new one not delivered yet).
        """
        async with self._ledger.session() as s, s.begin():
            # The row's write lock first, as in ``check_code``.
            await lock_row(
                s, VerificationCode.request_id == request_id, touch=VerificationCode.attempts
            )
            if await s.get(ErasureRequestRecord, request_id) is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            row = await s.get(
                VerificationCode, request_id, with_for_update=True, populate_existing=True
            )
            done = await s.scalar(
                sa.select(sa.func.count()).where(
                    RequestEvent.request_id == request_id,
                    RequestEvent.kind == "verification_code_resent",
                )
            )
            if int(done or 0) >= number:
                return "already_sent"
            if row is None:
                return "no_code"
            if row.used_at is not None:
                return "used"
            if row.locked_at is not None or row.attempts >= row.attempt_limit:
                return "locked"
            row.salt = os.urandom(16)
            row.code_hash = self._hash(request_id, row.salt, code)
            row.issued_at, row.expires_at, row.sent_at = at, expires_at, None
            return "issued"

    async def mark_code_resent(
        self, request_id: str, *, number: int, at: datetime, actor: str, reason: str
    ) -> None:
        """The ``number``-th new code went out: it is good from now, and the event says
        who asked for it and why. Once per ``number``: a repeat changes nothing."""
        await replaying(lambda: self._mark_code_resent(request_id, number, at, actor, reason))

    async def _mark_code_resent(
        self, request_id: str, number: int, at: datetime, actor: str, reason: str
    ) -> None:
        key = f"verification_code_resent/{number}"
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            row = await s.get(VerificationCode, request_id, with_for_update=True)
            if row is None:
                raise LedgerError(f"no verification code was issued for {request_id!r}")
            if await prior_event(s, request_id, key) is not None:
                return
            row.sent_at = at
            detail: dict[str, Any] = {
                "resend": number,
                "expires_at": row.expires_at.isoformat(),
                "attempts_left": max(row.attempt_limit - row.attempts, 0),
            }
            if reason:
                detail["reason"] = reason[:500]
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="verification_code_resent",
                    actor=actor[:120],
                    detail=detail,
                    write_key=key,
                )
            )

    async def check_code(
        self,
        request_id: str,
        code: str,
        *,
        at: datetime,
        actor: str,
        write_key: str | None = None,
    ) -> CodeCheckResult:
        """Compare ``code`` with the request's code (constant time) and record the result.

        Refusals are final for that try and never move the request: a used code is not
        accepted twice, an expired code never, a locked request not even with the right code.
        A wrong code counts against the attempt limit; reaching it locks the request.

        ``write_key``: the check's (``ledger.write_keys``): a repeat of one check (a retried
        activity) counts nothing, appends nothing, and returns the first verdict; another
        check, even of the same code, is another try.
        """
        return await replaying(lambda: self._check_code(request_id, code, at, actor, write_key))

    async def _check_code(
        self, request_id: str, code: str, at: datetime, actor: str, write_key: str | None
    ) -> CodeCheckResult:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            first = await prior_event(s, request_id, write_key)
            if first is not None:
                return CodeCheckResult(
                    str(first.detail["outcome"]),
                    int(first.detail["attempts"]),
                    int(first.detail["attempts_left"]),
                )
            # Take the row's write lock before reading it, on every backend: SQLite ignores
            # FOR UPDATE and would let two concurrent checks both accept one code.
            await lock_row(
                s, VerificationCode.request_id == request_id, touch=VerificationCode.attempts
            )
            if await s.get(ErasureRequestRecord, request_id) is None:
                raise LedgerError(f"no erasure request with id {request_id!r}")
            row = await s.get(
                VerificationCode, request_id, with_for_update=True, populate_existing=True
            )
            if row is None or row.sent_at is None:
                result = CodeCheckResult("no_code", 0, 0)
            else:
                result = self._judge(row, request_id, code, at)
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind=(
                        "verification_code_accepted"
                        if result.accepted
                        else "verification_code_refused"
                    ),
                    actor=actor[:120],
                    detail={
                        "outcome": result.outcome,
                        "attempts": result.attempts,
                        "attempts_left": result.attempts_left,
                    },
                    write_key=write_key,
                )
            )
            return result

    def _judge(
        self, row: VerificationCode, request_id: str, code: str, at: datetime
    ) -> CodeCheckResult:
        def left() -> int:
            return max(row.attempt_limit - row.attempts, 0)

        # Compare first, whatever the state, so that timing says nothing about the state.
        matches = any(
            hmac.compare_digest(self._hash(request_id, row.salt, code, key), row.code_hash)
            for key in self._keys
        )
        if row.used_at is not None:
            return CodeCheckResult("used", row.attempts, 0)
        if row.locked_at is not None or row.attempts >= row.attempt_limit:
            return CodeCheckResult("locked", row.attempts, 0)
        if at >= row.expires_at:
            return CodeCheckResult("expired", row.attempts, left())
        if matches:
            row.used_at = at
            return CodeCheckResult("accepted", row.attempts, left())
        row.attempts += 1
        if row.attempts >= row.attempt_limit:
            row.locked_at = at
            return CodeCheckResult("locked", row.attempts, 0)
        return CodeCheckResult("wrong_code", row.attempts, left())

    # -- portal assertions ------------------------------------------------------------------

    async def nonce_seen(self, nonce: str) -> bool:
        async with self._ledger.session() as s:
            return await s.get(PortalAssertionRecord, nonce) is not None

    async def record_assertion(
        self,
        request_id: str,
        *,
        nonce: str,
        issuer: str,
        key_id: str,
        methods: list[str],
        issued_at: datetime,
        expires_at: datetime,
        at: datetime,
    ) -> None:
        """Keep an accepted assertion's evidence. LedgerError if its nonce was used before."""
        rows = self.assertion_rows(
            request_id,
            nonce=nonce,
            issuer=issuer,
            key_id=key_id,
            methods=methods,
            issued_at=issued_at,
            expires_at=expires_at,
            at=at,
        )
        try:
            async with self._ledger.session() as s, s.begin():
                s.add_all(rows)
        except IntegrityError:
            raise LedgerError(
                "this portal assertion was already used (its nonce is spent)"
            ) from None

    @staticmethod
    def assertion_rows(
        request_id: str,
        *,
        nonce: str,
        issuer: str,
        key_id: str,
        methods: list[str],
        issued_at: datetime,
        expires_at: datetime,
        at: datetime,
    ) -> list[PortalAssertionRecord | RequestEvent]:
        """An accepted assertion's evidence and its event, for the receipt's own transaction
        (``Ledger.open_request``: a nonce spent before makes it fail whole)."""
        return [
            PortalAssertionRecord(
                nonce=nonce,
                request_id=request_id,
                issuer=issuer,
                key_id=key_id,
                methods=list(methods),
                issued_at=issued_at,
                expires_at=expires_at,
                accepted_at=at,
            ),
            RequestEvent(
                request_id=request_id,
                at=at,
                kind="portal_assertion_accepted",
                write_key="portal_assertion_accepted",
                actor=f"portal:{issuer}"[:120],
                detail={"key_id": key_id, "methods": list(methods)},
            ),
        ]

    async def assertion_for(self, request_id: str) -> PortalAssertionRecord | None:
        q = sa.select(PortalAssertionRecord).where(PortalAssertionRecord.request_id == request_id)
        async with self._ledger.session() as s:
            return (await s.scalars(q)).one_or_none()
