"""The request list as CSV or JSON, for an auditor's spreadsheet (``GET /v1/export/requests``,
the dashboard's export links). Dates, states and system names only: no pseudonym, no status
reason (it may quote an operator), nothing that names or identifies the person."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from vocabulary import OPEN_STATUSES

from ..runtime import Runtime

__all__ = ["COLUMNS", "export_rows", "rows_to_csv"]

COLUMNS = (
    "request_id",
    "status",
    "jurisdiction",
    "verification_method",
    "channel",
    "systems",
    "received_at",
    "due_at",
    "verified_at",
    "completed_at",
    "overdue",
    "sealed",
)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


async def export_rows(rt: Runtime, *, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The requests (newest first, at most ``limit``), one flat row each."""
    from ..operations.requests import find_requests

    found = await find_requests(rt, status=status, limit=limit)
    now = datetime.now(UTC)
    rows = []
    for r in found.requests:
        late = (r.completed_at is None and r.status in OPEN_STATUSES and r.due_at < now) or (
            r.completed_at is not None and r.completed_at > r.due_at
        )
        rows.append(
            {
                "request_id": r.request_id,
                "status": r.status,
                "jurisdiction": r.jurisdiction,
                "verification_method": r.verification_method,
                "channel": r.channel,
                "systems": list(r.systems),
                "received_at": _iso(r.received_at),
                "due_at": _iso(r.due_at),
                "verified_at": _iso(r.verified_at),
                "completed_at": _iso(r.completed_at),
                "overdue": late,
                "sealed": r.request_id in found.sealed,
            }
        )
    return rows


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """RFC 4180 CSV with a header; systems joined by spaces; booleans as true/false."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row[column]
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = " ".join(value)
            cells.append("" if value is None else str(value))
        writer.writerow(cells)
    return out.getvalue()
