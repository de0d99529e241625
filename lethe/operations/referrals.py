"""A controller's answer to a referral, entered by an operator: erase the processor-held
system after all, or keep it under a legal basis until a date (or with a review date).

The ledger says which of the request's systems waits for an instruction, and which workflow
waits with it; the instruction goes to that workflow as an update, whose validator says
whether it can be carried out (nobody instructed it yet, it names who and why, a retention
has its basis and exactly one date). Its refusal comes back to the operator as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger import ControllerReferral, ControllerReferrals
from workflows import ControllerInstruction, SystemErasureWorkflow

from ..errors import LetheError
from ..free_text import PersonText, Rewritten
from ..runtime import Runtime
from .lookups import find_request
from .workflow_calls import UpdateRefused, update_workflow

__all__ = ["Instructed", "InstructionOrder", "instruct_referral"]


@dataclass(frozen=True)
class InstructionOrder:
    """What the operator enters: ``erase``, or ``retain`` with ``legal_basis`` and one of
    ``retained_until`` / ``review_on``."""

    action: str
    reason: str
    operator: str
    legal_basis: str | None = None
    retained_until: date | None = None
    review_on: date | None = None


@dataclass(frozen=True)
class Instructed:
    referral: ControllerReferral  # the referral the instruction answers
    instruction: ControllerInstruction  # as the workflow received it (reason, name as kept)

    @property
    def carried_out_in_round(self) -> int:
        return self.referral.round + 1


async def instruct_referral(
    rt: Runtime,
    request_id: str,
    system: str,
    order: InstructionOrder,
    *,
    rewritten: Rewritten | None = None,
) -> Instructed:
    """Hand the controller's instruction to the workflow waiting for it."""
    rec = await find_request(rt.ledger, request_id)
    if system not in rec.systems:
        raise LetheError(
            f"{request_id} has no system {system!r} (its systems: {', '.join(rec.systems)})"
        )
    referral = await ControllerReferrals(rt.ledger).waiting(request_id, system)
    if referral is None:  # no workflow waits: nobody else can say so
        raise LetheError(f"{system} of {request_id} is not waiting for a controller's instruction")
    person = await PersonText.for_request(rt.ledger, request_id)
    why, by = person.kept(order.reason, order.operator, rewritten=rewritten)
    instruction = ControllerInstruction(
        order.action,
        by,
        why,
        legal_basis=order.legal_basis,
        retained_until=order.retained_until.isoformat() if order.retained_until else None,
        review_on=order.review_on.isoformat() if order.review_on else None,
    )
    try:
        await update_workflow(
            rt, referral.workflow_id, request_id, SystemErasureWorkflow.instruct, instruction
        )
    except UpdateRefused as exc:
        raise LetheError(
            f"{system} of {request_id}: instruction refused: {exc.because}"
        ) from None
    return Instructed(referral, instruction)
