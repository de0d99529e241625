"""Encrypts every Temporal payload (inputs, results, signals, failure details) with AES-GCM,
and refuses every payload that is not encrypted under this deployment's payload key.

Workflow inputs carry no identifiers by design; this is the second layer, for whatever a
mistake lets through. Workflow IDs and search attributes bypass codecs: keep them clean.

It is also what makes the payload key an authority: whoever reaches the Temporal frontend
without the key (``temporal workflow signal … --input '{…}'``) must not steer a request. A
payload that does not decrypt under the key (sent in plain JSON, encrypted under another key,
or forged) is not an error of the codec, which would fail the workflow *task* and retry it for
ever (one bad signal would wedge the request). The codec hands the SDK a small marker payload
instead (:data:`REFUSED_ENCODING`, the reason in its metadata), and :class:`PayloadConverter`
raises a non-retryable :class:`~temporalio.exceptions.ApplicationError` of type
:data:`PAYLOAD_REFUSED` when anything tries to read it. What the SDK does with that error:

    workflow start   the workflow fails at once, with the reason
    update           rejected before its validator runs; the caller gets the reason
    signal           our signal handlers read their argument themselves and record the refusal
                     (``workflows/refusals.py``); a handler that did not would have the SDK
                     drop the signal with a line in the worker's log
    activity input   the activity fails, not retried

:class:`FailureConverter` keeps the refusal readable by the refused caller (who has no key
to decrypt it); every other failure's message and stack trace are encrypted as before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    CompositePayloadConverter,
    DefaultFailureConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    PayloadCodec,
)
from temporalio.converter import PayloadConverter as _PayloadConverter
from temporalio.exceptions import ApplicationError

from ledger.vault import key_id_of

__all__ = [
    "ENCODING",
    "PAYLOAD_REFUSED",
    "REFUSED_ENCODING",
    "EncryptionCodec",
    "FailureConverter",
    "PayloadConverter",
    "refusal_of",
]

ENCODING = b"binary/encrypted"
#: What the codec hands the SDK instead of a payload it refuses (never sent anywhere).
REFUSED_ENCODING = b"binary/lethe-refused"
#: The ApplicationError type of a refusal (``workflows/refusals.py`` knows it by this name).
PAYLOAD_REFUSED = "PayloadRefused"
_REASON = "lethe-refused-reason"

log = structlog.get_logger("lethe.codec")


def refusal_of(reason: str) -> ApplicationError:
    """The error a refused payload raises where it is read."""
    return ApplicationError(
        f"refused: the payload {reason}; only a holder of this deployment's payload key can"
        " start, signal or update a request, and nothing was changed",
        type=PAYLOAD_REFUSED,
        non_retryable=True,
    )


def _refused(reason: str) -> Payload:
    return Payload(metadata={"encoding": REFUSED_ENCODING, _REASON: reason.encode()})


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
        """Each payload decrypted, or a refusal marker in its place (never an exception)."""
        out = []
        for p in payloads:
            opened = self._open(p)
            if isinstance(opened, str):
                log.warning("payload.refused", reason=opened)
                opened = _refused(opened)
            out.append(opened)
        return out

    def _open(self, p: Payload) -> Payload | str:
        """The payload inside ``p``, or why there is none."""
        if p.metadata.get("encoding", b"") != ENCODING:
            return "is not encrypted"
        key_id = p.metadata.get("encryption-key-id", b"").decode(errors="replace")
        if key_id != self.key_id:
            return (
                f"is encrypted under payload key {key_id[:16]!r}, not this deployment's"
                f" ({self.key_id})"
            )
        if len(p.data) < 12 + 16:
            return "does not authenticate under the payload key"
        try:
            plain = self._aead.decrypt(p.data[:12], p.data[12:], None)
            return Payload.FromString(plain)
        except InvalidTag:
            return "does not authenticate under the payload key"
        except DecodeError:
            return "decrypts to something that is not a payload"


class _RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the codec's marker: always raises the refusal. Never writes anything."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise refusal_of(payload.metadata.get(_REASON, b"was refused").decode(errors="replace"))


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default converter, plus the refusal marker (which it cannot read)."""

    def __init__(self) -> None:
        super().__init__(
            _RefusedPayloadConverter(),
            *DefaultPayloadConverter.default_encoding_payload_converters,
        )


_PLAIN_FAILURES = DefaultFailureConverter()


class FailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go into an encrypted payload, except a refusal's:
    whoever was refused has no key, and the refusal names nothing but the reason."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)

    def to_failure(
        self, exception: BaseException, payload_converter: _PayloadConverter, failure: Failure
    ) -> None:
        if isinstance(exception, ApplicationError) and exception.type == PAYLOAD_REFUSED:
            _PLAIN_FAILURES.to_failure(exception, payload_converter, failure)
            failure.stack_trace = ""
            return
        super().to_failure(exception, payload_converter, failure)
