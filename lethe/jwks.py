"""Public keys published at a URL as a JSON Web Key Set (RFC 7517), and JWS signatures checked
with them: a privacy portal's keys (``[verification] portal_jwks_url``) and an OpenID
Connect issuer's (``[oidc]``).

A key set is fetched when first needed and kept ``max_age`` seconds. A token whose ``kid`` is
not in it makes one refresh, at most one every ``min_refresh`` seconds (a stream of tokens with
made-up key ids cannot make Lethe hammer the publisher); a key rotated in by the publisher is
thus picked up with the first token signed with it. If the URL cannot be fetched, the token is
refused with an ``UnreachableError`` naming the URL, before anything is written.

Keys understood: Ed25519 (``OKP``, ``EdDSA``), RSA (``RS256``) and P-256 (``ES256``); any other
key in the set is left aside. Plain ``cryptography``; no JOSE library.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import UnreachableError

__all__ = ["ALGORITHMS", "KeySet", "PublicKey", "key_set", "parse_jwks", "verify_signature"]

PublicKey = Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: The JWS algorithms accepted, and the key type each needs.
ALGORITHMS = {
    "EdDSA": Ed25519PublicKey,
    "RS256": rsa.RSAPublicKey,
    "ES256": ec.EllipticCurvePublicKey,
}

_MAX_BYTES = 512 * 1024
_TIMEOUT = 5.0


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(text: str) -> int:
    return int.from_bytes(_unb64(text), "big")


def _public_key(jwk: Mapping[str, Any]) -> PublicKey | None:
    """The key a JWK describes, or None if it is not one Lethe uses (or is malformed)."""
    if jwk.get("use", "sig") != "sig":
        return None
    try:
        kty = jwk.get("kty")
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(_unb64(str(jwk["x"])))
        if kty == "RSA":
            public = rsa.RSAPublicNumbers(_int(str(jwk["e"])), _int(str(jwk["n"]))).public_key()
            return public if public.key_size >= 2048 else None
        if kty == "EC" and jwk.get("crv") == "P-256":
            numbers = ec.EllipticCurvePublicNumbers(
                _int(str(jwk["x"])), _int(str(jwk["y"])), ec.SECP256R1()
            )
            return numbers.public_key()
    except (KeyError, ValueError, TypeError, binascii.Error):
        return None
    return None


def parse_jwks(document: Any) -> dict[str, PublicKey]:
    """The usable signing keys of a JWKS document, by ``kid`` (keys without one are skipped)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("it is not a JWKS document (an object with a 'keys' list)")
    keys: dict[str, PublicKey] = {}
    for jwk in document["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            public = _public_key(jwk)
            if public is not None:
                keys[jwk["kid"]] = public
    return keys


def verify_signature(alg: str, public: PublicKey, signature: bytes, signed: bytes) -> bool:
    """Whether ``signature`` over ``signed`` verifies with ``public`` under JWS ``alg``."""
    kind = ALGORITHMS.get(alg)
    if kind is None or not isinstance(public, kind):
        return False
    try:
        if isinstance(public, Ed25519PublicKey):
            public.verify(signature, signed)
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def fetch_json(url: str, what: str) -> Any:
    """GET ``url`` as JSON; UnreachableError in one line (naming ``what`` and the URL) if not."""
    import httpx  # not at the top: the command line imports this module on every run

    try:
        with httpx.Client(timeout=_TIMEOUT, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreachableError(f"cannot fetch {what} from {url}: {reason}") from None
    if response.status_code != 200:
        raise UnreachableError(f"cannot fetch {what} from {url}: HTTP {response.status_code}")
    if len(response.content) > _MAX_BYTES:
        raise UnreachableError(f"cannot use {what} from {url}: larger than {_MAX_BYTES} bytes")
    try:
        return json.loads(response.content)
    except ValueError:
        raise UnreachableError(f"cannot use {what} from {url}: not JSON") from None


@dataclass
class _Cached:
    keys: dict[str, PublicKey]
    fetched: float


class KeySet:
    """The keys at one JWKS URL, fetched lazily, kept ``max_age`` s, refreshed for an unknown
    ``kid`` at most once every ``min_refresh`` s. Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        what: str = "the key set",
        max_age: float = 300.0,
        min_refresh: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.what = url, what
        self.max_age, self.min_refresh, self._clock = max_age, min_refresh, clock
        self._cached: _Cached | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the URL was fetched (for tests and metrics)

    def _fetch(self) -> _Cached:
        document = fetch_json(self.url, self.what)
        try:
            keys = parse_jwks(document)
        except ValueError as exc:
            raise UnreachableError(f"cannot use {self.what} from {self.url}: {exc}") from None
        self.fetches += 1
        self._cached = _Cached(keys, self._clock())
        return self._cached

    def key(self, kid: str) -> tuple[PublicKey | None, bool]:
        """The key named ``kid`` (None if the publisher has none), and whether the set was
        fetched afresh to look for it."""
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is None or now - cached.fetched >= self.max_age:
                return self._fetch().keys.get(kid), True
            if kid in cached.keys:
                return cached.keys[kid], False
            if now - cached.fetched >= self.min_refresh:
                return self._fetch().keys.get(kid), True
            return None, False


_SETS: dict[tuple[str, float, float], KeySet] = {}
_SETS_LOCK = threading.Lock()


def key_set(url: str, *, what: str, max_age: float, min_refresh: float) -> KeySet:
    """The process's one cache for ``url`` (so a server's requests share it)."""
    with _SETS_LOCK:
        found = _SETS.get((url, max_age, min_refresh))
        if found is None:
            found = KeySet(url, what=what, max_age=max_age, min_refresh=min_refresh)
            _SETS[url, max_age, min_refresh] = found
        return found
