"""The request records CCPA regulations §7101 ask a business to keep, one row per request:
``lethe audit export`` writes them as CSV or JSON Lines.

§7101(b) lists what each record holds: the date, nature and manner of the request, the date
and nature of the response, and the basis for any denial in whole or in part. Each exception
is listed with its state: one a later round ended stays listed, as the basis of the answer
given then. §7021 adds when receipt was confirmed, and any extension of the deadline with its
reason. The rest says when the erasure itself was done (it can be after the answer, when a
failed system is retried) and which systems failed or could not be searched.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from ledger import missing_identifiers
from ledger.queries import AuditFilter, AuditRecord, audit_records, systems_done_at
from vocabulary import OutcomeKind, RequestStatus, describe_basis, iso

from ..runtime import Reading

__all__ = ["EXPORT_FIELDS", "EXPORT_FORMATS", "RESPONSES", "csv_cell", "export_row", "write_export"]

#: The columns, in order (the CSV header; the keys of each JSON line).
EXPORT_FIELDS = (
    "request_id",
    "date_of_request",
    "nature_of_request",
    "manner_of_request",
    "jurisdiction",
    "verification_method",
    "date_acknowledged",
    "date_due_original",
    "date_due",
    "extension_reason",
    "date_of_response",
    "deadline",
    "date_systems_done",
    "erasure_deadline",
    "nature_of_response",
    "status",
    "basis_for_denial",
    "systems",
    "systems_failed",
    "systems_not_searched",
)

EXPORT_FORMATS = ("csv", "jsonl")

#: The nature of the response, by the request's final status.
RESPONSES: dict[str, str] = {
    RequestStatus.COMPLETED: "deleted",
    RequestStatus.COMPLETED_WITH_EXCEPTIONS: "deleted in part; the rest kept under the bases given",
    RequestStatus.PARTIALLY_FAILED: (
        "deletion failed, or could not be searched for, in some systems"
    ),
    RequestStatus.FAILED: "deletion failed, or could not be searched for, in every system",
    RequestStatus.REJECTED: "denied",
    RequestStatus.CANCELLED: "withdrawn",
}


def export_row(record: AuditRecord) -> dict[str, Any]:
    """One request as §7101(b) lists it (and §7021's acknowledgement and extension)."""
    r = record.request
    clock = record.clock
    basis: list[dict[str, Any]] = [
        {
            "system": e.system,
            "legal_basis": e.legal_basis,
            "description": describe_basis(e.legal_basis),
            "retained_until": iso(e.retained_until),
            "review_on": iso(e.review_on),
            "note": e.basis_note,
            "state": e.state,
        }
        for e in record.exceptions
    ]
    if r.status == RequestStatus.REJECTED:
        basis.append({"system": None, "legal_basis": None, "description": r.status_reason})
    latest = record.latest_outcomes()
    return {
        "request_id": r.request_id,
        "date_of_request": r.received_at.isoformat(),
        "nature_of_request": "deletion",
        "manner_of_request": r.channel,
        "jurisdiction": r.jurisdiction,
        "verification_method": r.verification_method,
        "date_acknowledged": iso(clock.acknowledged_at) if clock else None,
        "date_due_original": iso(clock.original_due_at) if clock else r.due_at.isoformat(),
        "date_due": r.due_at.isoformat(),
        "extension_reason": clock.extension_reason if clock else None,
        "date_of_response": iso(r.completed_at),
        "deadline": record.deadline(),
        "date_systems_done": iso(systems_done_at(record.outcomes)),
        "erasure_deadline": record.erasure_deadline(),
        "nature_of_response": RESPONSES.get(r.status, "not answered yet"),
        "status": r.status,
        "basis_for_denial": basis,
        "systems": list(r.systems),
        "systems_failed": sorted(s for s, o in latest.items() if o.outcome == OutcomeKind.FAILED),
        # Not searched for want of an identifier: each system with the kinds it lacked.
        "systems_not_searched": [
            f"{s} (no {', '.join(missing_identifiers(o.evidence)) or 'identifier'})"
            for s, o in sorted(latest.items())
            if o.outcome == OutcomeKind.NOT_SEARCHED
        ],
    }


def csv_cell(name: str, value: Any) -> str:
    """A row's value as one CSV cell: lists joined; each basis for denial as one sentence
    (system, description, code, until when, and whether a later round ended it)."""
    if value is None:
        return ""
    if name == "basis_for_denial":
        parts = []
        for b in value:
            text = b["description"] or ""
            if b.get("system"):
                until = b.get("retained_until") or f"review {b.get('review_on') or '?'}"
                text = f"{b['system']}: {text} [{b['legal_basis']}], kept until {until}"
                if b.get("state") != "open":
                    text += f" ({b.get('state')} by a later round)"
            parts.append(text)
        return "; ".join(parts)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


async def write_export(
    reading: Reading, f: AuditFilter, out: TextIO, *, fmt: str, now: datetime | None = None
) -> int:
    """The selected requests' records, newest first, written to ``out`` as ``csv`` (with a
    header) or ``jsonl``; how many. ``now`` (default: now) decides what is overdue."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    rows = 0
    async for record in audit_records(reading.ledger, f, now=now or datetime.now(UTC)):
        row = export_row(record)
        if writer is not None:
            writer.writerow({k: csv_cell(k, v) for k, v in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        rows += 1
    return rows
