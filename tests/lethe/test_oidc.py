"""OIDC bearer tokens for operators and auditors (``[oidc]``), against a local fake issuer: it
serves its discovery document and key set on 127.0.0.1 and a random port, and the test signs
its tokens (RS256) as the issuer would. The API is the application in this process over an
SQLite ledger (no Temporal: holds and reads need none)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ledger import Ledger
from lethe.demo.systems import seed_demo_systems
from lethe.keys import Keyring
from lethe.runtime import Runtime, open_ledger
from lethe.settings import OidcSettings, Settings, TemporalSettings, load_settings
from lethe.web.app import create_app
from tests.support.json_server import JsonServer, b64url, json_server, rsa_jwk

from .test_http_api import bearer, one_line, tokens

ISSUER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer() -> Iterator[JsonServer]:
    with json_server() as server:
        server.documents["/.well-known/openid-configuration"] = {
            "issuer": server.base,
            "jwks_uri": server.url("/keys"),
        }
        server.documents["/keys"] = {"keys": [rsa_jwk(ISSUER_KEY, "idp-1")]}
        yield server


def sign(claims: dict[str, Any], *, key: rsa.RSAPrivateKey = ISSUER_KEY, kid: str = "idp-1") -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def claims(issuer: JsonServer, **more: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer.base,
        "aud": "lethe",
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "groups": ["privacy-ops"],
        **more,
    }


@pytest.fixture
async def api(
    tmp_path: Path, keys: Keyring, issuer: JsonServer
) -> AsyncIterator[tuple[httpx.AsyncClient, Ledger, dict[str, str]]]:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(address="127.0.0.1:9"),
        systems=demo.systems,
        oidc=OidcSettings(
            issuer=issuer.base,
            audience="lethe",
            scope_claim="groups",
            scope_map={"privacy-ops": "operate", "privacy-audit": "audit"},
        ),
    )
    ledger = await open_ledger(settings, keys)
    try:
        app = create_app(settings, runtime=Runtime(settings, keys, ledger))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as client:
            yield client, ledger, await tokens(ledger)
    finally:
        await ledger.dispose()


HOLD = {"pseudonym": "ps_" + "a" * 32, "reason": "case 17", "review_on": "2099-01-01"}


async def test_an_issuers_token_is_accepted_and_its_subject_is_the_actor(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], issuer: JsonServer
) -> None:
    client, _, made = api
    ops = bearer(sign(claims(issuer)))
    listed = await client.get("/v1/requests", headers=ops)
    assert listed.status_code == 200, listed.text
    held = await client.post("/v1/holds", json=HOLD, headers=ops)
    assert held.status_code == 201, held.text
    assert held.json()["placed_by"] == "operator:oidc:alice"  # as for api:NAME
    # API clients' tokens still work beside the issuer's.
    assert (await client.get("/v1/holds", headers=bearer(made["audit"]))).status_code == 200
    # Discovery and keys were fetched once for both calls.
    assert issuer.hits == {"/.well-known/openid-configuration": 1, "/keys": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "has expired"),
        ({"aud": "another-app"}, "not for audience 'lethe'"),
        ({"iss": "http://127.0.0.1:1"}, "from another issuer"),
        ({"exp": None}, "no expiry"),
        ({"sub": None}, "no 'sub' claim"),
    ],
)
async def test_bad_tokens_are_refused_in_one_line(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
    issuer: JsonServer,
    change: dict[str, Any],
    message: str,
) -> None:
    client, ledger, _ = api
    token = sign({k: v for k, v in {**claims(issuer), **change}.items() if v is not None})
    refused = await client.post("/v1/holds", json=HOLD, headers=bearer(token))
    assert message in one_line(refused, 401)
    assert await ledger.list_requests() == []
    assert (await client.get("/v1/holds", headers=bearer(sign(claims(issuer))))).json() == {
        "holds": []
    }


async def test_forged_and_unknown_keys_are_refused(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], issuer: JsonServer
) -> None:
    client, _, _ = api
    forged = sign(claims(issuer), key=OTHER_KEY)  # the issuer's kid, another key
    assert "signature does not verify" in one_line(
        await client.get("/v1/requests", headers=bearer(forged)), 401
    )
    stranger = sign(claims(issuer), key=OTHER_KEY, kid="elsewhere")
    assert "signed with key 'elsewhere'" in one_line(
        await client.get("/v1/requests", headers=bearer(stranger)), 401
    )
    assert "neither an API token nor a signed JWT" in one_line(
        await client.get("/v1/requests", headers=bearer("not-a-token")), 401
    )


async def test_an_audit_scoped_token_reads_but_cannot_approve_or_hold(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], issuer: JsonServer
) -> None:
    client, ledger, _ = api
    audit = bearer(sign(claims(issuer, sub="bob", groups=["privacy-audit"])))
    assert (await client.get("/v1/audit/requests", headers=audit)).status_code == 200
    refused = await client.post(
        "/v1/requests/er-any/approve", json={"reason": "called back"}, headers=audit
    )
    assert one_line(refused, 403) == (
        "oidc:bob may not do this: it needs the 'operate' scope (it has audit)"
    )
    assert "needs the 'operate' scope" in one_line(
        await client.post("/v1/holds", json=HOLD, headers=audit), 403
    )
    nothing = bearer(sign(claims(issuer, sub="eve", groups=["staff"])))
    assert "(it has none)" in one_line(await client.get("/v1/requests", headers=nothing), 403)
    ops = bearer(sign(claims(issuer)))
    assert (await client.get("/v1/holds", headers=ops)).json() == {"holds": []}
    assert await ledger.list_requests() == []


async def test_the_issuer_down_is_a_clear_error(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], issuer: JsonServer
) -> None:
    client, _, _ = api
    token = sign(claims(issuer))
    issuer.stop()
    down = await client.post("/v1/holds", json=HOLD, headers=bearer(token))
    assert "cannot fetch the OIDC issuer's discovery document from" in one_line(down, 503)


def test_the_oidc_section_is_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[oidc]\nissuer = "https://idp.example.org/realms/x"\nscope_claim = "roles"\n'
        'scope_map = { "dpo" = "audit" }\n'
    )
    read = load_settings({}, cwd=tmp_path).oidc
    assert (read.issuer, read.scope_claim, read.scope_map) == (
        "https://idp.example.org/realms/x",
        "roles",
        {"dpo": "audit"},
    )
    (tmp_path / "lethe.toml").write_text('[oidc]\nissuer = "https://x"\nscope_map = {a = "root"}\n')
    with pytest.raises(Exception, match="scopes are intake, operate, audit"):
        load_settings({}, cwd=tmp_path)


async def test_the_dashboard_takes_the_issuers_tokens_too(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], issuer: JsonServer
) -> None:
    client, _, _ = api
    expired = sign(claims(issuer, exp=int(time.time()) - 600, iat=int(time.time()) - 900))
    page = await client.post("/dashboard/login", data={"token": expired})
    assert page.status_code == 401 and "the bearer token has expired" in page.text
    staff = sign(claims(issuer, sub="eve", groups=["staff"]))
    page = await client.post("/dashboard/login", data={"token": staff})
    assert page.status_code == 403
    assert "oidc:eve has neither the &#39;operate&#39; nor the &#39;audit&#39; scope" in page.text
    audit = sign(claims(issuer, sub="bob", groups=["privacy-audit"]))
    signed_in = await client.post("/dashboard/login", data={"token": audit})
    assert signed_in.status_code == 303
    board = await client.get("/dashboard")
    assert board.status_code == 200 and "oidc:bob" in board.text
    assert "Exceptions expiring within 30 days" in board.text


def test_es256_and_eddsa_keys_verify_and_other_keys_are_left_aside() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from lethe.jwks import parse_jwks, verify_signature
    from tests.support.json_server import ed25519_jwk

    p256 = ec.generate_private_key(ec.SECP256R1())
    numbers = p256.public_key().public_numbers()
    ed = Ed25519PrivateKey.generate()
    keys = parse_jwks(
        {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": "ec",
                    "x": b64url(numbers.x.to_bytes(32, "big")),
                    "y": b64url(numbers.y.to_bytes(32, "big")),
                },
                ed25519_jwk(ed, "ed"),
                rsa_jwk(ISSUER_KEY, "rsa"),
                {"kty": "EC", "crv": "P-521", "kid": "big", "x": "AA", "y": "AA"},
                {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
                {**rsa_jwk(OTHER_KEY, "enc"), "use": "enc"},
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            ]
        }
    )
    assert sorted(keys) == ["ec", "ed", "rsa"]
    r, s = decode_dss_signature(p256.sign(b"msg", ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify_signature("ES256", keys["ec"], raw, b"msg")
    assert not verify_signature("ES256", keys["ec"], raw, b"other")
    assert verify_signature("EdDSA", keys["ed"], ed.sign(b"msg"), b"msg")
    # An algorithm that does not fit the key (RS256 with the EC key) is refused, not tried.
    assert not verify_signature("RS256", keys["ec"], raw, b"msg")
    assert not verify_signature("HS256", keys["rsa"], b"x", b"msg")
