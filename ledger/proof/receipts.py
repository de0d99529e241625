"""Receipts: what the proof log records about a request, one leaf each.

    system_outcome   one system's final answer for one round: what it did, kept and why,
                     with its evidence and the check made after the erase
    request_status   the request as it stood when sealed: law, channel, dates, final status
                     (so that "deadline met" is proven, not just printed)
    request_event    one of the request's events (``request_events``): what happened and
                     when, and a salted commitment to who did it and the detail they gave
                     (``ledger.proof.canonical.event_commitment``), so an event edited or
                     deleted after sealing is caught. ``sealed`` events are not sealed
                     themselves: they repeat what the signed tree heads say.

A receipt carries the request id, never the person: no identifier and not even the pseudonym,
because a leaf can never be erased from an append-only log and a stable pseudonym is still
personal data. The request id leads back to the ledger's row for whoever may see it. Evidence
is identifier-free by the connector contract (API ids, status codes, row counts, key ids).

Events hold operator names and free-text reasons, which may mention the person however well
they are scrubbed (``lethe.free_text``): a receipt holds neither, only the commitment. The
opening (salt, actor, detail) stays in the ledger's event row, and certificates carry it beside
the receipt; dropping the salt and the text later leaves every receipt as it was.

Every field is always present (``null`` when empty), so receipts of one kind have one shape.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..tables import ErasureRequestRecord, RequestEvent, SystemOutcomeRecord
from .canonical import canonical_json, event_commitment, parse_receipt

__all__ = [
    "MISSING_IDENTIFIERS",
    "RECEIPT_VERSION",
    "UNSEALED_EVENT_KINDS",
    "event_opening",
    "event_receipt",
    "missing_identifiers",
    "outcome_receipt",
    "request_receipt",
]

RECEIPT_VERSION = 1

#: Events that are not sealed: a ``sealed`` event repeats what its signed tree head says (and
#: is written by the seal itself, after its receipts).
UNSEALED_EVENT_KINDS = frozenset({"sealed"})

#: The evidence key under which a ``not_searched`` outcome names the identifier kinds the
#: request lacked (never their values). Lethe writes it, whatever a connector's evidence says;
#: it is sealed with the rest of the evidence.
MISSING_IDENTIFIERS = "missing_identifiers"


def missing_identifiers(evidence: Any) -> list[str]:
    """The identifier kinds a ``not_searched`` outcome's evidence names (empty if none)."""
    kinds = evidence.get(MISSING_IDENTIFIERS) if isinstance(evidence, dict) else None
    return [str(k) for k in kinds] if isinstance(kinds, list) else []


def _actions(*count_maps: dict[str, Any]) -> list[str]:
    """What was done, from count keys like ``contacts.deleted`` or ``copies.retained``."""
    return sorted({key.rsplit(".", 1)[-1] for counts in count_maps for key in counts})


def outcome_receipt(o: SystemOutcomeRecord | sa.Row[Any]) -> dict[str, Any]:
    """The receipt of a system's final outcome (after its post-erase check). ``o`` is the
    ledger's row, as an ORM object or a plain result row of ``system_outcomes``."""
    checked = o.verified_at is not None
    return {
        "kind": "system_outcome",
        "version": RECEIPT_VERSION,
        "request_id": o.request_id,
        "system": o.system,
        "round": o.round,
        "connector": o.connector,
        "connector_version": o.connector_version,
        "outcome": o.outcome,
        "actions": _actions(o.counts, o.retained_counts),
        "counts": dict(o.counts),
        "retained_counts": dict(o.retained_counts),
        "legal_basis": o.legal_basis,
        "basis_note": o.basis_note,
        "retained_until": o.retained_until,
        "review_on": o.review_on,
        "ticket": o.ticket,
        "controller": o.controller,
        "error": o.error,
        "evidence": dict(o.evidence),
        "attempts": o.attempts,
        "started_at": o.started_at,
        "finished_at": o.finished_at,
        "verification": {
            "checked": checked,
            "verified_at": o.verified_at,
            "residual": dict(o.residual or {}),
            "clean": (not any((o.residual or {}).values())) if checked else None,
        },
    }


def request_receipt(r: ErasureRequestRecord) -> dict[str, Any]:
    """The receipt of a request's state when sealed. No operator names or free-text reasons:
    those may mention the person; the ledger's events keep them for whoever may read them."""
    return {
        "kind": "request_status",
        "version": RECEIPT_VERSION,
        "request_id": r.request_id,
        "jurisdiction": r.jurisdiction,
        "channel": r.channel,
        "verification_method": r.verification_method,
        "systems": list(r.systems),
        "status": r.status,
        "received_at": r.received_at,
        "due_at": r.due_at,
        "verified_at": r.verified_at,
        "completed_at": r.completed_at,
    }


def event_receipt(e: RequestEvent | sa.Row[Any]) -> dict[str, Any]:
    """The receipt of one request event. ``e`` is the ledger's row, as an ORM object or a plain
    result row of ``request_events``, with its ``seal_salt`` drawn. ``event`` is the event's
    kind (``kind`` is the receipt's); ``event_id`` is its id in the ledger, which gives the
    events their order; ``commitment`` commits to its actor and detail without naming them."""
    if e.seal_salt is None:
        raise ValueError(f"event {e.id} has no seal salt: it cannot be sealed or checked")
    return {
        "kind": "request_event",
        "version": RECEIPT_VERSION,
        "request_id": e.request_id,
        "event_id": e.id,
        "event": e.kind,
        "at": e.at,
        "commitment": event_commitment(bytes.fromhex(e.seal_salt), e.actor, e.detail),
    }


def event_opening(e: RequestEvent | sa.Row[Any]) -> dict[str, Any]:
    """What opens an event receipt's commitment: its salt, actor and detail (``None`` salt if
    it has none)."""
    # The detail as canonical JSON reads it back (a whole float as an integer...), so that a
    # verifier re-encoding the certificate's copy gets the bytes committed to.
    detail = parse_receipt(canonical_json(dict(e.detail or {})))
    return {"salt": e.seal_salt, "actor": e.actor, "detail": detail}
