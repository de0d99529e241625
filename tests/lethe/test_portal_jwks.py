"""Portal keys from a JWKS URL (``[verification] portal_jwks_url``): a portal that rotates its
key in under a new ``kid`` is followed; a ``kid`` it does not publish is refused after one
refresh; its key set being down refuses the request in one line, and nothing is written.

The portal is a local HTTP server on a random port publishing its key set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

from ledger import Ledger
from lethe.assertions import AssertionRejected, key_id, mint_assertion
from lethe.demo.systems import seed_demo_systems
from lethe.errors import UnreachableError
from lethe.intake import validate_request
from lethe.jwks import KeySet
from lethe.keys import Keyring
from lethe.runtime import Runtime, open_ledger
from lethe.settings import Settings, TemporalSettings, VerificationSettings
from lethe.web.app import create_app
from tests.support.cli import lethe, one_line_error
from tests.support.json_server import JsonServer, ed25519_jwk, json_server
from tests.support.ledger_state import written
from tests.support.own_temporal import own_test_server

from .test_cli import CONFIG
from .test_http_api import bearer, one_line, tokens

EMAIL = "katherine@example.com"
OLD, NEW, STRANGER = (Ed25519PrivateKey.generate() for _ in range(3))


@pytest.fixture
def portal() -> Iterator[JsonServer]:
    with json_server() as server:
        server.documents["/jwks.json"] = {"keys": [ed25519_jwk(OLD, "2026-01")]}
        yield server


def settings_for(
    tmp_path: Path, url: str, *, address: str = "127.0.0.1:9", queue: str = "lethe"
) -> Settings:
    demo = seed_demo_systems(tmp_path / "systems")
    return Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(address=address, task_queue=queue),
        systems=demo.systems,
        verification=VerificationSettings(portal_jwks_url=url, portal_jwks_refresh_seconds=0),
    )


def token(key: Ed25519PrivateKey, kid: str, email: str = EMAIL) -> str:
    return mint_assertion(key, email, audience="lethe", kid=kid)


def test_a_rotated_key_is_picked_up_and_an_unpublished_one_refused(
    tmp_path: Path, portal: JsonServer
) -> None:
    settings = settings_for(tmp_path, portal.url("/jwks.json"))
    draft = validate_request(settings, email=EMAIL, assertion=token(OLD, "2026-01"))
    assert draft.assertion is not None and draft.assertion.key_id == key_id(OLD.public_key())
    assert portal.hits["/jwks.json"] == 1
    # The cached set serves the next token with a known kid: no second fetch.
    validate_request(settings, email=EMAIL, assertion=token(OLD, "2026-01"))
    assert portal.hits["/jwks.json"] == 1

    # The portal rotates: a new key under a new kid; the first token with it refreshes the set.
    portal.documents["/jwks.json"] = {
        "keys": [ed25519_jwk(NEW, "2026-02"), ed25519_jwk(OLD, "2026-01")]
    }
    draft = validate_request(settings, email=EMAIL, assertion=token(NEW, "2026-02"))
    assert draft.assertion is not None and draft.assertion.key_id == key_id(NEW.public_key())
    assert portal.hits["/jwks.json"] == 2

    # A kid the portal does not publish: one refresh, then refused in one line.
    with pytest.raises(AssertionRejected) as refused:
        validate_request(settings, email=EMAIL, assertion=token(STRANGER, "2026-99"))
    assert portal.hits["/jwks.json"] == 3
    message = str(refused.value)
    assert "\n" not in message
    assert "'2026-99'" in message and "does not publish (fetched afresh)" in message
    # A published kid with another key's signature is a forgery, not a rotation.
    with pytest.raises(AssertionRejected, match="signature does not verify"):
        validate_request(settings, email=EMAIL, assertion=token(STRANGER, "2026-02"))


def test_unknown_kids_refresh_the_set_at_most_once_per_interval(portal: JsonServer) -> None:
    now = [1000.0]
    keys = KeySet(portal.url("/jwks.json"), max_age=300, min_refresh=30, clock=lambda: now[0])
    assert keys.key("2026-01")[0] is not None
    for n in range(5):  # made-up kids do not hammer the portal
        assert keys.key(f"made-up-{n}") == (None, False)
    assert portal.hits["/jwks.json"] == 1
    now[0] += 31
    assert keys.key("made-up-x") == (None, True)
    assert portal.hits["/jwks.json"] == 2
    now[0] += 300  # too old: fetched again even for a known kid
    assert keys.key("2026-01")[1] is True


def test_the_key_set_down_is_a_clear_error(tmp_path: Path, portal: JsonServer) -> None:
    url = portal.url("/jwks.json")
    settings = settings_for(tmp_path, url)
    portal.stop()
    with pytest.raises(UnreachableError) as down:
        validate_request(settings, email=EMAIL, assertion=token(OLD, "2026-01"))
    assert str(down.value).startswith(f"cannot fetch the portal's key set from {url}: ")
    assert "\n" not in str(down.value)


@pytest.fixture(scope="module")
async def own_env(keys: Keyring) -> AsyncIterator[WorkflowEnvironment]:
    """A test server of this module's own: its workflows stay pending (see own_temporal)."""
    async with own_test_server(keys) as env:
        yield env


