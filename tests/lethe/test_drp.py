"""The Data Rights Protocol endpoints (``/drp/exercise``, ``/drp/status/{id}``) over the same
intake: an Authorized Agent's signed deletion request becomes a Lethe request (a workflow
started on a Temporal test server), its status reads as DRP's Exercise Status; forged, stale,
replayed, misaddressed and unsupported requests are refused in one line with nothing written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

from ledger import Ledger
from ledger.api_clients import ApiClients
from ledger.verification import IdentityRecords
from lethe.assertions import public_key_text
from lethe.demo.systems import seed_demo_systems
from lethe.keys import Keyring
from lethe.runtime import Runtime, open_ledger
from lethe.settings import DrpSettings, Settings, TemporalSettings, load_settings
from lethe.web.app import create_app
from tests.support.own_temporal import own_test_server

from .test_http_api import bearer

AGENT, OTHER = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
EMAIL = "katherine@example.com"


def signed(claims: dict[str, Any], key: Ed25519PrivateKey = AGENT) -> bytes:
    message = json.dumps(claims).encode()
    return base64.b64encode(key.sign(message) + message)


def exercise(**more: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "agent-id": "AGENT_ONE",
        "business-id": "EXAMPLE_FORUM",
        "issued-at": now.isoformat(),
        "expires-at": (now + timedelta(minutes=5)).isoformat(),
        "drp.version": "0.9.4",
        "exercise": "deletion",
        "regime": "ccpa",
        "email": EMAIL,
        "email_verified": True,
        **more,
    }


@pytest.fixture(scope="module")
async def own_env(keys: Keyring) -> AsyncIterator[WorkflowEnvironment]:
    """A test server of this module's own: its workflows stay pending (see own_temporal)."""
    async with own_test_server(keys) as env:
        yield env


@pytest.fixture
async def api(
    tmp_path: Path, keys: Keyring, own_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Ledger, dict[str, str]]]:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(
            address=own_env.client.service_client.config.target_host,
            task_queue=task_queue,  # no worker polls it
        ),
        systems=demo.systems,
        drp=DrpSettings(
            business_id="EXAMPLE_FORUM",
            agents={
                "AGENT_ONE": public_key_text(AGENT.public_key()),
                "AGENT_TWO": public_key_text(OTHER.public_key()),
            },
        ),
    )
    ledger = await open_ledger(settings, keys)
    rt = Runtime(settings, keys, ledger)
    clients = ApiClients(ledger)
    made = {}
    for name, scopes in (("AGENT_ONE", ["intake"]), ("AGENT_TWO", ["intake"]), ("ops", ["audit"])):
        issued = await clients.add(name, scopes, at=datetime.now(UTC), created_by="test")
        made[name] = issued.token
    try:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as client:
            yield client, ledger, made
    finally:
        await rt.close()


