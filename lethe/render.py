"""How requests and outcomes look to an operator: rich tables, and stable JSON for scripts.

What someone typed (a reason, an error, a name) reaches a ``Text`` here only through
``lethe.terminal.visible``: shown as text, never as terminal control."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from rich.table import Table
from rich.text import Text

from ledger import (
    ErasureRequestRecord,
    LegalHold,
    RequestEvent,
    RetainedException,
    SystemOutcomeRecord,
    missing_identifiers,
)
from ledger.holds import hold_state
from ledger.proof import deadline_state
from vocabulary import OutcomeKind, describe_basis, iso, when

from .terminal import visible

__all__ = [
    "being_sealed",
    "hold_to_dict",
    "outcome_table",
    "outcome_to_dict",
    "request_summary",
    "request_table",
    "request_to_dict",
]

_STYLE = {
    "erased": "green",
    "not_found": "cyan",
    "retained": "yellow",
    "pending": "magenta",
    "referred": "magenta",
    "in_progress": "blue",
    "failed": "bold red",
    "not_searched": "bold yellow",
    "completed": "green",
    "completed_with_exceptions": "yellow",
    "partially_failed": "bold red",
    "rejected": "red",
    "cancelled": "dim",
    "escalated": "bold magenta",
}


def _counts(counts: dict[str, Any], sep: str = "\n") -> str:
    return sep.join(f"{k} {v}" for k, v in sorted(counts.items())) or "—"


def outcome_to_dict(o: SystemOutcomeRecord) -> dict[str, Any]:
    return {
        "system": o.system,
        "round": o.round,
        "connector": o.connector,
        "connector_version": o.connector_version,
        "outcome": o.outcome,
        "counts": o.counts,
        "retained_counts": o.retained_counts,
        "legal_basis": o.legal_basis,
        "basis_note": o.basis_note,
        "retained_until": iso(o.retained_until),
        "review_on": iso(o.review_on),
        "ticket": o.ticket,
        "controller": o.controller,
        "error": o.error,
        # not_searched: the identifier kinds the request lacked (empty otherwise).
        "missing_identifiers": missing_identifiers(o.evidence),
        "attempts": o.attempts,
        "residual": o.residual,
        "verified_at": iso(o.verified_at),
        "started_at": iso(o.started_at),
        "finished_at": iso(o.finished_at),
        "evidence": o.evidence,
    }


def request_to_dict(
    r: ErasureRequestRecord,
    outcomes: Sequence[SystemOutcomeRecord] = (),
    exceptions: Sequence[RetainedException] = (),
    events: Sequence[RequestEvent] = (),
    *,
    sealed: bool | None = None,
) -> dict[str, Any]:
    """The request as ``--json`` prints it. ``sealed`` (when known): whether the proof log
    holds the request as it stands; a final ``status`` is final only then."""
    return {
        "request_id": r.request_id,
        "subject_ref": r.subject_ref,
        "status": r.status,
        **({"sealed": sealed} if sealed is not None else {}),
        "status_reason": r.status_reason,
        "jurisdiction": r.jurisdiction,
        "verification_method": r.verification_method,
        "channel": r.channel,
        "systems": r.systems,
        "workflow_id": r.workflow_id,
        "received_at": iso(r.received_at),
        "due_at": iso(r.due_at),
        "verified_at": iso(r.verified_at),
        "completed_at": iso(r.completed_at),
        "outcomes": [outcome_to_dict(o) for o in outcomes],
        "retained_exceptions": [
            {
                "system": e.system,
                "legal_basis": e.legal_basis,
                "basis_note": e.basis_note,
                "retained_until": iso(e.retained_until),
                "review_on": iso(e.review_on),
                "state": e.state,
            }
            for e in exceptions
        ],
        "events": [
            {"at": iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in events
        ],
    }


def hold_to_dict(h: LegalHold, today: date) -> dict[str, Any]:
    """A legal hold as ``--json`` prints it, with its state on ``today``."""
    return {
        "hold_id": h.hold_id,
        "subject_ref": h.subject_ref,
        "legal_basis": h.legal_basis,
        "reason": h.reason,
        "systems": h.systems,
        "retained_until": iso(h.retained_until),
        "review_on": iso(h.review_on),
        "placed_at": iso(h.placed_at),
        "placed_by": h.placed_by,
        "released_at": iso(h.released_at),
        "released_by": h.released_by,
        "release_reason": h.release_reason,
        "state": hold_state(h, today),
    }


def _retained_cell(o: SystemOutcomeRecord) -> Text:
    if o.outcome == OutcomeKind.REFERRED:
        return Text(f"referred to {visible(o.controller or '?')}", style="magenta")
    if o.outcome == OutcomeKind.NOT_SEARCHED:
        lacked = ", ".join(missing_identifiers(o.evidence)) or "an identifier"
        cell = Text(f"NOT SEARCHED: the request has no {visible(lacked)}", style="yellow")
        if o.legal_basis:
            cell.append("\n")
            cell.append_text(_kept_text(o))
        return cell
    if o.outcome != OutcomeKind.RETAINED:
        return Text(visible(o.error) if o.error else "—", style="red" if o.error else "dim")
    return _kept_text(o)


def _kept_text(o: SystemOutcomeRecord) -> Text:
    when = (
        f"until {o.retained_until.isoformat()}"
        if o.retained_until
        else f"indefinite, review {o.review_on.isoformat() if o.review_on else '?'}"
    )
    kept = visible(_counts(o.retained_counts), newlines=True)
    return Text(f"{kept}, {when}\n{visible(describe_basis(o.legal_basis or ''))}")


def outcome_table(outcomes: Sequence[SystemOutcomeRecord], *, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("system", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("erased (rows/items)", no_wrap=True)
    table.add_column("kept: until, legal basis  ·  error", ratio=1)
    table.add_column("check", no_wrap=True)
    for o in outcomes:
        label = o.system if o.round == 0 else f"{o.system} (round {o.round})"
        if o.verified_at is None:
            verified = Text("—", style="dim")
        elif o.residual:
            verified = Text("items left", style="red")
        else:
            verified = Text("nothing left", style="green")
        table.add_row(
            label,
            Text(o.outcome, style=_STYLE.get(o.outcome, "")),
            _counts(o.counts),
            _retained_cell(o),
            verified,
        )
    return table


#: How a final status not sealed yet reads (the answer is recorded, its proof is not yet).
BEING_SEALED = "being sealed: final once its receipts are in the proof log"


def being_sealed(r: ErasureRequestRecord, sealed: bool | None) -> bool:
    """An answered request whose state the proof log does not hold yet (``sealed`` False):
    its final status is being sealed, not final."""
    return sealed is False and r.completed_at is not None


def request_summary(r: ErasureRequestRecord, *, sealed: bool | None = None) -> Text:
    """The request's first lines. ``sealed=False``: an answered request whose state the proof
    log does not hold yet is shown as being sealed, not as final."""
    text = Text()
    text.append(f"{r.request_id}  ", style="bold")
    text.append(r.status, style=_STYLE.get(r.status, "bold"))
    if being_sealed(r, sealed):
        text.append(f" ({BEING_SEALED})", style="yellow")
    if r.status_reason:
        text.append(f" — {visible(r.status_reason)}")  # typed by someone: text, one line
    text.append(
        f"\n{r.jurisdiction.upper()} · verification {r.verification_method} · "
        f"received {when(r.received_at)} · due {when(r.due_at)}"
    )
    if r.completed_at:
        met = deadline_state(r.due_at, r.completed_at)
        met = "MISSED" if met == "missed" else met
        text.append(f" · finished {when(r.completed_at)} (deadline {met})")
    text.append(f"\nsubject pseudonym {r.subject_ref}", style="dim")
    return text


def request_table(
    requests: Sequence[ErasureRequestRecord], *, sealed: Collection[str] | None = None
) -> Table:
    """One row a request. ``sealed``: the ids whose state the proof log holds (when known);
    an answered request not among them shows its status as being sealed."""
    table = Table(header_style="bold")
    for col in ("request", "status", "law", "received", "due"):
        table.add_column(col, no_wrap=True)
    table.add_column("systems")
    for r in requests:
        status = Text(r.status, style=_STYLE.get(r.status, ""))
        if sealed is not None and being_sealed(r, r.request_id in sealed):
            status.append(" (being sealed)", style="yellow")
        table.add_row(
            r.request_id,
            status,
            r.jurisdiction,
            f"{r.received_at:%Y-%m-%d %H:%M}",
            f"{r.due_at:%Y-%m-%d}",
            ", ".join(r.systems),
        )
    return table
