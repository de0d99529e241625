"""The requester's identity, checked through an operator: the emailed code they give back,
a new code mailed when the first was lost, or the operator's own approval.

``verify`` answers at once: the code goes to the request's workflow as a Temporal update, an
activity compares it with the stored hash and records the result, and the answer comes back
on the same call. Every refusal is recorded in the request's events, including those refused
before any comparison (a request not verified by code, a closed one, a malformed or replayed
code).

``approve`` goes to the workflow as an update too: whether an approval can count (the request
is verified by an operator, its gate is open, nobody approved it yet, it says who and how) is
the workflow validator's to say, and its refusal comes back to the operator as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from vocabulary import UNVERIFIED_STATUSES, VerificationMethod
from workflows import (
    CodeCheck,
    CodeResendOrder,
    CodeResent,
    CodeSubmission,
    ErasureWorkflow,
    OperatorApproval,
)

from ..errors import LetheError
from ..free_text import PersonText, Rewritten
from ..runtime import Runtime
from .lookups import find_request
from .workflow_calls import UpdateRefused, update_request

__all__ = ["Approved", "Resent", "approve_identity", "check_code", "resend_code"]


async def _refused(rt: Runtime, request_id: str, who: str, reason: str) -> LetheError:
    await rt.ledger.add_event(
        request_id,
        "verification_code_refused",
        at=datetime.now(UTC),
        actor=who[:120],
        detail={"outcome": "refused_before_check", "reason": reason[:300]},
    )
    return LetheError(f"{request_id}: code refused: {reason}")


async def check_code(
    rt: Runtime, request_id: str, code: str, operator: str, *, actor: str | None = None
) -> CodeCheck:
    """The requester's code, checked by the request's workflow: accepted, or why not (a
    wrong code counts as a try; ``attempts_left`` says how many remain). ``actor``: who
    entered it when not an operator (``requester:web``, the requester's own page)."""
    rec = await find_request(rt.ledger, request_id)
    person = await PersonText.for_request(rt.ledger, request_id)
    who = actor if actor is not None else f"operator:{person.operator(operator)}"
    if rec.verification_method != VerificationMethod.EMAIL:
        raise await _refused(
            rt, request_id, who, f"it is verified by {rec.verification_method}, not by a code"
        )
    if rec.completed_at is not None:
        raise await _refused(rt, request_id, who, f"the request is closed ({rec.status})")
    try:
        return await update_request(
            rt, rec, ErasureWorkflow.submit_code, CodeSubmission(code, who)
        )
    except UpdateRefused as exc:
        raise await _refused(rt, request_id, who, exc.because) from None


@dataclass(frozen=True)
class Resent:
    answer: CodeResent  # the new code's expiry, resends and attempts left
    resent_by: str


async def resend_code(
    rt: Runtime,
    request_id: str,
    reason: str,
    operator: str,
    *,
    rewritten: Rewritten | None = None,
) -> Resent:
    """Mail a new code to the address on file; the previous one stops working at once."""
    rec = await find_request(rt.ledger, request_id)
    if rec.verification_method != VerificationMethod.EMAIL:
        raise LetheError(
            f"{request_id}: no new code: it is verified by {rec.verification_method},"
            " not by an emailed code"
        )
    if rec.completed_at is not None:
        raise LetheError(f"{request_id}: no new code: the request is closed ({rec.status})")
    if rec.status not in UNVERIFIED_STATUSES:
        raise LetheError(f"{request_id}: no new code: identity is already verified ({rec.status})")
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(reason, operator, rewritten=rewritten)
    who = f"operator:{by}"
    try:
        sent = await update_request(
            rt, rec, ErasureWorkflow.resend_code, CodeResendOrder(who, why)
        )
    except UpdateRefused as exc:
        raise LetheError(f"{request_id}: no new code: {exc.because}") from None
    return Resent(sent, who)


@dataclass(frozen=True)
class Approved:
    request_id: str
    approved_by: str  # the operator's name as the ledger keeps it
    reason: str  # as kept: the person's details removed


async def approve_identity(
    rt: Runtime,
    request_id: str,
    reason: str,
    operator: str,
    *,
    rewritten: Rewritten | None = None,
) -> Approved:
    """An operator confirms the requester's identity; erasure starts. Refused, with the
    workflow's reason, when the approval cannot count."""
    rec = await find_request(rt.ledger, request_id)
    if rec.completed_at is not None:  # its workflow is gone: nobody else can say so
        raise LetheError(f"{request_id}: not approved: the request is closed ({rec.status})")
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(reason, operator, rewritten=rewritten)
    try:
        await update_request(
            rt, rec, ErasureWorkflow.approve_identity, OperatorApproval(by, why)
        )
    except UpdateRefused as exc:
        raise LetheError(f"{request_id}: not approved: {exc.because}") from None
    return Approved(request_id, by, why)
