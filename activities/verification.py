"""Activities of the identity gate: send an emailed code, send a new one (an operator's
resend), check a code, confirm a portal assertion.

The code is made here (8 random digits), mailed to the address on file (read from the vault
in this activity and nowhere else), and only its keyed hash reaches the ledger. A check is a
constant-time comparison in the ledger's transaction, recorded as an event either way.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors import redact
from ledger import DeadlineRecords, IdentityRecords, Ledger, LedgerError
from ledger.api_clients import ApiClients, status_token

from .mail import Mailer, MailRejected, MailUnavailable
from .write_keys import activity_write_key

__all__ = [
    "CODE_DIGITS",
    "AssertionEvidence",
    "CodeAttempt",
    "CodeChallenge",
    "CodeResend",
    "CodeSent",
    "CodeVerdict",
    "VerificationActivities",
]

log = structlog.get_logger("lethe.activities")

CODE_DIGITS = 8


@dataclass(frozen=True)
class CodeChallenge:
    request_id: str
    expires_at: datetime
    attempt_limit: int
    answer_by: datetime


@dataclass(frozen=True)
class CodeSent:
    #: False when an earlier attempt of this activity already mailed the code.
    newly_sent: bool


@dataclass(frozen=True)
class CodeResend:
    """The ``number``-th new code for a request, asked for by ``actor``."""

    request_id: str
    number: int
    expires_at: datetime
    answer_by: datetime
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class CodeAttempt:
    request_id: str
    code: str
    actor: str


@dataclass(frozen=True)
class CodeVerdict:
    outcome: str  # accepted | wrong_code | locked | expired | used | no_code
    attempts: int
    attempts_left: int


@dataclass(frozen=True)
class AssertionEvidence:
    found: bool
    issuer: str | None = None
    key_id: str | None = None
    methods: tuple[str, ...] = field(default_factory=tuple)


def _now() -> datetime:
    return datetime.now(UTC)


def code_message(
    *,
    sender: str,
    to: str,
    request_id: str,
    code: str,
    expires_at: datetime,
    answer_by: datetime,
    resent: bool = False,
    status_token: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"Your erasure request {request_id}: confirm it is you" + (
        " (new code)" if resent else ""
    )
    again = (
        "You asked for a new code: the one we sent before no longer works.\n\n" if resent else ""
    )
    msg.set_content(
        f"We received a request to erase the personal data we hold about this address"
        f" (request {request_id}). We will answer by {answer_by:%d %B %Y}.\n\n{again}"
        f"To confirm the request is yours, give us this code:\n\n    {code}\n\n"
        f"It is valid until {expires_at:%d %B %Y %H:%M} UTC and can be used once.\n"
        "If you did not ask for this, ignore this message: nothing is erased without the code.\n"
        + (
            f"\nTo follow your request on our privacy page, give its number {request_id} and"
            f" this status code:\n\n    {status_token}\n"
            if status_token
            else ""
        )
    )
    return msg


class VerificationActivities:
    """``status_key``: the key requesters' status tokens are derived under (``lethe
    serve``'s); given, each code's mail carries the request's status token too."""

    def __init__(
        self, ledger: Ledger, mailer: Mailer | None, status_key: bytes | None = None
    ) -> None:
        self._ledger = ledger
        self._identity = IdentityRecords(ledger)
        self._deadlines = DeadlineRecords(ledger)
        self._mailer = mailer
        self._status_key = status_key

    async def _status_token(self, request_id: str) -> str | None:
        """The request's status token, its digest recorded (once), or None without a key."""
        if self._status_key is None:
            return None
        token = status_token(self._status_key, request_id)
        await ApiClients(self._ledger).grant_access(request_id, token, at=_now())
        return token

    @activity.defn(name="send_verification_code")
    async def send_verification_code(self, challenge: CodeChallenge) -> CodeSent:
        """Make a code, keep its hash, mail it to the address on file. Idempotent: once a
        code went out, a retry sends nothing."""
        rid = challenge.request_id
        if self._mailer is None:
            raise ApplicationError(
                "no mail server is configured on this worker: set [mail] smtp_host",
                type="MailNotConfigured",
                non_retryable=True,
            )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        fresh = await self._identity.issue_code(
            rid,
            code,
            at=_now(),
            expires_at=challenge.expires_at,
            attempt_limit=challenge.attempt_limit,
        )
        if not fresh:
            log.info("verification.code_already_sent", request_id=rid)
            return CodeSent(False)
        try:
            _, ids = await self._ledger.read_identifiers(rid)
        except LedgerError as exc:
            raise ApplicationError(
                str(exc), type="SubjectUnavailable", non_retryable=True
            ) from None
        email = ids["email"]
        message = code_message(
            sender=self._mailer.sender,
            to=email,
            request_id=rid,
            code=code,
            expires_at=challenge.expires_at,
            answer_by=challenge.answer_by,
            status_token=await self._status_token(rid),
        )
        try:
            await self._mailer.send(message)
        except MailRejected as exc:
            raise ApplicationError(
                redact(str(exc)), type="MailRejected", non_retryable=True
            ) from None
        except MailUnavailable as exc:
            raise ApplicationError(redact(str(exc)), type="MailUnavailable") from None
        at = _now()
        await self._identity.mark_code_sent(rid, at=at)
        # A request filed before deadlines were kept has no clock to mark.
        with contextlib.suppress(LedgerError):
            await self._deadlines.mark_acknowledged(rid, at=at, how="verification code mail")
        log.info("verification.code_sent", request_id=rid)
        return CodeSent(True)

    @activity.defn(name="resend_verification_code")
    async def resend_verification_code(self, order: CodeResend) -> str:
        """Replace the request's code with a new one and mail it to the address on file.

        Returns ``sent`` (or ``already_sent`` for a retry after it went out), or the state
        that forbids it (``used``, ``locked``, ``no_code``). A mail failure is final for this
        resend (the operator can try again; it is not counted): the old code is gone by then,
        and the failure is recorded as ``verification_code_resend_failed``.
        """
        rid = order.request_id
        if self._mailer is None:  # before anything changes: the old code keeps working
            raise ApplicationError(
                "no mail server is configured on the worker: set [mail] smtp_host",
                type="MailNotConfigured",
                non_retryable=True,
            )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        state = await self._identity.reissue_code(
            rid, code, number=order.number, at=_now(), expires_at=order.expires_at
        )
        if state != "issued":
            log.info("verification.code_not_resent", request_id=rid, state=state)
            return state
        try:
            _, ids = await self._ledger.read_identifiers(rid)
        except LedgerError as exc:
            raise ApplicationError(
                str(exc), type="SubjectUnavailable", non_retryable=True
            ) from None
        message = code_message(
            sender=self._mailer.sender,
            to=ids["email"],
            request_id=rid,
            code=code,
            expires_at=order.expires_at,
            answer_by=order.answer_by,
            resent=True,
            status_token=await self._status_token(rid),
        )
        try:
            await self._mailer.send(message)
        except (MailRejected, MailUnavailable) as exc:
            why = redact(str(exc))
            await self._ledger.add_event(
                rid,
                "verification_code_resend_failed",
                at=_now(),
                actor=order.actor[:120],
                detail={"resend": order.number, "reason": why[:300]},
                write_key=activity_write_key(),
            )
            log.warning("verification.code_resend_failed", request_id=rid)
            raise ApplicationError(
                f"the new code could not be mailed ({why}); the previous code no longer"
                " works: try again once the mail server is back",
                type="MailRejected" if isinstance(exc, MailRejected) else "MailUnavailable",
                non_retryable=True,
            ) from None
        await self._identity.mark_code_resent(
            rid, number=order.number, at=_now(), actor=order.actor, reason=order.reason
        )
        log.info("verification.code_resent", request_id=rid, resend=order.number)
        return "sent"

    @activity.defn(name="check_verification_code")
    async def check_verification_code(self, attempt: CodeAttempt) -> CodeVerdict:
        code = "".join(ch for ch in attempt.code if ch.isdigit())
        result = await self._identity.check_code(
            attempt.request_id,
            code,
            at=_now(),
            actor=attempt.actor,
            write_key=activity_write_key(),
        )
        log.info(
            "verification.code_checked",
            request_id=attempt.request_id,
            outcome=result.outcome,
            attempts=result.attempts,
        )
        return CodeVerdict(result.outcome, result.attempts, result.attempts_left)

    @activity.defn(name="confirm_portal_assertion")
    async def confirm_portal_assertion(self, request_id: str) -> AssertionEvidence:
        """Whether intake accepted a signed portal assertion for this request."""
        rec = await self._identity.assertion_for(request_id)
        if rec is None:
            log.warning("verification.no_assertion", request_id=request_id)
            return AssertionEvidence(False)
        return AssertionEvidence(True, rec.issuer, rec.key_id, tuple(rec.methods))
