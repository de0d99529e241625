"""How requests and outcomes look to an operator: rich tables, and stable JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from connectors import describe_basis
from ledger import ErasureRequestRecord, RequestEvent, RetainedException, SystemOutcomeRecord
from ledger.proof import deadline_state

__all__ = [
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
    "completed": "green",
    "completed_with_exceptions": "yellow",
    "partially_failed": "bold red",
    "rejected": "red",
    "cancelled": "dim",
    "escalated": "bold magenta",
}


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


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
        "retained_until": _iso(o.retained_until),
        "review_on": _iso(o.review_on),
        "ticket": o.ticket,
        "controller": o.controller,
        "error": o.error,
        "attempts": o.attempts,
        "residual": o.residual,
        "verified_at": _iso(o.verified_at),
        "started_at": _iso(o.started_at),
        "finished_at": _iso(o.finished_at),
        "evidence": o.evidence,
    }


def request_to_dict(
    r: ErasureRequestRecord,
    outcomes: Sequence[SystemOutcomeRecord] = (),
    exceptions: Sequence[RetainedException] = (),
    events: Sequence[RequestEvent] = (),
) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "subject_ref": r.subject_ref,
        "status": r.status,
        "status_reason": r.status_reason,
        "jurisdiction": r.jurisdiction,
        "verification_method": r.verification_method,
        "channel": r.channel,
        "systems": r.systems,
        "workflow_id": r.workflow_id,
        "received_at": _iso(r.received_at),
        "due_at": _iso(r.due_at),
        "verified_at": _iso(r.verified_at),
        "completed_at": _iso(r.completed_at),
        "outcomes": [outcome_to_dict(o) for o in outcomes],
        "retained_exceptions": [
            {
                "system": e.system,
                "legal_basis": e.legal_basis,
                "basis_note": e.basis_note,
                "retained_until": _iso(e.retained_until),
                "review_on": _iso(e.review_on),
                "state": e.state,
            }
            for e in exceptions
        ],
        "events": [
            {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in events
        ],
    }


def _retained_cell(o: SystemOutcomeRecord) -> Text:
    if o.outcome == "referred":
        return Text(f"referred to {o.controller or '?'}", style="magenta")
    if o.outcome != "retained":
        return Text(o.error or "—", style="red" if o.error else "dim")
    when = (
        f"until {o.retained_until.isoformat()}"
        if o.retained_until
        else f"indefinite, review {o.review_on.isoformat() if o.review_on else '?'}"
    )
    kept = _counts(o.retained_counts)
    return Text(f"{kept}, {when}\n{describe_basis(o.legal_basis or '')}")


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


def request_summary(r: ErasureRequestRecord) -> Text:
    text = Text()
    text.append(f"{r.request_id}  ", style="bold")
    text.append(r.status, style=_STYLE.get(r.status, "bold"))
    if r.status_reason:
        text.append(f" — {r.status_reason}")
    text.append(
        f"\n{r.jurisdiction.upper()} · verification {r.verification_method} · "
        f"received {_when(r.received_at)} · due {_when(r.due_at)}"
    )
    if r.completed_at:
        met = deadline_state(r.due_at, r.completed_at)
        met = "MISSED" if met == "missed" else met
        text.append(f" · finished {_when(r.completed_at)} (deadline {met})")
    text.append(f"\nsubject pseudonym {r.subject_ref}", style="dim")
    return text


def request_table(requests: Sequence[ErasureRequestRecord]) -> Table:
    table = Table(header_style="bold")
    for col in ("request", "status", "law", "received", "due"):
        table.add_column(col, no_wrap=True)
    table.add_column("systems")
    for r in requests:
        table.add_row(
            r.request_id,
            Text(r.status, style=_STYLE.get(r.status, "")),
            r.jurisdiction,
            f"{r.received_at:%Y-%m-%d %H:%M}",
            f"{r.due_at:%Y-%m-%d}",
            ", ".join(r.systems),
        )
    return table
