"""Portal assertions: what a good one proves, and every way a bad one is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lethe.assertions import (
    AssertionRejected,
    dev_portal_key,
    key_id,
    mint_assertion,
    public_key_text,
    read_public_keys,
    subject_digest,
    verify_assertion,
)
from lethe.errors import ConfigError
from tests.support.canary import names_mailbox

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL = "ada@example.org"
PORTAL = Ed25519PrivateKey.generate()
TRUSTED = read_public_keys([public_key_text(PORTAL.public_key())])


def check(token: str, **kw: object) -> object:
    args: dict[str, object] = {
        "normalised_email": EMAIL,
        "trusted_keys": TRUSTED,
        "audience": "lethe",
        "max_lifetime": timedelta(minutes=10),
        "now": NOW + timedelta(seconds=30),
    }
    args.update(kw)
    return verify_assertion(token, **args)  # type: ignore[arg-type]


def mint(**kw: object) -> str:
    args: dict[str, object] = {"audience": "lethe", "issuer": "portal.example", "now": NOW}
    args.update(kw)
    key = args.pop("key", PORTAL)
    email = args.pop("email", EMAIL)
    return mint_assertion(key, email, **args)  # type: ignore[arg-type]


def reshape(token: str, *, header: dict[str, object] | None = None, **claims: object) -> str:
    """The token with header fields or claims changed, signature kept (so it no longer fits)."""
    h, c, s = token.split(".")

    def enc(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    def dec(p: str) -> dict[str, object]:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # type: ignore[no-any-return]

    new_h = enc({**dec(h), **header}) if header else h
    new_c = enc({**dec(c), **claims}) if claims else c
    return f"{new_h}.{new_c}.{s}"


def test_a_good_assertion_yields_its_evidence_and_not_the_subject() -> None:
    token = mint(nonce="n" * 24, methods=("pwd", "otp"))
    got = check(token)
    assert got.issuer == "portal.example" and got.nonce == "n" * 24  # type: ignore[attr-defined]
    assert got.methods == ("pwd", "otp")  # type: ignore[attr-defined]
    assert got.key_id == key_id(PORTAL.public_key())  # type: ignore[attr-defined]
    assert got.issued_at == NOW and got.expires_at == NOW + timedelta(minutes=5)  # type: ignore[attr-defined]
    # The token carries no address: only a digest salted by its own nonce.
    assert EMAIL not in token and not names_mailbox(
        base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()
    )
    assert subject_digest("n" * 24, EMAIL) != subject_digest("m" * 24, EMAIL)


@pytest.mark.parametrize(
    ("token", "kw", "message"),
    [
        (lambda: mint(key=Ed25519PrivateKey.generate()), {}, "untrusted key"),
        (lambda: reshape(mint(), header={"kid": None}), {}, "does not verify"),
        (lambda: reshape(mint(), aud="lethe"), {}, "does not verify"),  # any change breaks it
        (lambda: reshape(mint(), header={"alg": "none"}), {}, "only EdDSA"),
        (lambda: reshape(mint(), header={"alg": "HS256"}), {}, "only EdDSA"),
        (lambda: mint(audience="someone-else"), {}, "audience"),
        (lambda: mint(), {"now": NOW + timedelta(minutes=7)}, "expired"),
        (lambda: mint(), {"now": NOW - timedelta(minutes=5)}, "in the future"),
        (lambda: mint(lifetime=timedelta(hours=2)), {}, "longer than"),
        (lambda: mint(email="eve@example.org"), {}, "someone else"),
        (lambda: mint(nonce="short"), {}, "nonce"),
        (lambda: mint(issuer=" "), {}, "issuer"),
        (lambda: "not-a-token", {}, "compact signed token"),
        (lambda: "a.b.c", {}, "base64url JSON"),
        (lambda: mint(), {"trusted_keys": {}}, "no portal public key is trusted"),
    ],
)
def test_bad_assertions_are_refused(token: object, kw: dict[str, object], message: str) -> None:
    with pytest.raises(AssertionRejected, match=message):
        check(token(), **kw)  # type: ignore[operator]


def test_an_unsigned_token_with_a_trusted_kid_is_refused() -> None:
    good = mint()
    h, c, _ = good.split(".")
    with pytest.raises(AssertionRejected, match="does not verify"):
        check(f"{h}.{c}.")


def test_public_keys_are_read_strictly() -> None:
    with pytest.raises(ConfigError, match="not base64 of 32 Ed25519 key bytes"):
        read_public_keys(["bm90IGEga2V5"])
    url_safe = base64.urlsafe_b64encode(
        base64.b64decode(public_key_text(PORTAL.public_key()))
    ).decode()
    assert set(read_public_keys([url_safe])) == set(TRUSTED)


def test_the_dev_portal_key_is_made_once_and_private(tmp_path: Path) -> None:
    first = dev_portal_key(tmp_path)
    second = dev_portal_key(tmp_path)
    assert public_key_text(first.public_key()) == public_key_text(second.public_key())
    assert (tmp_path / "keys" / "portal-dev.key").stat().st_mode & 0o077 == 0
