"""Encrypts every Temporal payload (inputs, results, signals, failure details) with AES-GCM.

Workflow inputs carry no identifiers by design; this is the second layer, for whatever a
mistake lets through. Workflow IDs and search attributes bypass codecs: keep them clean.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ledger.vault import key_id_of

__all__ = ["ENCODING", "EncryptionCodec"]

ENCODING = b"binary/encrypted"


class EncryptionCodec(PayloadCodec):
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.key_id = key_id_of(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, p.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self.key_id.encode()},
                    data=sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCODING:
                out.append(p)  # written before encryption was on
                continue
            key_id = p.metadata.get("encryption-key-id", b"").decode()
            if key_id != self.key_id:
                raise ValueError(
                    f"payload encrypted with key {key_id}, this worker has {self.key_id}"
                )
            try:
                plain = self._aead.decrypt(p.data[:12], p.data[12:], None)
            except InvalidTag:
                raise ValueError("payload does not authenticate under the payload key") from None
            out.append(Payload.FromString(plain))
        return out
