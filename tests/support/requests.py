"""Finished requests written through the real ledger API, for proof-log and audit tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from ledger import Ledger, OutcomeEntry
from vocabulary import request_status

NOW = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)

ERASED = OutcomeEntry(
    "erased",
    counts={"contacts.deleted": 1, "notes.deleted": 2},
    evidence={"rows_changed": 3, "api_status": 204, "ratio": 0.25},
)
RETAINED = OutcomeEntry(
    "retained",
    counts={"contacts.deleted": 1},
    retained_counts={"invoices.retained": 2},
    evidence={"rows_changed": 1, "retained": [{"table": "invoices", "rows": 2}]},
    legal_basis="gdpr-17-3-b",
    basis_note="invoices are kept 10 years under tax law",
    retained_until=date(2036, 1, 31),
)


async def finished_request(
    ledger: Ledger,
    request_id: str,
    outcomes: Mapping[str, OutcomeEntry] | None = None,
    *,
    email: str = "ada@example.org",
    jurisdiction: str = "gdpr",
    received_at: datetime = NOW,
    due_in: timedelta = timedelta(days=28),
    took: timedelta = timedelta(days=2),
    status: str | None = None,
    residual: Mapping[str, Mapping[str, int]] | None = None,
) -> None:
    """A request received, erased in every system of ``outcomes``, checked, and closed."""
    assert ledger.vault is not None
    outcomes = outcomes if outcomes is not None else {"crm": RETAINED, "forum": ERASED}
    await ledger.open_request(
        request_id=request_id,
        subject_ref="ps_" + request_id.encode().hex()[:32],
        jurisdiction=jurisdiction,
        verification_method="operator",
        channel="cli",
        systems=sorted(outcomes),
        workflow_id=f"erasure/{request_id}",
        received_at=received_at,
        due_at=received_at + due_in,
        sealed=ledger.vault.seal(request_id, {"email": email}),
        actor="cli",
    )
    at = received_at + timedelta(hours=1)
    for system, entry in sorted(outcomes.items()):
        await ledger.begin_system(
            request_id, system, 0, connector="sql", connector_version="1", at=at
        )
        await ledger.finish_system(request_id, system, 0, entry, at=at)
        if entry.outcome in {"erased", "retained"}:
            left = dict((residual or {}).get(system, {}))
            await ledger.record_residual(request_id, system, 0, remaining=left, at=at)
    final = status or request_status(e.outcome for e in outcomes.values())
    await ledger.set_status(request_id, final, at=received_at + took, actor="lethe")
