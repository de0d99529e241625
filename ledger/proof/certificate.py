"""The check of a certificate of erasure, with the log's public key and nothing else.

A certificate (``lethe audit certificate``) carries a request's receipts, each with its
inclusion proof in a signed tree head, the head itself, the request summary its newest request
receipt proves, and beside each event receipt the opening of its commitment (who, what
detail). :func:`check_certificate` checks all of it offline: no database, no clock, no
Temporal. The bytes it hashes are ``ledger.proof.canonical``'s, the tree is
``ledger.proof.merkle``'s, the head's signature ``ledger.proof.signing``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vocabulary import REFUSALS, RequestStatus

from .canonical import ProofError, event_opening_problem, receipt_leaf_hash
from .merkle import verify_inclusion
from .signing import TreeHead, _int, _iso_ms, key_fingerprint

__all__ = [
    "CERTIFICATE_FORMAT",
    "SUMMARY_FIELDS",
    "CertificateCheck",
    "check_certificate",
    "deadline_state",
]

CERTIFICATE_FORMAT = "lethe-erasure-certificate/1"


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

    The steps, in the order their problems are listed: the signed head
    (:func:`_signed_head`), each receipt against it (:func:`_check_receipt`), the summary
    against the newest request receipt (:func:`_check_summary`), and every system of the
    request against the receipts present (:func:`_check_systems`).
    """
    check = CertificateCheck()
    head = _signed_head(cert, public_key, check)
    if head is None:
        return check
    summary = cert.get("request")
    entries = cert.get("receipts")
    if not isinstance(summary, Mapping) or not isinstance(entries, Sequence) or not entries:
        check.problems.append("the certificate has no request summary or no receipts")
        return check
    check.request_id = str(summary.get("request_id"))
    found = _Found()
    for n, entry in enumerate(entries):
        _check_receipt(n, entry, head, check, found)
    if not found.request_receipts:
        check.problems.append("no sealed request receipt: the request summary is not proven")
        return check
    _, latest = max(found.request_receipts, key=lambda r: r[0])
    _check_summary(summary, latest, check)
    _check_systems(latest, found.systems, check)
    return check


@dataclass
class _Found:
    """What the receipts of a certificate held, as they are checked."""

    indices: set[int] = field(default_factory=set)
    request_receipts: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    systems: set[str] = field(default_factory=set)  # those with a system_outcome receipt
    events: set[Any] = field(default_factory=set)  # the event ids of request_event receipts


def _signed_head(
    cert: Mapping[str, Any], public_key: Ed25519PublicKey | None, check: CertificateCheck
) -> TreeHead | None:
    """The certificate's tree head, with what is wrong with its key or signature noted; None
    when it is not a certificate or its head cannot be read (nothing to check against)."""
    problems = check.problems
    if cert.get("format") != CERTIFICATE_FORMAT:
        problems.append(f"not a Lethe certificate of erasure (format {cert.get('format')!r})")
        return None
    try:
        head = TreeHead.from_dict(cert["tree_head"])
    except (KeyError, TypeError, ProofError) as exc:
        problems.append(f"tree head: {exc}")
        return None
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
    return head


def _check_receipt(
    n: int, entry: Any, head: TreeHead, check: CertificateCheck, found: _Found
) -> None:
    """The ``n``-th receipt: readable, once, in the signed tree, of this request; then what its
    kind obliges (:func:`_note_kind`)."""
    problems = check.problems
    try:
        index = _int(entry["leaf_index"])
        receipt = entry["receipt"]
        if not isinstance(receipt, Mapping):
            raise TypeError("a receipt is a JSON object")
        proof = [bytes.fromhex(p) for p in entry["inclusion_proof"]]
        leaf = receipt_leaf_hash(receipt)
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"receipt #{n + 1}: unreadable ({type(exc).__name__}: {exc})")
        return
    where = f"receipt at leaf {index}"
    if index in found.indices:
        problems.append(f"{where}: appears twice")
    found.indices.add(index)
    if not verify_inclusion(leaf, index, head.tree_size, proof, head.root_hash):
        problems.append(f"{where}: not in the signed tree (edited, or a wrong proof)")
        return
    check.receipts += 1
    if receipt.get("request_id") != check.request_id:
        problems.append(f"{where}: belongs to request {receipt.get('request_id')!r}")
    _note_kind(where, index, entry, receipt, check, found)


def _note_kind(
    where: str,
    index: int,
    entry: Mapping[str, Any],
    receipt: Mapping[str, Any],
    check: CertificateCheck,
    found: _Found,
) -> None:
    """Keep what a proven receipt says for the later steps; an event's opening is checked
    here, beside its receipt."""
    kind = receipt.get("kind")
    if kind == "request_status":
        found.request_receipts.append((index, receipt))
    elif kind == "system_outcome":
        found.systems.add(str(receipt.get("system")))
    elif kind == "request_event":
        _check_event(where, entry, receipt, check, found)
    else:
        check.problems.append(f"{where}: unknown receipt kind {receipt.get('kind')!r}")


def _check_event(
    where: str,
    entry: Mapping[str, Any],
    receipt: Mapping[str, Any],
    check: CertificateCheck,
    found: _Found,
) -> None:
    # Sealed once each: two receipts of one event would be two versions of it.
    event_id = receipt.get("event_id")
    if event_id in found.events:
        check.problems.append(f"{where}: event {event_id!r} is sealed twice")
    found.events.add(event_id)
    check.events += 1
    if "opening" not in entry:
        check.notes.append(
            f"{where}: who and why of event {event_id!r} are not in this certificate "
            "(its receipt proves only that it happened, when and what kind)"
        )
        return
    wrong = event_opening_problem(receipt.get("commitment"), entry["opening"])
    if wrong:
        check.problems.append(f"{where}: {wrong} (edited)")


def _check_summary(
    summary: Mapping[str, Any], latest: Mapping[str, Any], check: CertificateCheck
) -> None:
    """The request summary says what the newest sealed request receipt says."""
    for name in SUMMARY_FIELDS:
        if summary.get(name) != latest.get(name):
            check.problems.append(f"request summary: {name} is not what the sealed receipt says")
    if summary.get("deadline") != deadline_state(latest.get("due_at"), latest.get("completed_at")):
        check.problems.append(
            "request summary: the deadline verdict does not follow from its dates"
        )


def _check_systems(
    latest: Mapping[str, Any], with_receipts: set[str], check: CertificateCheck
) -> None:
    """Every system of the request has its receipt here, or the certificate says why not."""
    refused = latest.get("status") in REFUSALS  # no system was asked
    for system in latest.get("systems") or []:
        if system in with_receipts or refused:
            continue
        if latest.get("status") == RequestStatus.COMPLETED:
            # Completed means every system ended erased or not found, each sealed with the
            # request: a certificate without that receipt leaves out what the system did.
            check.problems.append(
                f"no receipt for system {system!r} although the request is completed: "
                "the certificate leaves out what that system did"
            )
        else:
            check.notes.append(
                f"no receipt for system {system!r} in this certificate: still unfinished when "
                "the request was sealed, or left out (`lethe audit verify --log` with this "
                "certificate tells which)"
            )
