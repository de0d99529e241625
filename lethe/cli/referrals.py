"""``lethe controller-instruction``: the controller's answer to a referral, entered by an operator.

A processor-held system waits for its controller. ``--erase`` erases it through its connector
in the next round of the same request; ``--retain`` records ``Retained`` with a legal basis
and a date. After the waiting time the referral is escalated and the operator decides with
the same command.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..errors import LetheError
from ..operations.referrals import InstructionOrder, instruct_referral
from ._app import app, call, console, emit_json, json_option
from ._values import legal_basis, note_rewritten, one_date, operator_name, reason_text

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
    order = InstructionOrder(
        "erase" if erase else "retain",
        reason,
        who,
        legal_basis=code,
        retained_until=kept,
        review_on=review,
    )
    done = call(instruct_referral, request_id, system, order, rewritten=note_rewritten)
    referral = done.referral
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "system": system,
                "round": referral.round,
                "controller": referral.controller,
                "instruction": done.instruction.action,
                "operator": done.instruction.operator,
                "carried_out_in_round": done.carried_out_in_round,
            }
        )
    elif erase:
        console.print(
            f"{system} of {request_id}: erasing on {referral.controller}'s instruction "
            f"(round {done.carried_out_in_round})."
        )
    else:
        when = f"until {kept}" if kept else f"indefinite, review {review}"
        console.print(
            f"{system} of {request_id}: retained on {referral.controller}'s instruction "
            f"under {code}, {when}."
        )
