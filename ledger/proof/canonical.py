"""What an auditor needs to check Lethe's proof, offline: canonical JSON, signed tree heads,
and the check of a certificate of erasure. No database, no clock, no Temporal.

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

Signed tree head (RFC 6962 §3.5 ``TreeHeadSignature``, signed with Ed25519)
    0x00 (v1) || 0x01 (tree_hash) || uint64 timestamp in ms || uint64 tree_size || root[32]

Key fingerprint (RFC 6962 §3.2 ``LogID``)
    SHA-256 of the DER SubjectPublicKeyInfo of the Ed25519 public key, in hex.

Receipt commitment (Lethe's own, the analogue of a CT log's signed promise per entry)
    ``b"lethe receipt v1\\x00" || uint64 leaf_index || leaf_hash``, signed with the same key.
    It lets ``lethe audit verify --log`` name the first receipt that was edited, removed,
    reordered or inserted, not only the first tree head that no longer matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vocabulary import REFUSALS, RequestStatus

from .merkle import leaf_hash, verify_inclusion

__all__ = [
    "CERTIFICATE_FORMAT",
    "CertificateCheck",
    "ProofError",
    "TreeHead",
    "TreeHeadSigner",
    "canonical_json",
    "check_certificate",
    "deadline_state",
    "event_commitment",
    "event_opening_problem",
    "key_fingerprint",
    "load_public_key",
    "parse_receipt",
    "public_key_pem",
    "read_json",
    "receipt_commitment",
    "receipt_leaf_hash",
    "tree_head_message",
    "verify_receipt_commitment",
]

CERTIFICATE_FORMAT = "lethe-erasure-certificate/1"
EVENT_SALT_BYTES = 16  # the least a salt may be; Lethe draws this many
_COMMITMENT_PREFIX = b"lethe receipt v1\x00"


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


# -- keys, tree heads, commitments ------------------------------------------------------------


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or base64 of its 32 raw bytes."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ProofError("not an Ed25519 public key (expected PEM or base64)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProofError("the public key is not an Ed25519 key")
    return key


def tree_head_message(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    """The bytes a tree head signature covers: RFC 6962 §3.5 TreeHeadSignature."""
    if len(root_hash) != 32:
        raise ProofError("a root hash is 32 bytes")
    return struct.pack(">BBQQ", 0, 1, timestamp_ms, tree_size) + root_hash


def receipt_commitment(leaf_index: int, leaf: bytes) -> bytes:
    return _COMMITMENT_PREFIX + struct.pack(">Q", leaf_index) + leaf


def _iso_ms(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class TreeHead:
    """A signed statement: the log had ``tree_size`` receipts and this root at this time."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    signature: bytes
    key_fingerprint: str

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        if key_fingerprint(public_key) != self.key_fingerprint:
            return False
        try:
            public_key.verify(
                self.signature, tree_head_message(self.tree_size, self.root_hash, self.timestamp_ms)
            )
        except InvalidSignature:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "timestamp": _iso_ms(self.timestamp_ms),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_fingerprint": self.key_fingerprint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TreeHead:
        try:
            head = cls(
                tree_size=_int(d["tree_size"]),
                root_hash=bytes.fromhex(d["root_hash"]),
                timestamp_ms=_int(d["timestamp_ms"]),
                signature=base64.b64decode(d["signature"], validate=True),
                key_fingerprint=str(d["key_fingerprint"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProofError(f"unreadable tree head ({type(exc).__name__}: {exc})") from None
        if len(head.root_hash) != 32 or head.tree_size < 0 or head.timestamp_ms < 0:
            raise ProofError("unreadable tree head (bad root hash, size or timestamp)")
        if "timestamp" in d and d["timestamp"] != _iso_ms(head.timestamp_ms):
            raise ProofError("the tree head's readable timestamp disagrees with timestamp_ms")
        return head


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, not {type(value).__name__}")
    return value


class TreeHeadSigner:
    """The log's private key: signs tree heads and receipt commitments."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.fingerprint = key_fingerprint(self.public_key)

    def __repr__(self) -> str:
        return f"TreeHeadSigner(fingerprint={self.fingerprint[:16]}…)"

    def sign_head(self, tree_size: int, root_hash: bytes, timestamp_ms: int) -> TreeHead:
        signature = self._key.sign(tree_head_message(tree_size, root_hash, timestamp_ms))
        return TreeHead(tree_size, root_hash, timestamp_ms, signature, self.fingerprint)

    def commit_receipt(self, leaf_index: int, leaf: bytes) -> bytes:
        return self._key.sign(receipt_commitment(leaf_index, leaf))


def verify_receipt_commitment(
    public_key: Ed25519PublicKey, leaf_index: int, leaf: bytes, signature: bytes
) -> bool:
    try:
        public_key.verify(signature, receipt_commitment(leaf_index, leaf))
    except InvalidSignature:
        return False
    return True


# -- certificates -----------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deadline_state(due_at: Any, completed_at: Any) -> str:
    """``met`` if answered by the due date, ``missed`` if answered later, ``open`` if not yet."""
    due, done = _parse_time(due_at), _parse_time(completed_at)
    if done is None or due is None:
        return "open"
    return "met" if done <= due else "missed"


#: Fields of a request summary that must equal its sealed request receipt.
SUMMARY_FIELDS = (
    "request_id",
    "jurisdiction",
    "channel",
    "systems",
    "status",
    "received_at",
    "due_at",
    "completed_at",
)


@dataclass
class CertificateCheck:
    """What checking a certificate found. ``ok`` only if ``problems`` is empty."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    request_id: str | None = None
    tree_size: int | None = None
    signed_at: str | None = None  # when the log signed the head: what the certificate dates
    receipts: int = 0
    events: int = 0  # of the receipts, those of the request's events

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "request_id": self.request_id,
            "tree_size": self.tree_size,
            "signed_at": self.signed_at,
            "receipts": self.receipts,
            "events": self.events,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def check_certificate(
    cert: Mapping[str, Any], public_key: Ed25519PublicKey | None
) -> CertificateCheck:
    """Check a certificate of erasure against the log's public key, with nothing else.

    Every receipt must hash to a leaf whose inclusion proof leads to the signed root; the
    request summary must be what the sealed request receipt says; each event is sealed once,
    and its opening (who, what detail) beside its receipt opens the receipt's commitment.
    Without a key (``None``) only the proofs are checked, and the missing signature check is
    a problem.
    """
    check = CertificateCheck()
    problems = check.problems
    if cert.get("format") != CERTIFICATE_FORMAT:
        problems.append(f"not a Lethe certificate of erasure (format {cert.get('format')!r})")
        return check
    try:
        head = TreeHead.from_dict(cert["tree_head"])
    except (KeyError, TypeError, ProofError) as exc:
        problems.append(f"tree head: {exc}")
        return check
    check.tree_size = head.tree_size
    check.signed_at = _iso_ms(head.timestamp_ms)
    if cert.get("public_key_fingerprint") != head.key_fingerprint:
        problems.append("the certificate's key fingerprint differs from its tree head's")
    if public_key is None:
        problems.append("no public key given: the tree head's signature was not checked")
    elif key_fingerprint(public_key) != head.key_fingerprint:
        problems.append(
            f"the tree head was signed by key {head.key_fingerprint[:16]}…, "
            f"not by the given key {key_fingerprint(public_key)[:16]}…"
        )
    elif not head.verify(public_key):
        problems.append("the tree head's signature does not verify: the head was altered")

    summary = cert.get("request")
    entries = cert.get("receipts")
    if not isinstance(summary, Mapping) or not isinstance(entries, Sequence) or not entries:
        problems.append("the certificate has no request summary or no receipts")
        return check
    check.request_id = str(summary.get("request_id"))
    seen: set[int] = set()
    request_receipts: list[tuple[int, Mapping[str, Any]]] = []
    systems_with_receipts: set[str] = set()
    events: set[Any] = set()
    for n, entry in enumerate(entries):
        where = f"receipt #{n + 1}"
        try:
            index = _int(entry["leaf_index"])
            receipt = entry["receipt"]
            if not isinstance(receipt, Mapping):
                raise TypeError("a receipt is a JSON object")
            proof = [bytes.fromhex(p) for p in entry["inclusion_proof"]]
            leaf = receipt_leaf_hash(receipt)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{where}: unreadable ({type(exc).__name__}: {exc})")
            continue
        where = f"receipt at leaf {index}"
        if index in seen:
            problems.append(f"{where}: appears twice")
        seen.add(index)
        if not verify_inclusion(leaf, index, head.tree_size, proof, head.root_hash):
            problems.append(f"{where}: not in the signed tree (edited, or a wrong proof)")
            continue
        check.receipts += 1
        if receipt.get("request_id") != check.request_id:
            problems.append(f"{where}: belongs to request {receipt.get('request_id')!r}")
        if receipt.get("kind") == "request_status":
            request_receipts.append((index, receipt))
        elif receipt.get("kind") == "system_outcome":
            systems_with_receipts.add(str(receipt.get("system")))
        elif receipt.get("kind") == "request_event":
            # Sealed once each: two receipts of one event would be two versions of it.
            event_id = receipt.get("event_id")
            if event_id in events:
                problems.append(f"{where}: event {event_id!r} is sealed twice")
            events.add(event_id)
            check.events += 1
            if "opening" not in entry:
                check.notes.append(
                    f"{where}: who and why of event {event_id!r} are not in this certificate "
                    "(its receipt proves only that it happened, when and what kind)"
                )
            else:
                wrong = event_opening_problem(receipt.get("commitment"), entry["opening"])
                if wrong:
                    problems.append(f"{where}: {wrong} (edited)")
        else:
            problems.append(f"{where}: unknown receipt kind {receipt.get('kind')!r}")

    if not request_receipts:
        problems.append("no sealed request receipt: the request summary is not proven")
        return check
    _, latest = max(request_receipts, key=lambda r: r[0])
    for name in SUMMARY_FIELDS:
        if summary.get(name) != latest.get(name):
            problems.append(f"request summary: {name} is not what the sealed receipt says")
    if summary.get("deadline") != deadline_state(latest.get("due_at"), latest.get("completed_at")):
        problems.append("request summary: the deadline verdict does not follow from its dates")
    refused = latest.get("status") in REFUSALS  # no system was asked
    for system in latest.get("systems") or []:
        if system in systems_with_receipts or refused:
            continue
        if latest.get("status") == RequestStatus.COMPLETED:
            # Completed means every system ended erased or not found, each sealed with the
            # request: a certificate without that receipt leaves out what the system did.
            problems.append(
                f"no receipt for system {system!r} although the request is completed: "
                "the certificate leaves out what that system did"
            )
        else:
            check.notes.append(
                f"no receipt for system {system!r} in this certificate: still unfinished when "
                "the request was sealed, or left out (`lethe audit verify --log` with this "
                "certificate tells which)"
            )
    return check
