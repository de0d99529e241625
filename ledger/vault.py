"""The subject vault: a request's identifiers, encrypted under a key of its own.

Each request gets a fresh 256-bit data key. The identifiers are sealed with it (AES-256-GCM,
bound to the request id); the data key is wrapped by the vault master key. Destroying the
wrapped data key (``shred``) makes the identifiers unrecoverable, also in every database
backup that holds the ciphertext: crypto-shredding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SealedSubject", "SubjectVault", "VaultError"]


class VaultError(Exception):
    """The identifiers cannot be read: shredded, or sealed under another master key."""


@dataclass(frozen=True)
class SealedSubject:
    key_id: str
    wrapped_key: bytes
    ciphertext: bytes


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(b"lethe/key-id\x00" + key).hexdigest()[:16]


class SubjectVault:
    """Seals under the current master key; opens what any key it holds sealed. ``retired``:
    master keys rotated out (``lethe keys rotate --vault``), kept to open the entries sealed
    under them until those are shredded."""

    def __init__(self, master_key: bytes, retired: Sequence[bytes] = ()) -> None:
        if len(master_key) != 32 or any(len(k) != 32 for k in retired):
            raise ValueError("the vault master key must be 32 bytes")
        self._kek = AESGCM(master_key)
        self._derivation = hmac.new(master_key, b"lethe/derive", hashlib.sha256).digest()
        self.key_id = key_id_of(master_key)
        self._keks = {key_id_of(k): AESGCM(k) for k in retired}
        self._keks[self.key_id] = self._kek
        self._derivations = [self._derivation] + [
            hmac.new(k, b"lethe/derive", hashlib.sha256).digest()
            for k in retired
            if key_id_of(k) != self.key_id
        ]

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (e.g. hashing verification codes), derived from the
        master key: one secret to keep, and no purpose's key reveals another's."""
        return hmac.new(self._derivation, purpose.encode(), hashlib.sha256).digest()

    def derive_keys(self, purpose: str) -> list[bytes]:
        """:meth:`derive_key` under the current master key, then under each retired one (to
        check what was hashed before a rotation)."""
        return [hmac.new(d, purpose.encode(), hashlib.sha256).digest() for d in self._derivations]

    def seal(self, request_id: str, identifiers: dict[str, str]) -> SealedSubject:
        dek = AESGCM.generate_key(bit_length=256)
        n1, n2 = os.urandom(12), os.urandom(12)
        plaintext = json.dumps(identifiers, sort_keys=True).encode()
        ciphertext = n1 + AESGCM(dek).encrypt(n1, plaintext, f"subject:{request_id}".encode())
        wrapped = n2 + self._kek.encrypt(n2, dek, f"dek:{request_id}".encode())
        return SealedSubject(self.key_id, wrapped, ciphertext)

    def rewrap(self, request_id: str, key_id: str, wrapped_key: bytes) -> bytes:
        """The entry's data key, unwrapped by the (retired) key ``key_id`` and wrapped again
        under the current one: the ciphertext stays as it is, and the retired key is no
        longer needed to open it (``lethe keys rotate --rewrap``)."""
        kek = self._keks.get(key_id)
        if kek is None:
            raise VaultError(
                f"{request_id} was sealed under vault key {key_id}, not {self.key_id}"
                " (nor a retired key this deployment holds)"
            )
        try:
            dek = kek.decrypt(wrapped_key[:12], wrapped_key[12:], f"dek:{request_id}".encode())
        except InvalidTag:
            raise VaultError(f"the vault entry of {request_id} does not authenticate") from None
        nonce = os.urandom(12)
        return nonce + self._kek.encrypt(nonce, dek, f"dek:{request_id}".encode())

    def open(
        self, request_id: str, key_id: str, wrapped_key: bytes | None, ciphertext: bytes | None
    ) -> dict[str, str]:
        if wrapped_key is None or ciphertext is None:
            raise VaultError(f"the identifiers of {request_id} were shredded")
        kek = self._keks.get(key_id)
        if kek is None:
            raise VaultError(
                f"{request_id} was sealed under vault key {key_id}, not {self.key_id}"
                " (nor a retired key this deployment holds)"
            )
        try:
            dek = kek.decrypt(wrapped_key[:12], wrapped_key[12:], f"dek:{request_id}".encode())
            plain = AESGCM(dek).decrypt(
                ciphertext[:12], ciphertext[12:], f"subject:{request_id}".encode()
            )
        except InvalidTag:
            raise VaultError(f"the vault entry of {request_id} does not authenticate") from None
        data = json.loads(plain)
        assert isinstance(data, dict)
        return {str(k): str(v) for k, v in data.items()}
