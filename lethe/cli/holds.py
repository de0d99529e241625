"""``lethe hold add|list|release``: legal holds, by pseudonym only.

A hold keeps a person's data in the held systems (all by default) whatever erasure requests
say, until it lapses (``--until``) or is released; an indefinite hold names the date it is
next reviewed (``--review-on``, default in ``[retention] hold_review_days``). The email
address given with ``--subject`` is turned into the pseudonym and never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ledger import LedgerError, LegalHold, LegalHolds
from vocabulary import OPEN_STATUSES, RequestStatus, describe_basis

from ..errors import LetheError, NotFoundError
from ..free_text import PersonText
from ..pseudonym import Pseudonymizer
from ..runtime import Runtime
from ..settings import load_settings
from ._app import app, console, emit_json, json_option, run, with_runtime
from ._values import legal_basis, one_date, pseudonym, reason_text, scrubbed, systems_among
from .requests import _operator

__all__ = ["hold", "hold_to_dict"]


def _state(h: LegalHold, today: Any) -> str:
    if h.released_at is not None:
        return "released"
    if not h.active_on(today):
        return "lapsed"
    if h.review_on is not None and h.review_on < today:
        return "review overdue"
    return "active"


def hold_to_dict(h: LegalHold, today: Any) -> dict[str, Any]:
    return {
        "hold_id": h.hold_id,
        "subject_ref": h.subject_ref,
        "legal_basis": h.legal_basis,
        "reason": h.reason,
        "systems": h.systems,
        "retained_until": h.retained_until.isoformat() if h.retained_until else None,
        "review_on": h.review_on.isoformat() if h.review_on else None,
        "placed_at": h.placed_at.isoformat(),
        "placed_by": h.placed_by,
        "released_at": h.released_at.isoformat() if h.released_at else None,
        "released_by": h.released_by,
        "release_reason": h.release_reason,
        "state": _state(h, today),
    }


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
    settings = load_settings()
    email, subject_ref = pseudonym(subject, ps)
    code = legal_basis(basis)
    reason = reason_text(reason, "why the data is kept")
    held = systems_among(systems, list(settings.systems), what="configured systems")
    today = datetime.now(UTC).date()
    kept, review = one_date(until, review_on, today=today)
    if kept is None and review is None:
        review = today + timedelta(days=settings.retention.hold_review_days)
    who = _operator(operator)

    async def go(rt: Runtime) -> None:
        ref = subject_ref or Pseudonymizer(rt.keys.pseudonym).subject_ref(email or "")
        person = await PersonText.for_pseudonym(rt.ledger, ref, email=email)
        why, by = scrubbed(person, reason, who)
        placed = await LegalHolds(rt.ledger).place(
            subject_ref=ref,
            legal_basis=code,
            reason=why,
            systems=held,
            retained_until=kept,
            review_on=review,
            placed_by=f"operator:{by}",
            at=datetime.now(UTC),
        )
        running = await rt.ledger.list_requests(subject_ref=ref, statuses=sorted(OPEN_STATUSES))
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
            f"Hold {placed.hold_id} placed on {ref} ({where}) under {placed.legal_basis}, "
            f"{_keeps(placed)}."
        )
        for r in running:
            if r.status == RequestStatus.ERASING:
                console.print(
                    f"Note: {r.request_id} is already erasing; its systems were planned when it "
                    "was verified, so this hold applies to its later rounds only."
                )
            else:
                console.print(f"Note: {r.request_id} ({r.status}) will be held when verified.")

    run(with_runtime(go, settings))


@hold.command("list")
@click.option("--all", "include_released", is_flag=True, help="Include released holds.")
@json_option
def hold_list(include_released: bool, as_json: bool) -> None:
    """List legal holds (active ones, or all)."""

    async def go(rt: Runtime) -> None:
        today = datetime.now(UTC).date()
        holds = await LegalHolds(rt.ledger).list_holds(include_released=include_released)
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
            state = _state(h, today)
            table.add_row(
                h.hold_id,
                h.subject_ref,
                ", ".join(h.systems) if h.systems else "all",
                _keeps(h),
                describe_basis(h.legal_basis),
                Text(state, style="yellow" if state != "active" else "green"),
            )
        console.print(table)

    run(with_runtime(go))


@hold.command("release")
@click.argument("hold_id")
@click.option(
    "--reason", required=True, help="Why the hold ends (the person's details are removed)."
)
@click.option("--operator", help="Who releases it (default: LETHE_OPERATOR or your login).")
@json_option
def hold_release(hold_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Release a hold. What it kept becomes due for erasure at the next sweep."""
    reason = reason_text(reason, "why the hold ends")
    who = _operator(operator)

    async def go(rt: Runtime) -> None:
        holds = LegalHolds(rt.ledger)
        found = await holds.get(hold_id.strip())
        if found is None:
            raise NotFoundError(f"no legal hold with id {hold_id.strip()!r}")
        person = await PersonText.for_pseudonym(rt.ledger, found.subject_ref)
        why, by = scrubbed(person, reason, who)
        try:
            done = await holds.release(
                hold_id.strip(),
                released_by=f"operator:{by}",
                reason=why,
                at=datetime.now(UTC),
            )
        except LedgerError as exc:
            raise LetheError(str(exc)) from None
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

    run(with_runtime(go))
