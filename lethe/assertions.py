"""Portal assertions: how a privacy portal that already authenticated a person says so.

The portal signs a short-lived token (a JWT, RFC 7519, signed with Ed25519: ``alg`` EdDSA,
RFC 8037) and hands it to ``lethe submit --assertion``. Lethe trusts only the public keys in
``[verification] portal_public_keys`` and checks, before anything is written:

    signature   Ed25519 over ``header.payload`` with a trusted key (``kid`` picks it)
    aud         this Lethe's audience (``[verification] portal_audience``)
    iat / exp   issued at most ``assertion_max_lifetime_seconds`` before expiry, not in the
                future, not expired (60 s of clock skew allowed)
    sub         ``s256:`` + base64url(SHA-256(jti + NUL + normalised email)): binds the token to
                the person the request is about, without the email in the token (shell
                histories, logs); the nonce salts it, so two tokens are not linkable
    jti         a nonce, used once: the ledger refuses a second request with the same one
    amr         how the portal authenticated the person (e.g. ["pwd"]), kept as evidence

The ledger keeps the claims an auditor needs (issuer, key id, nonce, times, methods), never
``sub``. ``mint_assertion`` is the portal's side, for tests and for portals written in Python.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import ConfigError, LetheError
from .jwks import KeySet

__all__ = [
    "AssertionRejected",
    "PortalAssertion",
    "dev_portal_key",
    "key_id",
    "mint_assertion",
    "public_key_text",
    "read_public_keys",
    "subject_digest",
    "verify_assertion",
]

_SKEW = timedelta(seconds=60)
_MAX_TOKEN = 4096


class AssertionRejected(LetheError):
    """The portal assertion does not prove what it should; nothing was written."""


@dataclass(frozen=True)
class PortalAssertion:
    """What a verified assertion vouches for: the evidence the ledger keeps (no ``sub``)."""

    issuer: str
    key_id: str
    nonce: str
    issued_at: datetime
    expires_at: datetime
    methods: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the ``kid`` a portal puts in its tokens."""
    return hashlib.sha256(b"lethe/portal-key\x00" + _raw(public)).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The form ``portal_public_keys`` takes: base64 of the 32 raw key bytes."""
    return base64.b64encode(_raw(public)).decode()


def read_public_keys(texts: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Trusted portal keys by key id, from their base64 text; ConfigError if one is bad."""
    keys: dict[str, Ed25519PublicKey] = {}
    for text in texts:
        try:
            raw = base64.b64decode(text.strip(), altchars=b"-_", validate=True)
            public = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise ConfigError("a portal public key is not base64 of 32 Ed25519 key bytes") from None
        keys[key_id(public)] = public
    return keys


def subject_digest(nonce: str, normalised_email: str) -> str:
    """The ``sub`` claim: the person, salted by the token's nonce, without the address."""
    digest = hashlib.sha256(nonce.encode() + b"\x00" + normalised_email.encode()).digest()
    return "s256:" + _b64(digest)


def mint_assertion(
    private_key: Ed25519PrivateKey,
    normalised_email: str,
    *,
    audience: str,
    issuer: str = "privacy-portal",
    lifetime: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
    nonce: str | None = None,
    methods: Sequence[str] = ("pwd",),
    kid: str | None = None,
) -> str:
    """A signed assertion that the portal authenticated the owner of ``normalised_email``.

    ``kid``: the key's name in the portal's published key set (default: ``key_id``)."""
    now = now or datetime.now(UTC)
    nonce = nonce or secrets.token_urlsafe(18)
    header = {"alg": "EdDSA", "typ": "JWT", "kid": kid or key_id(private_key.public_key())}
    claims = {
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": nonce,
        "sub": subject_digest(nonce, normalised_email),
        "amr": list(methods),
    }
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return signing_input + "." + _b64(private_key.sign(signing_input.encode()))


