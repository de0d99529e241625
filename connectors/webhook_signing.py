"""Standard Webhooks signatures (https://www.standardwebhooks.com/), both ways.

Lethe signs the erasure requests it sends a processor (the ``webhook`` connector), and checks
the status callbacks a processor sends back (``POST /v1/callbacks/webhook/{system}`` on
``lethe serve``), the same way, so either side verifies with an off-the-shelf library::

    webhook-id:        a unique id of the message (the same on a retry of it)
    webhook-timestamp: unix seconds when it was sent
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>

The key is the shared secret: ``whsec_<base64 key>`` (the prefix dropped, the rest
base64-decoded). Several space-separated ``v1,…`` entries may be given (a secret being
rotated); one match suffices. A timestamp more than :data:`TOLERANCE` away from now is
refused, so is a message id seen before (the caller keeps those: :func:`verify` checks what a
signature alone can).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "SignatureRefused",
    "new_secret",
    "secret_key",
    "sign",
    "signed_headers",
    "verify",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: How far a message's timestamp may be from now, either way.
TOLERANCE = timedelta(minutes=5)
_PREFIX = "whsec_"


class SignatureRefused(ValueError):
    """A message that is not what it claims. ``reason`` is one of ``missing_header``,
    ``bad_timestamp``, ``old_timestamp``, ``bad_signature`` (never anything of the body)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret. ``ValueError`` if it is not one."""
    if not secret.startswith(_PREFIX):
        raise ValueError("a webhook secret starts with whsec_ (Standard Webhooks)")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if len(key) < 24:
        raise ValueError("a webhook secret needs at least 24 bytes of key (192 bits)")
    return key


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes)."""
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of a message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(
    secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers for a message sent now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, msg_id, ts, body),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str:
    """The message id of an authentic, fresh message; :class:`SignatureRefused` otherwise.
    ``headers`` are matched case-insensitively. Replays are the caller's to refuse."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get(ID_HEADER, "").strip()
    stamp = lower.get(TIMESTAMP_HEADER, "").strip()
    given = lower.get(SIGNATURE_HEADER, "").strip()
    for name, value in ((ID_HEADER, msg_id), (TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, given)):
        if not value:
            raise SignatureRefused("missing_header", f"the {name} header is missing")
    if len(msg_id) > 200:
        raise SignatureRefused("missing_header", "the webhook-id header is too long")
    try:
        ts = int(stamp)
    except ValueError:
        raise SignatureRefused("bad_timestamp", "webhook-timestamp is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - ts) > TOLERANCE.total_seconds():
        raise SignatureRefused("old_timestamp", "webhook-timestamp is more than 5 minutes from now")
    expected = sign(secret, msg_id, ts, body).encode()
    for entry in given.split():
        if hmac.compare_digest(entry.encode(), expected):
            return msg_id
    raise SignatureRefused("bad_signature", "the webhook-signature does not match")