@pytest.fixture
async def api(
    tmp_path: Path,
    portal: JsonServer,
    keys: Keyring,
    own_env: WorkflowEnvironment,
    task_queue: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, Ledger, dict[str, str]]]:
    target = own_env.client.service_client.config.target_host
    settings = settings_for(tmp_path, portal.url("/jwks.json"), address=target, queue=task_queue)
    ledger = await open_ledger(settings, keys)
    rt = Runtime(settings, keys, ledger)
    try:
        app = create_app(settings, runtime=rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as client:
            yield client, ledger, await tokens(ledger)
    finally:
        await rt.close()


async def test_post_requests_follows_the_portals_key_set(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]], portal: JsonServer
) -> None:
    client, ledger, made = api
    portal.documents["/jwks.json"] = {"keys": [ed25519_jwk(NEW, "2026-02")]}

    async def submit(assertion: str, email: str = EMAIL) -> httpx.Response:
        body: dict[str, Any] = {"email": email, "assertion": assertion, "systems": ["crm"]}
        return await client.post("/v1/requests", json=body, headers=bearer(made["intake"]))

    unknown = await submit(token(STRANGER, "2026-99"))
    assert "does not publish (fetched afresh)" in one_line(unknown, 400)
    assert await ledger.list_requests() == []

    accepted = await submit(token(NEW, "2026-02"))
    assert accepted.status_code == 201, accepted.text
    rid = accepted.json()["request_id"]
    assert accepted.json()["verification_method"] == "preverified"
    accepted_with = [
        e.detail["key_id"]
        for e in await ledger.events(rid)
        if e.kind == "portal_assertion_accepted"
    ]
    assert accepted_with == [key_id(NEW.public_key())]

    portal.stop()
    carol = "carol@example.org"
    down = await submit(token(NEW, "2026-02", email=carol), carol)
    # The set is cached: a known kid is still served from it. An unknown one needs the portal.
    assert down.status_code == 201, down.text
    dan = "dan@example.org"
    gone = await submit(token(STRANGER, "2026-98", email=dan), dan)
    assert "cannot fetch the portal's key set from" in one_line(gone, 503)
    assert len(await ledger.list_requests()) == 2


def test_lethe_submit_refuses_an_unpublished_kid_and_a_down_key_set(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], portal: JsonServer
) -> None:
    url = portal.url("/jwks.json")
    (lethe_home.parent / "lethe.toml").write_text(
        CONFIG + f'\n[verification]\nportal_jwks_url = "{url}"\nportal_jwks_refresh_seconds = 0\n'
    )
    assert lethe("submit", EMAIL, "--assertion", token(STRANGER, "2026-99")) == 1
    assert "does not publish (fetched afresh)" in one_line_error(capsys)
    assert written(lethe_home) == {}
    # The published key passes the check: what stops this one is Temporal (not running here).
    assert lethe("submit", EMAIL, "--assertion", token(OLD, "2026-01")) == 69
    assert "cannot reach Temporal" in one_line_error(capsys)
    assert written(lethe_home) == {}
    portal.stop()
    assert lethe("submit", EMAIL, "--assertion", token(NEW, "2026-02")) == 69
    assert f"cannot fetch the portal's key set from {url}" in one_line_error(capsys)
    assert written(lethe_home) == {}
