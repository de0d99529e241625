"""``lethe hold add|list|release``: legal holds, by pseudonym only.

A hold keeps a person's data in the held systems (all by default) whatever erasure requests
say, until it lapses (``--until``) or is released; an indefinite hold names the date it is
next reviewed (``--review-on``, default in ``[retention] hold_review_days``). The email
address given with ``--subject`` is turned into the pseudonym and never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table
from rich.text import Text

from ledger import LegalHold
from ledger.holds import hold_state
from vocabulary import RequestStatus, describe_basis

from ..operations.holds import HoldOrder, list_holds, place_hold, release_hold
from ..render import hold_to_dict
from ._app import app, call, console, emit_json, json_option, look
from ._values import (
    legal_basis,
    note_rewritten,
    one_date,
    operator_name,
    pseudonym,
    reason_text,
    system_names,
)

__all__ = ["hold"]


def _keeps(h: LegalHold) -> str:
    if h.retained_until is not None:
        return f"until {h.retained_until}"
    return f"indefinite, review {h.review_on}"


@app.group()
def hold() -> None:
    """Legal holds: keep a person's data despite erasure requests, until released."""


@hold.command("add")
@click.option(
    "--subject",
    help="The person's email address ('-': from stdin); only its pseudonym is stored.",
)
@click.option("--pseudonym", "ps", help="The person's pseudonym (ps_…, as lethe status shows).")
@click.option("--basis", default="legal-hold", show_default=True, help="Legal basis code.")
@click.option(
    "--reason",
    required=True,
    help="Why (a case reference; the person's details are removed).",
)
@click.option("--systems", help="Comma-separated systems to hold (default: all).")
@click.option("--until", help="The hold lapses after this date (YYYY-MM-DD).")
@click.option("--review-on", help="Indefinite hold: the date it is reviewed.")
@click.option("--operator", help="Who places it (default: LETHE_OPERATOR or your login).")
@json_option
def hold_add(
    subject: str | None,
    ps: str | None,
    basis: str,
    reason: str,
    systems: str | None,
    until: str | None,
    review_on: str | None,
    operator: str | None,
    as_json: bool,
) -> None:
    """Place a legal hold on a person (by email or pseudonym)."""
    email, subject_ref = pseudonym(subject, ps)
    code = legal_basis(basis)
    why = reason_text(reason, "why the data is kept")
    held = system_names(systems)
    today = datetime.now(UTC).date()
    kept, review = one_date(until, review_on, today=today)
    order = HoldOrder(
        code,
        why,
        operator_name(operator),
        email=email,
        subject_ref=subject_ref,
        systems=held,
        retained_until=kept,
        review_on=review,
    )
    done = call(place_hold, order, rewritten=note_rewritten)
    placed, running = done.hold, done.open_requests
    if as_json:
        emit_json(
            {
                **hold_to_dict(placed, today),
                "open_requests": [
                    {"request_id": r.request_id, "status": r.status} for r in running
                ],
            }
        )
        return
    where = ", ".join(placed.systems) if placed.systems else "all systems"
    console.print(
        f"Hold {placed.hold_id} placed on {placed.subject_ref} ({where}) under"
        f" {placed.legal_basis}, {_keeps(placed)}."
    )
    for r in running:
        if r.status == RequestStatus.ERASING:
            console.print(
                f"Note: {r.request_id} is already erasing; its systems were planned when it "
                "was verified, so this hold applies to its later rounds only."
            )
        else:
            console.print(f"Note: {r.request_id} ({r.status}) will be held when verified.")


@hold.command("list")
@click.option("--all", "include_released", is_flag=True, help="Include released holds.")
@json_option
def hold_list(include_released: bool, as_json: bool) -> None:
    """List legal holds (active ones, or all)."""
    holds = look(list_holds, include_released=include_released)
    today = datetime.now(UTC).date()
    if as_json:
        emit_json([hold_to_dict(h, today) for h in holds])
        return
    if not holds:
        console.print("No legal holds." if include_released else "No active legal holds.")
        return
    table = Table(header_style="bold")
    for col in ("hold", "subject", "systems", "keeps", "basis", "state"):
        table.add_column(col, no_wrap=col in {"hold", "subject", "state"})
    for h in holds:
        state = hold_state(h, today)
        table.add_row(
            h.hold_id,
            h.subject_ref,
            ", ".join(h.systems) if h.systems else "all",
            _keeps(h),
            describe_basis(h.legal_basis),
            Text(state, style="yellow" if state != "active" else "green"),
        )
    console.print(table)


@hold.command("release")
@click.argument("hold_id")
@click.option(
    "--reason", required=True, help="Why the hold ends (the person's details are removed)."
)
@click.option("--operator", help="Who releases it (default: LETHE_OPERATOR or your login).")
@json_option
def hold_release(hold_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Release a hold. What it kept becomes due for erasure at the next sweep."""
    why = reason_text(reason, "why the hold ends")
    who = operator_name(operator)
    done = call(release_hold, hold_id.strip(), why, who, rewritten=note_rewritten)
    due = [{"request_id": e.request_id, "system": e.system} for e in done.now_due]
    if as_json:
        emit_json({**hold_to_dict(done.hold, datetime.now(UTC).date()), "now_due": due})
        return
    console.print(f"Released {done.hold.hold_id}.")
    if due:
        listed = ", ".join(f"{d['system']} of {d['request_id']}" for d in due)
        console.print(
            f"Now due for erasure: {listed}. The next sweep erases them "
            "(or now: lethe sweeper run-once)."
        )
    else:
        console.print("It was keeping nothing in a finished request.")
