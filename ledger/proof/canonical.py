"""The bytes the proof log hashes: canonical JSON, and the commitment to an event's who and why.
No database, no clock, no key.

Canonical JSON (the bytes a receipt's leaf hash is taken over)
    * UTF-8, no byte-order mark, no whitespace between tokens: separators ``,`` and ``:``.
    * Object keys are strings, sorted by Unicode code point, never repeated.
    * Strings escape only what JSON requires: ``"`` ``\\`` and U+0000 to U+001F (``\\b \\f \\n
      \\r \\t`` in short form, the rest as ``\\u00xx`` in lower-case hex); all else is literal.
      Lone surrogates are refused.
    * ``null``, ``true``, ``false``; integers in plain decimal.
    * Floats with a whole value are written as integers (``300.0`` → ``300``, ``-0.0`` →
      ``0``); other finite floats in the shortest form that reads back to the same double,
      as Python's ``repr`` writes it: plain for 1e-4 <= |x| (``0.25``), else ``d.ddde-XX``
      with at least two exponent digits (``1e-07``; every double from 2**53 up is whole).
      Not RFC 8785, which writes ``1e-7`` and sorts keys by UTF-16 code units. NaN and
      infinities are refused.
    * Dates are ``YYYY-MM-DD`` strings; datetimes are UTC strings with microseconds,
      ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; naive datetimes are refused. (Receipts carry them as
      strings, so reading a receipt back and re-encoding it gives the same bytes.)

Event commitment (what a ``request_event`` receipt holds instead of who and why)
    ``commitment`` = lower-case hex of SHA-256( salt || canonical JSON of
    ``{"actor": ACTOR, "detail": DETAIL}`` ), where ``salt`` is the event's random salt as raw
    bytes (at least 16; certificates and the ledger carry it in lower-case hex), ACTOR the
    operator's name as a string and DETAIL the event's detail object (``{}`` when empty).
    The salt hides the text from anyone holding only the receipt (names and reasons are few
    enough to guess); the *opening* ``{salt, actor, detail}`` travels beside the receipt in
    certificates, and drops out, salt included, when the text must go: the receipt still
    proves that the event happened, when, and what kind it was.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from .merkle import leaf_hash

__all__ = [
    "EVENT_SALT_BYTES",
    "ProofError",
    "canonical_json",
    "event_commitment",
    "event_opening_problem",
    "parse_receipt",
    "read_json",
    "receipt_leaf_hash",
]

EVENT_SALT_BYTES = 16  # the least a salt may be; Lethe draws this many


class ProofError(ValueError):
    """A value cannot be encoded canonically, or a key or proof cannot be read."""


# -- canonical JSON ---------------------------------------------------------------------------


def _normal(value: Any) -> Any:
    """``value`` with every float, date and datetime in its canonical JSON type."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProofError("NaN and infinities have no canonical JSON form")
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ProofError("naive datetimes have no canonical form; use UTC-aware ones")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ProofError("object keys must be strings")
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    raise ProofError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value`` (see the module docstring for the rules).

    Python's encoder writes exactly those rules once floats, dates and datetimes are
    normalised: keys sorted by code point, ``,``/``:``, only the escapes JSON requires
    (``ensure_ascii=False``), floats by ``repr``.
    """
    text = json.dumps(
        _normal(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProofError("a string holds a lone surrogate, which UTF-8 cannot encode") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ProofError(f"key {k!r} appears twice in one object")
        out[k] = v
    return out


def read_json(text: str) -> Any:
    """Parse JSON, refusing repeated keys (a reader could otherwise see another value)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ProofError(f"not JSON: {exc}") from None


def _canonical_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value.is_integer():
        raise ProofError(f"the number {text} is not written canonically")
    return value


def parse_receipt(data: bytes | str) -> dict[str, Any]:
    """Read canonical receipt bytes back; refuse anything that is not exactly canonical."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_canonical_float
        )
    except UnicodeDecodeError as exc:
        raise ProofError(f"not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ProofError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProofError("a receipt is a JSON object")
    # Parsed JSON holds no dates and no whole floats, so it needs no normalising.
    again = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if again.encode("utf-8") != raw:
        raise ProofError("not in canonical form")
    return value


def receipt_leaf_hash(receipt: Mapping[str, Any]) -> bytes:
    """RFC 6962 leaf hash of a receipt's canonical bytes."""
    return leaf_hash(canonical_json(receipt))


def event_commitment(salt: bytes, actor: str, detail: Mapping[str, Any] | None) -> str:
    """The commitment to an event's actor and detail (see the module docstring), in hex."""
    if len(salt) < EVENT_SALT_BYTES:
        raise ProofError(f"an event's salt is at least {EVENT_SALT_BYTES} bytes")
    opened = canonical_json({"actor": actor, "detail": dict(detail or {})})
    return hashlib.sha256(salt + opened).hexdigest()


def event_opening_problem(commitment: Any, opening: Any) -> str | None:
    """Why ``opening`` (``{salt, actor, detail}``, as in a certificate) does not open
    ``commitment``, or ``None`` if it does."""
    if not isinstance(opening, Mapping) or set(opening) != {"salt", "actor", "detail"}:
        return "its opening is not {salt, actor, detail}"
    salt, actor, detail = opening["salt"], opening["actor"], opening["detail"]
    if not isinstance(actor, str) or not isinstance(detail, Mapping) or not isinstance(salt, str):
        return "its opening is not {salt, actor, detail}"
    try:
        raw = bytes.fromhex(salt)
        if salt != raw.hex():
            raise ValueError("not lower-case hex")
        computed = event_commitment(raw, actor, detail)
    except (ValueError, ProofError) as exc:
        return f"its opening cannot be read ({exc})"
    if computed != commitment:
        return "its opening (who, detail or salt) does not match its sealed commitment"
    return None
