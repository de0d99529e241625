"""The email identity gate of a request: a code mailed, the right one given back, or not.

    mail a code ─▶ wait: the right code (``submit_code``) ⇒ verified
                         too many wrong codes ⇒ locked, rejected
                         the code expires ⇒ rejected as unverified
                         a new code (``resend_code``) ⇒ the old one stops working; wait again

``code_attempts`` wrong codes lock the request, and after ``code_ttl_seconds`` it is rejected
as unverified. An operator may have a new code mailed (at most ``code_resends`` times): the
old code stops working, wrong tries carry over (a locked request stays locked), and the new
code is good for ``code_ttl_seconds`` but never past the verification window, which closes
``max(code_ttl, verification_timeout)`` after the first code went out and is never moved.
The statutory clock is not touched by any of this (the code's message acknowledges receipt).

``ErasureWorkflow`` owns one gate and hands it its ``submit_code`` and ``resend_code``
updates and their validators; it decides the request with what :meth:`EmailGate.run`
returns. Every read and write is an activity; time is ``workflow.now()`` and timers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import CodeAttempt, CodeChallenge, CodeResend, VerificationActivities
    from vocabulary import VerificationMethod

    from .types import CodeCheck, CodeResendOrder, CodeResent, CodeSubmission, ErasureRequest

from .activity_options import LEDGER, MAIL, RESEND
from .deadline_clock import DeadlineClock
from .gate_decision import GateDecision
from .system_erasure import describe_activity_failure

__all__ = ["CODE_OUTCOMES", "EmailGate", "digits"]

#: What each verdict of ``check_verification_code`` means, in an operator's words.
CODE_OUTCOMES = {
    "accepted": "code accepted: identity verified, erasure starts",
    "wrong_code": "wrong code",
    "locked": "too many wrong codes: the request is locked and will be rejected, nothing erased",
    "expired": "the code has expired: the request is rejected as unverified, nothing erased",
    "used": "this code was already used; a code is good once",
    "no_code": "no code has been sent for this request yet (or a new one is on its way)",
}
_FINAL_VERDICTS = ("accepted", "locked", "expired")


def digits(code: str) -> str:
    """A code as typed ("3141 5926", "3141-5926") as the digits it stands for."""
    return "".join(ch for ch in code.strip() if ch not in " -")


class EmailGate:
    """The code's state for one request: sent, its expiry, resends, tries left, the verdict."""

    def __init__(self, request: ErasureRequest, clock: DeadlineClock) -> None:
        self.request_id = request.request_id
        self.method = request.verification_method
        self.policy = request.policy
        self.clock = clock
        self.code_sent = False
        self.verdict: str | None = None  # accepted | locked | expired, once decided
        self.expires_at: datetime | None = None  # the current code's; a resend moves it
        self.resends = 0
        self.attempts_left = request.policy.code_attempts
        self._verify_by: datetime | None = None  # the gate's window; nothing moves it
        self._moved = 0  # bumped by each resend: the gate re-reads the expiry
        self._resending = False

    # -- the gate ----------------------------------------------------------------------------

    async def run(self, request: ErasureRequest, cancelled: Callable[[], bool]) -> GateDecision:
        """Mail a code; wait for the right one, too many wrong ones, expiry or ``cancelled``."""
        policy = self.policy
        ttl = timedelta(seconds=policy.code_ttl_seconds)
        expires_at = workflow.now() + ttl
        self._verify_by = workflow.now() + max(
            ttl, timedelta(seconds=policy.verification_timeout_seconds)
        )
        try:
            await workflow.execute_activity_method(
                VerificationActivities.send_verification_code,
                CodeChallenge(request.request_id, expires_at, policy.code_attempts, request.due_at),
                schedule_to_close_timeout=ttl,
                **MAIL,
            )
        except ActivityError as err:
            why = describe_activity_failure(err)
            return GateDecision.refused(
                f"the verification code could not be sent ({why}); nothing erased"
            )
        self.code_sent = True
        self.expires_at = expires_at
        self.clock.acknowledge()  # the code's message tells the requester we have it
        # Without a resend this is one wait and one look, as it always was (the stored
        # histories in tests/workflows/histories replay on it); a resend moves the expiry
        # and the gate waits again, for the new code.
        while True:
            moved = self._moved
            remaining = self.expires_at - workflow.now()
            if remaining > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._woken(moved, cancelled), timeout=remaining)
            # Let a check (or a resend) under way finish before the verdict is read.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self.verdict is not None or cancelled():
                break
            if self._moved == moved:
                break  # the code expired, and no resend came in time
        hours = policy.code_ttl_seconds / 3600
        if self.verdict == "accepted":
            return GateDecision(True, "requester:email-code", "the emailed code was given back")
        if self.verdict == "locked":
            return GateDecision.refused(
                f"locked: too many wrong codes ({policy.code_attempts}); identity not verified;"
                " nothing erased"
            )
        self.verdict = self.verdict or "expired"
        return GateDecision.refused(
            f"identity not verified: the emailed code expired after {hours:g} hours; nothing erased"
        )

    def _woken(self, moved: int, cancelled: Callable[[], bool]) -> Callable[[], bool]:
        """A verdict, a cancellation, or a resend since ``moved``."""
        return lambda: self.verdict is not None or cancelled() or self._moved != moved

    # -- the ``submit_code`` update ----------------------------------------------------------

    async def check(self, submission: CodeSubmission) -> CodeCheck:
        """The requester's code, checked (and recorded) by an activity; answered at once.
        Only ``accepted`` opens the gate; ``locked`` and ``expired`` close it."""
        verdict = await workflow.execute_activity_method(
            VerificationActivities.check_verification_code,
            CodeAttempt(self.request_id, digits(submission.code), submission.actor.strip()),
            **LEDGER,
        )
        if verdict.outcome in _FINAL_VERDICTS and self.verdict is None:
            self.verdict = verdict.outcome
        if verdict.outcome in ("wrong_code", "locked"):
            self.attempts_left = verdict.attempts_left
        message = CODE_OUTCOMES.get(verdict.outcome, verdict.outcome)
        if verdict.outcome == "wrong_code":
            message += f" ({verdict.attempts_left} attempt(s) left)"
        return CodeCheck(
            verdict.outcome == "accepted", verdict.outcome, message, verdict.attempts_left
        )

    def refuse_code(self, submission: CodeSubmission, *, verified: bool | None) -> None:
        """Refusals that need no look at the code (raised as ``ValueError``; not recorded in
        the history, the caller records them in the ledger). ``verified``: the workflow's
        decision so far."""
        self._refuse_unless_open(
            verified, already="identity is already verified: a code is good once"
        )
        if self.verdict == "locked":
            raise ValueError("locked after too many wrong codes: nothing will be erased")
        if self.verdict == "expired" or verified is False:
            raise ValueError("the request was rejected; no code can verify it any more")
        if not self.code_sent:
            raise ValueError("no code has been sent for this request yet; try again shortly")
        code = digits(submission.code)
        if not (code.isdigit() and len(code) == 8):
            raise ValueError("a code is the 8 digits from the message")
        if not submission.actor.strip():
            raise ValueError("say who passes the code on")

    # -- the ``resend_code`` update ----------------------------------------------------------

    async def resend(self, order: CodeResendOrder) -> CodeResent:
        """Mail a new code (an operator's ``lethe verify --resend``). The old code stops
        working; wrong tries carry over; the new code's expiry never passes the gate's
        window. Answered once the mail went out (or could not)."""
        assert self._verify_by is not None  # the validator checked a code was sent
        ttl = timedelta(seconds=self.policy.code_ttl_seconds)
        expires_at = min(workflow.now() + ttl, self._verify_by)
        number = self.resends + 1
        self._resending = True
        try:
            state = await workflow.execute_activity_method(
                VerificationActivities.resend_verification_code,
                CodeResend(
                    self.request_id,
                    number,
                    expires_at,
                    self.clock.answer_by,
                    order.actor.strip()[:120],
                    order.reason.strip()[:500],
                ),
                **RESEND,
            )
        finally:
            self._resending = False
        if state == "locked":
            self.verdict = self.verdict or "locked"
            raise ApplicationError("locked after too many wrong codes: nothing will be erased")
        if state not in ("sent", "already_sent"):
            raise ApplicationError(f"no new code was sent: {CODE_OUTCOMES.get(state, state)}")
        self.resends = number
        self.expires_at = expires_at
        self._moved += 1
        return CodeResent(expires_at, max(self.policy.code_resends - number, 0), self.attempts_left)

    def refuse_resend(
        self, order: CodeResendOrder, *, verified: bool | None, cancelling: bool
    ) -> None:
        """Why no new code may be sent now (raised as ``ValueError``)."""
        self._refuse_unless_open(
            verified, already="identity is already verified: no new code is needed"
        )
        if self.verdict == "locked":
            raise ValueError(
                "locked after too many wrong codes: a new code does not unlock it;"
                " nothing will be erased"
            )
        if self.verdict == "expired" or verified is False:
            raise ValueError("the request was rejected; no code can verify it any more")
        if cancelling:
            raise ValueError("the request is being cancelled")
        if not self.code_sent or self.expires_at is None:
            raise ValueError("the first code has not gone out yet; try again shortly")
        if workflow.now() >= self.expires_at:
            raise ValueError("the code has expired: the request is being rejected as unverified")
        if self._resending:
            raise ValueError("a new code is being sent already")
        limit = self.policy.code_resends
        if self.resends >= limit:
            raise ValueError(
                "resending codes is turned off ([verification] code_resends = 0)"
                if limit == 0
                else f"no more new codes: {limit} per request, all sent"
            )
        if not order.actor.strip():
            raise ValueError("say who asks for the new code")

    def _refuse_unless_open(self, verified: bool | None, *, already: str) -> None:
        if self.method != VerificationMethod.EMAIL:
            raise ValueError(
                f"this request is verified by {self.method or 'another method'}, "
                "not by an emailed code"
            )
        if self.verdict == "accepted" or verified:
            raise ValueError(already)
