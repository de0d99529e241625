"""``lethe controller-instruction``: the controller's answer to a referral, entered by an operator.

A processor-held system waits for its controller. ``--erase`` erases it through its connector
in the next round of the same request; ``--retain`` records ``Retained`` with a legal basis
and a date. After the waiting time the referral is escalated and the operator decides with
the same command.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from temporalio.service import RPCError

from ledger import ControllerReferrals
from workflows import ControllerInstruction

from ..errors import LetheError, NotFoundError
from ..free_text import PersonText
from ..runtime import Runtime
from ._app import app, call, console, emit_json, json_option
from ._values import legal_basis, one_date, operator_name, reason_text, scrubbed

__all__ = ["controller_instruction"]


@app.command("controller-instruction")
@click.argument("request_id")
@click.option("--system", required=True, help="The referred (processor-held) system.")
@click.option("--erase", "erase", is_flag=True, help="The controller says: erase it.")
@click.option("--retain", "retain", is_flag=True, help="The controller says: keep it.")
@click.option(
    "--reason",
    required=True,
    help="What the controller said, and where (ticket; the person's details are removed).",
)
@click.option("--basis", help="With --retain: the legal basis code.")
@click.option("--until", help="With --retain: kept until this date.")
@click.option("--review-on", help="With --retain: indefinite, reviewed on this date.")
@click.option("--operator", help="Who enters it (default: LETHE_OPERATOR or your login).")
@json_option
def controller_instruction(
    request_id: str,
    system: str,
    erase: bool,
    retain: bool,
    reason: str,
    basis: str | None,
    until: str | None,
    review_on: str | None,
    operator: str | None,
    as_json: bool,
) -> None:
    """Carry out a controller's instruction for a referred system."""
    if erase == retain:
        raise LetheError("give exactly one of --erase or --retain")
    reason = reason_text(reason, "what the controller said")
    code = None
    kept = review = None
    if retain:
        if basis is None:
            raise LetheError("--retain needs --basis CODE (the legal basis for keeping it)")
        code = legal_basis(basis)
        kept, review = one_date(until, review_on, today=datetime.now(UTC).date())
        if kept is None and review is None:
            raise LetheError("--retain needs --until DATE or --review-on DATE")
    elif basis is not None or until is not None or review_on is not None:
        raise LetheError("--basis, --until and --review-on go with --retain, not --erase")
    who = operator_name(operator)
    request_id, system = request_id.strip(), system.strip()

    call(
        _instruct,
        request_id,
        system,
        erase=erase,
        reason=reason,
        who=who,
        code=code,
        kept=kept,
        review=review,
        as_json=as_json,
    )


async def _instruct(
    rt: Runtime,
    request_id: str,
    system: str,
    *,
    erase: bool,
    reason: str,
    who: str,
    code: str | None,
    kept: date | None,
    review: date | None,
    as_json: bool,
) -> None:
    rec = await rt.ledger.get_request(request_id)
    if rec is None:
        raise NotFoundError(f"no erasure request with id {request_id!r}")
    if system not in rec.systems:
        raise LetheError(
            f"{request_id} has no system {system!r} (its systems: {', '.join(rec.systems)})"
        )
    referral = await ControllerReferrals(rt.ledger).waiting(request_id, system)
    if referral is None:
        raise LetheError(
            f"{system} of {request_id} is not waiting for a controller's instruction"
        )
    why, by = scrubbed(await PersonText.for_request(rt.ledger, request_id), reason, who)
    instruction = ControllerInstruction(
        "erase" if erase else "retain",
        by,
        why,
        legal_basis=code,
        retained_until=kept.isoformat() if kept else None,
        review_on=review.isoformat() if review else None,
    )
    client = await rt.client()
    try:
        await client.get_workflow_handle(referral.workflow_id).signal(
            "controller_instruction", instruction
        )
    except RPCError as exc:
        raise LetheError(f"could not reach the waiting workflow: {exc}") from None
    info = {
        "request_id": request_id,
        "system": system,
        "round": referral.round,
        "controller": referral.controller,
        "instruction": instruction.action,
        "operator": by,
        "carried_out_in_round": referral.round + 1,
    }
    if as_json:
        emit_json(info)
    elif erase:
        console.print(
            f"{system} of {request_id}: erasing on {referral.controller}'s instruction "
            f"(round {referral.round + 1})."
        )
    else:
        when = f"until {kept}" if kept else f"indefinite, review {review}"
        console.print(
            f"{system} of {request_id}: retained on {referral.controller}'s instruction "
            f"under {code}, {when}."
        )
