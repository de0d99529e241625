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

import copy
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
    SerializationContext,
    WithSerializationContext,
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
_BINDING = "encryption-workflow-id"

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


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-GCM under the payload key. A payload of a request's workflow (``erasure/…``) is
    bound to that workflow's id: the id is authenticated with it (associated data) and named
    in its metadata. A ciphertext copied from one history into a signal to another workflow
    is refused there; a reader outside any workflow (a tool decoding a history) still reads
    it, under the id it names."""

    def __init__(
        self, key: bytes, *, retired: Sequence[bytes] = (), workflow_id: str | None = None
    ) -> None:
        """``key`` encrypts; it and each ``retired`` key (rotated out by ``lethe keys rotate
        --payload``) decrypt, each payload under the key its metadata names."""
        self._key = key
        self._retired = tuple(retired)
        self._aead = AESGCM(key)
        self.key_id = key_id_of(key)
        self._aeads = {key_id_of(k): AESGCM(k) for k in self._retired}
        self._aeads[self.key_id] = self._aead
        self._bound_to = workflow_id if _binds(workflow_id) else None

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """The codec for one workflow's payloads (Temporal hands each operation its context:
        the target workflow, or the workflow an activity runs for)."""
        workflow_id = getattr(context, "workflow_id", None)
        bound = workflow_id if isinstance(workflow_id, str) and _binds(workflow_id) else None
        if bound == self._bound_to:
            return self
        # The same keys, bound to another workflow: share the ciphers rather than derive them
        # again (Temporal asks for a codec per payload operation).
        codec = copy.copy(self)
        codec._bound_to = bound
        return codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            metadata = {"encoding": ENCODING, "encryption-key-id": self.key_id.encode()}
            if self._bound_to is not None:
                metadata[_BINDING] = self._bound_to.encode()
            aad = _aad(self._bound_to)
            sealed = nonce + self._aead.encrypt(nonce, p.SerializeToString(), aad)
            out.append(Payload(metadata=metadata, data=sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload decrypted, or a refusal marker in its place (never an exception)."""
        out = []
        for p in payloads:
            opened = self._open(p)
            if isinstance(opened, str):
                log.warning("payload.refused", reason=opened, workflow_id=self._bound_to)
                opened = _refused(opened)
            out.append(opened)
        return out

    def _open(self, p: Payload) -> Payload | str:
        """The payload inside ``p``, or why there is none."""
        if p.metadata.get("encoding", b"") != ENCODING:
            return "is not encrypted"
        key_id = p.metadata.get("encryption-key-id", b"").decode(errors="replace")
        aead = self._aeads.get(key_id)
        if aead is None:
            return (
                f"is encrypted under payload key {key_id[:16]!r}, not this deployment's"
                f" ({self.key_id})"
            )
        # Payloads written before binding (running workflows started by an older Lethe) are
        # read unbound; every payload written since names its workflow.
        bound = p.metadata.get(_BINDING, b"").decode(errors="replace") or None
        if bound is not None and self._bound_to is not None and bound != self._bound_to:
            return f"is bound to another workflow ({bound[:120]}): copied from its history?"
        if len(p.data) < 12 + 16:
            return "does not authenticate under the payload key"
        try:
            plain = aead.decrypt(p.data[:12], p.data[12:], _aad(bound))
            return Payload.FromString(plain)
        except InvalidTag:
            return "does not authenticate under the payload key"
        except DecodeError:
            return "decrypts to something that is not a payload"


def _aad(workflow_id: str | None) -> bytes | None:
    return None if workflow_id is None else b"lethe/workflow\x00" + workflow_id.encode()


def _binds(workflow_id: str | None) -> bool:
    """Payloads of a request's workflows are bound to them; the sweep's (started by a
    Schedule, whose workflow ids are only known as a prefix) are not."""
    return workflow_id is not None and workflow_id.startswith("erasure/")


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
