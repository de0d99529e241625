"""The log's key at work: key fingerprints, signed tree heads and signed receipt commitments.
No database, no clock.

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
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import ProofError

__all__ = [
    "TreeHead",
    "TreeHeadSigner",
    "key_fingerprint",
    "load_public_key",
    "public_key_pem",
    "receipt_commitment",
    "tree_head_message",
    "verify_receipt_commitment",
]

_COMMITMENT_PREFIX = b"lethe receipt v1\x00"


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