def refused(response: httpx.Response, status: int) -> str:
    """DRP's error state: code as a string, one line of message, fatal."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == str(status) and isinstance(body["fatal"], bool), body
    assert "\n" not in body["message"] and "Traceback" not in response.text
    return str(body["message"])


async def test_an_agents_signed_deletion_becomes_a_request(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
) -> None:
    client, ledger, made = api
    one = bearer(made["AGENT_ONE"])
    answer = await client.post(
        "/drp/exercise", content=signed(exercise(**{"agent-request-id": "aa-0001"})), headers=one
    )
    assert answer.status_code == 200, answer.text
    status = answer.json()
    rid = status["request_id"]
    assert status["status"] == "in_progress" and status["agent_request_id"] == "aa-0001"
    assert "reason" not in status  # the agent verified the email: nothing more to ask
    rec = await ledger.require_request(rid)
    assert (rec.jurisdiction, rec.verification_method, rec.channel) == (
        "ccpa",
        "preverified",
        "portal",
    )
    assert status["expected_by"] == rec.due_at.astimezone(UTC).isoformat()
    evidence = await IdentityRecords(ledger).assertion_for(rid)
    assert evidence is not None and evidence.issuer == "drp:AGENT_ONE"
    assert [e.actor for e in await ledger.events(rid) if e.kind == "received"] == ["api:AGENT_ONE"]

    # The status, for the agent that sent it, under both paths; not for another agent.
    for path in (f"/drp/status/{rid}", f"/v1/data-rights-request/{rid}"):
        again = await client.get(path, headers=one)
        assert again.status_code == 200 and again.json() == status
    assert "not managed by this agent" in refused(
        await client.get(f"/drp/status/{rid}", headers=bearer(made["AGENT_TWO"])), 403
    )
    assert "no request er-nope" in refused(
        await client.get("/drp/status/er-nope", headers=one), 404
    )

    # The same message again: its agent-request-id is spent.
    replay = await client.post(
        "/drp/exercise", content=signed(exercise(**{"agent-request-id": "aa-0001"})), headers=one
    )
    assert "already used" in refused(replay, 400)

    # An email the agent did not verify: Lethe asks the person itself.
    unverified = await client.post(
        "/drp/exercise",
        content=signed(exercise(email="carol@example.org", email_verified=False)),
        headers=one,
    )
    assert unverified.status_code == 200, unverified.text
    assert unverified.json()["reason"] == "need_user_verification"
    other = await ledger.require_request(unverified.json()["request_id"])
    assert other.verification_method == "email"
    assert len(await ledger.list_requests()) == 2


@pytest.mark.parametrize(
    ("more", "key", "token", "status", "message"),
    [
        ({}, OTHER, "AGENT_ONE", 403, "signature does not verify"),
        ({}, AGENT, "AGENT_TWO", 403, "is not this token's agent 'AGENT_TWO'"),
        ({"business-id": "ELSEWHERE"}, AGENT, "AGENT_ONE", 400, "not this business"),
        ({"exercise": "access"}, AGENT, "AGENT_ONE", 400, "Unsupported rights action"),
        ({"drp.version": "0.5"}, AGENT, "AGENT_ONE", 400, "this is DRP 0.9"),
        (
            {
                "issued-at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "expires-at": (datetime.now(UTC) - timedelta(minutes=55)).isoformat(),
            },
            AGENT,
            "AGENT_ONE",
            400,
            "has expired",
        ),
        ({"issued-at": "yesterday"}, AGENT, "AGENT_ONE", 400, "not an ISO 8601"),
        ({"email": None}, AGENT, "AGENT_ONE", 400, "names no email"),
        ({"email": "not-an-email"}, AGENT, "AGENT_ONE", 400, "invalid email address"),
        ({"regime": "lgpd"}, AGENT, "AGENT_ONE", 400, "regime 'lgpd'"),
    ],
)
async def test_bad_requests_are_refused_in_one_line_and_write_nothing(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
    more: dict[str, Any],
    key: Ed25519PrivateKey,
    token: str,
    status: int,
    message: str,
) -> None:
    client, ledger, made = api
    body = {k: v for k, v in exercise(**more).items() if v is not None}  # made now: fresh
    answer = await client.post(
        "/drp/exercise", content=signed(body, key), headers=bearer(made[token])
    )
    assert message in refused(answer, status)
    assert await ledger.list_requests() == []


async def test_the_body_and_the_token_are_checked_first(
    api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
) -> None:
    client, ledger, made = api
    one = bearer(made["AGENT_ONE"])
    assert "not base64" in refused(
        await client.post("/drp/exercise", content=b"{", headers=one), 400
    )
    not_json = base64.b64encode(AGENT.sign(b"hello") + b"hello")
    assert "not JSON" in refused(
        await client.post("/drp/exercise", content=not_json, headers=one), 400
    )
    no_token = await client.post("/drp/exercise", content=signed(exercise()))
    assert no_token.status_code == 401
    reader = await client.post(
        "/drp/exercise", content=signed(exercise()), headers=bearer(made["ops"])
    )
    assert reader.status_code == 403
    assert await ledger.list_requests() == []


def test_the_drp_section_is_checked(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text('[drp]\nbusiness_id = "X"\nagents = { A = "short" }\n')
    with pytest.raises(Exception, match="agent 'A': not base64 of 32 Ed25519 key bytes"):
        load_settings({}, cwd=tmp_path)
