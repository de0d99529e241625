"""An outcome as a receipt: plain JSON a connector stores with its change, and reads back.

``receipt_of(outcome)`` gives a dict of strings, numbers, lists and dicts (dates as ISO
strings) that any store keeps: a database row's text column, a Redis value, the receipt
journal. ``replayed(receipt)`` gives the outcome back, exactly as it was (counts, evidence,
basis, dates), with ``evidence["replayed_from_receipt"] = True`` added: a repeat reports what
the first call did, and says so (``connectors._idempotency``).

Everything in an outcome goes in, so everything in a receipt is what an outcome may hold:
counts, evidence and notes, never an identifier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from ._idempotency import REPLAYED_FROM_RECEIPT
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Pending, Referred, Retained

__all__ = ["receipt_of", "replayed"]

#: The receipt format; a reader refuses one it does not know rather than guess.
_VERSION = 1


def _date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _undate(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _retained(outcome: Retained) -> dict[str, Any]:
    return {
        "legal_basis": outcome.legal_basis,
        "note": outcome.note,
        "retained_until": _date(outcome.retained_until),
        "review_on": _date(outcome.review_on),
        "retained_counts": dict(outcome.retained_counts),
        "counts": dict(outcome.counts),
        "evidence": dict(outcome.evidence),
    }


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as JSON reads it back (tuples become lists...); raises on what JSON cannot
    hold, so a receipt that could not be stored is refused when it is made, not replayed
    different."""
    try:
        plain: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an outcome's receipt must be plain JSON: {exc}") from None
    return plain


def receipt_of(outcome: Outcome) -> dict[str, Any]:
    """What to store, with the change, to replay ``outcome`` later."""
    body: dict[str, Any]
    match outcome:
        case Erased():
            body = {"counts": dict(outcome.counts), "evidence": dict(outcome.evidence)}
        case NotFound() | Referred():
            body = {"evidence": dict(outcome.evidence)}
            if isinstance(outcome, Referred):
                body["controller"] = outcome.controller
        case Retained():
            body = _retained(outcome)
        case Pending():
            body = {
                "ticket": outcome.ticket,
                "poll_after_seconds": outcome.poll_after.total_seconds(),
                "evidence": dict(outcome.evidence),
            }
        case NotSearched():
            body = {
                "missing": list(outcome.missing),
                "counts": dict(outcome.counts),
                "evidence": dict(outcome.evidence),
                "kept": _retained(outcome.kept) if outcome.kept is not None else None,
            }
        case _:
            raise TypeError(f"{type(outcome).__name__} is not an outcome")
    return _plain({"receipt": _VERSION, "kind": outcome.kind, **body})


def _retained_from(body: Mapping[str, Any], evidence: Mapping[str, Any]) -> Retained:
    return Retained(
        legal_basis=body["legal_basis"],
        note=body["note"],
        retained_until=_undate(body.get("retained_until")),
        review_on=_undate(body.get("review_on")),
        retained_counts=dict(body.get("retained_counts") or {}),
        counts=dict(body.get("counts") or {}),
        evidence=evidence,
    )


def replayed(receipt: Mapping[str, Any]) -> Outcome:
    """The outcome a receipt holds, marked as replayed. ``ValueError`` if it is not one."""
    if receipt.get("receipt") != _VERSION:
        raise ValueError(f"not a receipt this version can read: {receipt.get('receipt')!r}")
    evidence = {**dict(receipt.get("evidence") or {}), REPLAYED_FROM_RECEIPT: True}
    counts = dict(receipt.get("counts") or {})
    kind = receipt.get("kind")
    try:
        if kind == "erased":
            return Erased(counts=counts, evidence=evidence)
        if kind == "not_found":
            return NotFound(evidence=evidence)
        if kind == "retained":
            return _retained_from(receipt, evidence)
        if kind == "pending":
            return Pending(
                ticket=receipt["ticket"],
                poll_after=timedelta(seconds=float(receipt["poll_after_seconds"])),
                evidence=evidence,
            )
        if kind == "referred":
            return Referred(controller=receipt["controller"], evidence=evidence)
        if kind == "not_searched":
            kept = receipt.get("kept")
            return NotSearched(
                missing=tuple(receipt["missing"]),
                counts=counts,
                evidence=evidence,
                kept=_retained_from(kept, kept.get("evidence") or {}) if kept else None,
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a {kind} receipt lacks {exc}") from None
    raise ValueError(f"a receipt of unknown kind {kind!r}")