def _decode_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(text))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AssertionRejected(f"the assertion's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise AssertionRejected(f"the assertion's {what} is not a JSON object")
    return value


def _number(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AssertionRejected(f"the assertion has no numeric {name!r} claim")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise AssertionRejected(f"the assertion's {name!r} claim is out of range") from None


def verify_assertion(
    token: str,
    *,
    normalised_email: str,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    audience: str,
    max_lifetime: timedelta,
    now: datetime | None = None,
    key_set: KeySet | None = None,
) -> PortalAssertion:
    """Check signature, audience, freshness and subject binding; AssertionRejected if not.

    ``key_set``: the portal's published keys (``portal_jwks_url``), looked up by ``kid`` when
    ``trusted_keys`` has no key of that name; UnreachableError if it cannot be fetched.
    Single use is the ledger's part: it refuses a nonce it has seen (see ``ledger``).
    """
    now = now or datetime.now(UTC)
    token = token.strip()
    if not trusted_keys and key_set is None:
        raise AssertionRejected(
            "no portal public key is trusted: set [verification] portal_public_keys"
            " or portal_jwks_url"
        )
    if len(token) > _MAX_TOKEN or token.count(".") != 2:
        raise AssertionRejected("the assertion is not a compact signed token (header.payload.sig)")
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = _decode_part(header_b64, "header")
    if header.get("alg") != "EdDSA":
        raise AssertionRejected(f"assertion algorithm {header.get('alg')!r} refused: only EdDSA")
    kid = header.get("kid")
    candidates: list[Ed25519PublicKey]
    if isinstance(kid, str) and kid in trusted_keys:
        candidates = [trusted_keys[kid]]
    elif kid is not None and key_set is not None:
        if not isinstance(kid, str) or len(kid) > 200:
            raise AssertionRejected("the assertion's key id (kid) is not a short string")
        published, refreshed = key_set.key(kid)
        if not isinstance(published, Ed25519PublicKey):
            again = (
                "fetched afresh"
                if refreshed
                else f"fetched less than {key_set.min_refresh:g} s ago"
            )
            raise AssertionRejected(
                f"the assertion is signed with key {kid!r}, which the portal's key set at"
                f" {key_set.url} does not publish ({again})"
            )
        candidates = [published]
    elif kid is not None:
        raise AssertionRejected(f"the assertion is signed with an untrusted key {kid!r}")
    elif not trusted_keys:
        raise AssertionRejected("the assertion names no key (kid): the portal's key set needs it")
    else:
        candidates = list(trusted_keys.values())
    try:
        signature = _unb64(signature_b64)
    except (binascii.Error, ValueError):
        raise AssertionRejected("the assertion's signature is not base64url") from None
    signed = f"{header_b64}.{claims_b64}".encode()
    signer: Ed25519PublicKey | None = None
    for public in candidates:
        try:
            public.verify(signature, signed)
        except InvalidSignature:
            continue
        signer = public
        break
    if signer is None:
        raise AssertionRejected("the assertion's signature does not verify")

    claims = _decode_part(claims_b64, "claims")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise AssertionRejected(f"the assertion is for audience {aud!r}, not {audience!r}")
    issued_at, expires_at = _number(claims, "iat"), _number(claims, "exp")
    if expires_at <= issued_at or expires_at - issued_at > max_lifetime:
        raise AssertionRejected(
            "the assertion lives longer than the "
            f"{int(max_lifetime.total_seconds())} s allowed (or expires before it is issued)"
        )
    if issued_at > now + _SKEW:
        raise AssertionRejected("the assertion is issued in the future: check the portal's clock")
    if now > expires_at + _SKEW:
        raise AssertionRejected(f"the assertion expired at {expires_at:%Y-%m-%d %H:%M:%S} UTC")
    nonce, issuer, sub = claims.get("jti"), claims.get("iss"), claims.get("sub")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 128:
        raise AssertionRejected("the assertion needs a nonce (jti) of 16 to 128 characters")
    if not isinstance(issuer, str) or not issuer.strip() or len(issuer) > 100:
        raise AssertionRejected("the assertion needs an issuer (iss)")
    expected = subject_digest(nonce, normalised_email)
    if not isinstance(sub, str) or not hmac.compare_digest(sub.encode(), expected.encode()):
        raise AssertionRejected("the assertion is about someone else than this request's subject")
    amr = claims.get("amr", [])
    methods = tuple(str(m)[:32] for m in amr[:8]) if isinstance(amr, list) else ()
    return PortalAssertion(
        issuer=issuer.strip(),
        key_id=key_id(signer),
        nonce=nonce,
        issued_at=issued_at,
        expires_at=expires_at,
        methods=methods,
    )


def dev_portal_key(home: Path) -> Ed25519PrivateKey:
    """A development portal's signing key under ``<home>/keys/portal-dev.key`` (made once).

    For ``lethe dev-assertion`` and tests only: a real portal keeps its own private key, and
    Lethe only ever sees the public half.
    """
    path = home / "keys" / "portal-dev.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{path} is not a base64 Ed25519 private key") from None
