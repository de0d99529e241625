"""OpenID Connect bearer tokens for ``lethe serve`` (``[oidc]``): an operator or auditor signed
in at the organisation's identity provider calls the API with its access token (a JWT) instead
of an API client's token.

The issuer's discovery document (``ISSUER/.well-known/openid-configuration``) names its key set
(``jwks_uri``); both are fetched when first needed, the keys cached and refreshed as
``lethe/jwks.py`` says. A token is accepted when it is signed (RS256, ES256 or EdDSA) by a key
of that set, its ``iss`` is the issuer, its ``aud`` names ``[oidc] audience``, it has not
expired (60 s of clock skew) and is not used before ``nbf``. Its ``scope_claim`` maps onto the
scopes ``intake``, ``operate``, ``audit``; its ``actor_claim`` (``sub``) is recorded as the
actor, ``oidc:<value>``. Nothing of the token is logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import LetheError, UnreachableError
from .jwks import ALGORITHMS, KeySet, fetch_json, verify_signature
from .settings import OidcSettings

__all__ = ["OidcPrincipal", "OidcVerifier", "TokenRefused"]

_SKEW = 60
_MAX_TOKEN = 16384
_SCOPES = ("intake", "operate", "audit")


class TokenRefused(LetheError):
    """The bearer token is not one the issuer signed for Lethe, now."""

    exit_code = 77


@dataclass(frozen=True)
class OidcPrincipal:
    client_id: str  # a stable short id (for idempotency keys): oidc- + a digest of iss and sub
    actor: str  # oidc:<actor claim>
    scopes: tuple[str, ...]


def _part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenRefused(f"the bearer token's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"the bearer token's {what} is not a JSON object")
    return value


class OidcVerifier:
    """Checks bearer tokens against one issuer; one per ``lethe serve`` process."""

    def __init__(self, settings: OidcSettings, clock: Any = time.time) -> None:
        if settings.issuer is None:
            raise ValueError("[oidc] issuer is not set")
        self.settings, self.issuer = settings, settings.issuer.rstrip("/")
        self._clock = clock
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def _key_set(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                url = self.issuer + "/.well-known/openid-configuration"
                doc = fetch_json(url, "the OIDC issuer's discovery document")
                if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != (
                    self.issuer
                ):
                    raise UnreachableError(
                        f"the OIDC discovery document at {url} is for another issuer"
                    )
                jwks_uri = doc.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith(
                    ("https://", "http://")
                ):
                    raise UnreachableError(f"the OIDC discovery document at {url} has no jwks_uri")
                self._keys = KeySet(
                    jwks_uri,
                    what="the OIDC issuer's key set",
                    max_age=self.settings.jwks_cache_seconds,
                    min_refresh=self.settings.jwks_refresh_seconds,
                )
            return self._keys

    def verify(self, token: str) -> OidcPrincipal:
        """Who the token names and what they may do; TokenRefused (one line) if it does not
        hold, UnreachableError if the issuer cannot be asked."""
        token = token.strip()
        if len(token) > _MAX_TOKEN or token.count(".") != 2:
            raise TokenRefused("the bearer token is neither an API token nor a signed JWT")
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = _part(header_b64, "header")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise TokenRefused(
                f"bearer token algorithm {alg!r} refused: use {', '.join(ALGORITHMS)}"
            )
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise TokenRefused("the bearer token names no key (kid)")
        keys = self._key_set()
        public, _ = keys.key(kid)
        if public is None:
            raise TokenRefused(f"the bearer token is signed with key {kid!r}, not the issuer's")
        try:
            signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
        except (binascii.Error, ValueError):
            raise TokenRefused("the bearer token's signature is not base64url") from None
        if not verify_signature(str(alg), public, signature, f"{header_b64}.{claims_b64}".encode()):
            raise TokenRefused("the bearer token's signature does not verify")
        claims = _part(claims_b64, "claims")
        if str(claims.get("iss", "")).rstrip("/") != self.issuer:
            raise TokenRefused("the bearer token is from another issuer")
        aud = claims.get("aud")
        if self.settings.audience not in (aud if isinstance(aud, list) else [aud]):
            raise TokenRefused(f"the bearer token is not for audience {self.settings.audience!r}")
        now = self._clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenRefused("the bearer token has no expiry (exp)")
        if now > exp + _SKEW:
            raise TokenRefused("the bearer token has expired")
        if isinstance(nbf, int | float) and now + _SKEW < nbf:
            raise TokenRefused("the bearer token is not valid yet (nbf)")
        who = claims.get(self.settings.actor_claim)
        if not isinstance(who, str) or not who.strip() or len(who) > 200:
            raise TokenRefused(f"the bearer token has no {self.settings.actor_claim!r} claim")
        granted = claims.get(self.settings.scope_claim, [])
        values = granted.split() if isinstance(granted, str) else granted
        if not isinstance(values, list):
            values = []
        mapping = self.settings.scope_map
        scopes = tuple(
            s
            for s in _SCOPES
            if any(mapping.get(str(v), str(v) if str(v) in _SCOPES else None) == s for v in values)
        )
        digest = hashlib.sha256(f"{self.issuer}\0{claims.get('sub', who)}".encode()).hexdigest()
        return OidcPrincipal(
            client_id="oidc-" + digest[:32],
            actor=f"oidc:{who.strip()}"[:120],
            scopes=scopes,
        )
