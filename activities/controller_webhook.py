"""The referral notice a controller receives: an HMAC-signed HTTP POST (OpenDSR-flavoured JSON).

The contract (what a controller implements) is ``docs/controller-webhook.md``; in short:

    POST <webhook_url>                      Content-Type: application/json
    X-Lethe-Delivery:  <request id>/<system>/<round>    same on every retry: deduplicate on it
    X-Lethe-Timestamp: <unix seconds>
    X-Lethe-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

    2xx                   accepted
    408, 429, 5xx, no answer, connection refused: retried with backoff, then escalated
    any other status      refused: escalated to an operator at once (no retry)

The body names the request (``subject_request_id``) and the subject by pseudonym only. An
identifier such as the email address is included only for a controller whose configuration
lists it in ``disclose`` — decide that from the contract with the controller (it submitted the
data, so it normally holds the address already).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ControllerEndpoint",
    "DeliveryError",
    "build_notice",
    "deliver",
    "encode_notice",
    "post_signed",
    "sign",
]

SIGNATURE_HEADER = "X-Lethe-Signature"
TIMESTAMP_HEADER = "X-Lethe-Timestamp"
DELIVERY_HEADER = "X-Lethe-Delivery"
NOTICE_VERSION = "lethe-referral/1"
_RETRIED_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, repr=False)
class ControllerEndpoint:
    """Where and how to tell one controller. ``secret`` is the shared HMAC key."""

    name: str
    webhook_url: str
    secret: bytes
    answer_within_days: float = 14.0
    disclose: tuple[str, ...] = ()
    status_callback: str | None = None

    def __repr__(self) -> str:
        return f"ControllerEndpoint(name={self.name!r}, url=<hidden>, secret=<hidden>)"


class DeliveryError(Exception):
    """The controller did not accept the notice. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Lethe-Signature`` value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def build_notice(
    *,
    request_id: str,
    regulation: str,
    received_at: datetime,
    expected_completion: datetime,
    controller: str,
    system: str,
    round_: int,
    subject_ref: str,
    disclosed: Mapping[str, str],
    status_callback: str | None,
    sent_at: datetime,
) -> dict[str, Any]:
    identities = [
        {
            "identity_type": "lethe_pseudonym",
            "identity_value": subject_ref,
            "identity_format": "raw",
        }
    ]
    identities += [
        {"identity_type": kind, "identity_value": value, "identity_format": "raw"}
        for kind, value in sorted(disclosed.items())
    ]
    return {
        "api_version": NOTICE_VERSION,
        "subject_request_id": request_id,
        "subject_request_type": "erasure",
        "regulation": regulation,
        "submitted_time": received_at.isoformat(),
        "expected_completion_time": expected_completion.isoformat(),
        "status_callback": status_callback,
        "controller": controller,
        "processor_system": system,
        "round": round_,
        "subject_identities": identities,
        "sent_time": sent_at.isoformat(),
    }


def encode_notice(notice: Mapping[str, Any]) -> bytes:
    return json.dumps(notice, sort_keys=True, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as a refusal: a signed notice goes where it was configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float, who: str) -> int:
    if urlsplit(url).scheme not in {"http", "https"}:
        raise DeliveryError("the webhook URL must be http or https", permanent=True)
    opener = urllib.request.build_opener(_NoRedirects())
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with opener.open(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(
            f"{who} unreachable: {type(reason).__name__}", permanent=False
        ) from None


async def post_signed(
    url: str,
    secret: bytes,
    payload: Mapping[str, Any],
    *,
    delivery_id: str,
    user_agent: str,
    who: str = "webhook",
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> int:
    """POST ``payload`` as JSON, signed with ``secret`` (the scheme above); the HTTP status if
    the receiver accepted it (2xx), else :class:`DeliveryError`. ``who`` names the receiver
    in the error's text. The controller's notice and the operators' alerts both go this way."""
    body = encode_notice(payload)
    timestamp = int(clock())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    status = await asyncio.to_thread(_post, url, body, headers, timeout, who)
    if 200 <= status < 300:
        return status
    permanent = not (status in _RETRIED_STATUSES or status >= 500)
    raise DeliveryError(f"{who} answered HTTP {status}", permanent=permanent, status=status)


async def deliver(
    endpoint: ControllerEndpoint,
    notice: Mapping[str, Any],
    *,
    delivery_id: str,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> int:
    """POST the signed notice; the HTTP status if the controller accepted it (2xx)."""
    return await post_signed(
        endpoint.webhook_url,
        endpoint.secret,
        notice,
        delivery_id=delivery_id,
        user_agent="lethe-referral/1",
        who=f"controller {endpoint.name!r}",
        timeout=timeout,
        clock=clock,
    )
