"""``lethe serve``'s HTTP API, through an HTTP client (httpx).

The first tests speak to the application in this process (no Temporal: what they check is
refused before anything would be started). The last one serves it with uvicorn on a random
port against a real Temporal dev server, the real worker, ledger and an SMTP server on
loopback, and goes through it as a portal, a requester, an operator and an auditor would.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openapi_spec_validator import validate
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import SmtpConfig, SmtpMailer
from ledger import Ledger
from ledger.api_clients import ApiClients, token_digest
from lethe.assertions import mint_assertion, public_key_text
from lethe.demo.systems import SUBJECT, check_bystanders, seed_demo_systems
from lethe.keys import Keyring
from lethe.logs import configure_logging
from lethe.runtime import Runtime, load_registry, open_ledger
from lethe.settings import (
    Settings,
    TemporalSettings,
    VerificationSettings,
    WebSettings,
    build_connectors,
)
from lethe.web.app import create_app
from lethe.web.guards import RateLimiter
from tests.support.serving import served
from tests.support.smtp import Inbox, smtp_server

PORTAL = Ed25519PrivateKey.generate()
#: Every address the API is given below: none may reach a log line.
ADDRESSES = (
    "katherine@example.com",
    SUBJECT.email,
    "carol@example.org",
    "dan@example.org",
    "erin@example.org",
    "frank@example.org",
    "gina@example.org",
)


def web_settings(
    tmp_path: Path, systems: Any, *, address: str = "127.0.0.1:9", queue: str = "lethe", **web: Any
) -> Settings:
    return Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(address=address, task_queue=queue),
        systems=systems,
        verification=VerificationSettings(
            portal_public_keys=(public_key_text(PORTAL.public_key()),)
        ),
        web=WebSettings(**web),
    )


async def tokens(ledger: Ledger) -> dict[str, str]:
    """One API client per scope: scope -> its bearer token."""
    clients = ApiClients(ledger)
    from datetime import UTC, datetime

    made = {}
    for scope, name in (("intake", "portal"), ("operate", "ops"), ("audit", "auditor")):
        issued = await clients.add(name, [scope], at=datetime.now(UTC), created_by="test")
        made[scope] = issued.token
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def one_line(response: httpx.Response, status: int) -> str:
    """The error of a refused call: its status, and one line under ``error`` with a code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and "\n" not in body["error"], body
    assert isinstance(body["code"], int), body
    assert "Traceback" not in response.text
    return str(body["error"])


@pytest.fixture
async def local_api(
    tmp_path: Path, keys: Keyring
) -> AsyncIterator[tuple[httpx.AsyncClient, Ledger, dict[str, str]]]:
    """The application in this process over an SQLite ledger, with no Temporal behind it."""
    demo = seed_demo_systems(tmp_path / "systems")
    settings = web_settings(tmp_path, demo.systems, max_body_bytes=2048)
    ledger = await open_ledger(settings, keys)
    try:
        app = create_app(settings, runtime=Runtime(settings, keys, ledger))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as client:
            yield client, ledger, await tokens(ledger)
    finally:
        await ledger.dispose()


async def test_the_openapi_document_validates_and_names_every_verb(
    local_api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
) -> None:
    client, _, _ = local_api
    doc = (await client.get("/openapi.json")).json()
    validate(doc)
    paths = set(doc["paths"])
    for path in (
        "/v1/requests",
        "/v1/requests/bulk",
        "/v1/requests/{request_id}/code",
        "/v1/requests/{request_id}/status",
        "/v1/requests/{request_id}/approve",
        "/v1/requests/{request_id}/cancel",
        "/v1/audit/requests",
    ):
        assert path in paths, path
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    # Refusals are documented as they are sent: one line and a code.
    refusal = doc["paths"]["/v1/requests"]["post"]["responses"]["422"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert set(doc["components"]["schemas"]["ErrorOut"]["required"]) == {"error", "code"}
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_bad_bodies_and_tokens_are_refused_in_one_line_and_change_nothing(
    local_api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
) -> None:
    client, ledger, token = local_api
    intake = bearer(token["intake"])
    post = "/v1/requests"
    sent = {"email": "grace@example.org", "verification": "operator"}

    assert "needs an API client's token" in one_line(await client.post(post, json=sent), 401)
    unknown = bearer("lethe_ac-nope_" + "x" * 40)
    assert "not known or was revoked" in one_line(
        await client.post(post, json=sent, headers=unknown), 401
    )
    refused = one_line(await client.post(post, json=sent, headers=bearer(token["audit"])), 403)
    assert (
        refused == "API client auditor may not do this: it needs the 'intake' scope (it has audit)"
    )

    not_json = await client.post(
        post, content=b"{not json", headers={**intake, "content-type": "application/json"}
    )
    assert one_line(not_json, 422) == "the request body is not valid JSON"
    assert one_line(await client.post(post, json={}, headers=intake), 422) == (
        "email: Field required"
    )
    extra = await client.post(post, json={**sent, "name": "Grace"}, headers=intake)
    assert one_line(extra, 422).startswith("name: Extra inputs are not permitted")
    big = await client.post(post, json={**sent, "assertion": "x" * 4000}, headers=intake)
    assert one_line(big, 413) == "the request body is larger than 2048 bytes"

    # What `lethe submit` refuses is refused with its words, and the address is not repeated.
    bad = await client.post(post, json={**sent, "email": "grace@@example"}, headers=intake)
    assert one_line(bad, 400).startswith("invalid email address")
    assert "grace@@example" not in bad.text
    nowhere = await client.post(post, json={**sent, "systems": ["nowhere"]}, headers=intake)
    assert one_line(nowhere, 400).startswith("unknown system 'nowhere': configured systems are")
    fax = await client.post(post, json={**sent, "channel": "fax"}, headers=intake)
    assert "unknown channel 'fax'" in one_line(fax, 400)
    forged = mint_assertion(Ed25519PrivateKey.generate(), "grace@example.org", audience="lethe")
    assertion = await client.post(
        post, json={"email": "grace@example.org", "assertion": forged}, headers=intake
    )
    assert one_line(assertion, 400)
    bulk = await client.post(
        "/v1/requests/bulk",
        json={"requests": [sent, {**sent, "email": "x@"}]},
        headers=intake,
    )
    assert one_line(bulk, 422).startswith("line 2: invalid email address")
    assert bulk.json()["received"] == 0 and bulk.json()["not_submitted"] == 1
    approve = await client.post(
        "/v1/requests/er-0000000000/approve", json={"reason": "x"}, headers=intake
    )
    assert "needs the 'operate' scope" in one_line(approve, 403)

    assert await ledger.list_requests() == []  # nothing was received
    assert one_line(await client.get("/v1/nowhere"), 404) == "no such path"


async def test_a_requester_needs_the_status_token_and_is_rate_limited(
    tmp_path: Path, keys: Keyring
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = web_settings(tmp_path, demo.systems, requester_calls_per_minute=3)
    ledger = await open_ledger(settings, keys)
    try:
        app = create_app(settings, runtime=Runtime(settings, keys, ledger))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as client:
            url = "/v1/requests/er-0000000000/status"
            for token in (None, "wrong", "wrong"):
                headers = {"X-Status-Token": token} if token else {}
                said = one_line(await client.get(url, headers=headers), 404)
                assert said == "no request er-0000000000 opens with this status token"
            assert "too many tries" in one_line(
                await client.get(url, headers={"X-Status-Token": "wrong"}), 429
            )
    finally:
        await ledger.dispose()

    seconds = [0.0]
    limiter = RateLimiter(2, clock=lambda: seconds[0])
    assert limiter.allow("a", "x") and limiter.allow("b", "x")
    assert not limiter.allow("c", "x")  # the address is spent, whatever the request
    seconds[0] = 61.0
    assert limiter.allow("c", "x")


@pytest.mark.slow
async def test_a_portal_a_requester_an_operator_and_an_auditor_over_http(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    demo = seed_demo_systems(tmp_path / "systems")
    settings = web_settings(
        tmp_path,
        demo.systems,
        address=dev_server_env.client.service_client.config.target_host,
        queue=task_queue,
        requester_calls_per_minute=1000,
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    runtime = Runtime(settings, keys, ledger)
    token = await tokens(ledger)
    app = create_app(settings, runtime=runtime)
    try:
        async with served(app) as base:
            with smtp_server() as inbox:
                mailer = SmtpMailer(SmtpConfig("127.0.0.1", inbox.port, security="none"))
                async with (
                    worker_module.build_worker(
                        dev_server_env.client,
                        task_queue=task_queue,
                        ledger=ledger,
                        connectors=connectors,
                        signing_key=Ed25519PrivateKey.generate(),
                        mailer=mailer,
                        status_key=keys.pseudonym,  # as lethe worker passes it
                    ),
                    httpx.AsyncClient(base_url=base, timeout=60) as http,
                ):
                    await _by_assertion(http, ledger, token)
                    await _by_code(http, ledger, token, inbox)
                    await _by_operator(http, ledger, token)
                    await _other_verbs(http, ledger, token)
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
    assert check_bystanders(demo)[1] == []
    logged = capsys.readouterr()
    assert "web.call" in logged.out + logged.err  # the calls were logged, by route
    for address in ADDRESSES:
        assert address not in logged.out + logged.err


async def code_for(inbox: Inbox, address: str) -> str:
    """The code in the first message to ``address`` that has one."""
    for _ in range(400):
        for message in inbox.messages:
            if message["To"] == address and re.search(r"\b\d{8}\b", message.get_content()):
                return inbox.code_in(message)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code was mailed to {address}")


async def finished(ledger: Ledger, request_id: str, within: float = 60) -> str:
    for _ in range(int(within / 0.2)):
        rec = await ledger.require_request(request_id)
        if rec.completed_at is not None:
            return rec.status
        await asyncio.sleep(0.2)
    raise AssertionError(f"{request_id} did not finish")


async def _by_assertion(http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str]) -> None:
    """A portal submits a signed assertion; a retry with the same Idempotency-Key gets the
    same request; the requester's token shows it finished, in plain words."""
    email = "katherine@example.com"  # in none of the demo systems
    body = {"email": email, "assertion": mint_assertion(PORTAL, email, audience="lethe")}
    headers = {**bearer(token["intake"]), "Idempotency-Key": "portal-4711"}
    first = await http.post("/v1/requests", json=body, headers=headers)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["verification_method"] == "preverified" and not made["replayed"]
    again = await http.post("/v1/requests", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["replayed"]
    assert again.json()["request_id"] == made["request_id"]
    assert again.json()["status_token"] == made["status_token"]
    other = await http.post("/v1/requests", json={**body, "jurisdiction": "ccpa"}, headers=headers)
    assert one_line(other, 409) == "this Idempotency-Key was used with another body"
    assert len(await ledger.list_requests()) == 1

    rid = made["request_id"]
    assert await finished(ledger, rid) == "completed"
    seen = await http.get(
        f"/v1/requests/{rid}/status", headers={"X-Status-Token": made["status_token"]}
    )
    assert seen.status_code == 200, seen.text
    view = seen.json()
    assert view["status"] == "completed" and view["status_text"].startswith("Done")
    assert email not in seen.text
    rec = await ledger.require_request(rid)
    received = [e for e in await ledger.events(rid) if e.kind == "received"]
    assert rec.channel == "portal" and received[0].actor == "api:portal"
    # The ledger keeps the token's digest, never the token.
    async with ledger.session() as s:
        from ledger.tables import RequestAccessToken

        stored = await s.get(RequestAccessToken, rid)
    assert stored is not None and stored.token_hash == token_digest(made["status_token"])


async def _by_code(
    http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str], inbox: Inbox
) -> None:
    """A requester enters the emailed code on their own: wrong, then right."""
    made = (
        await http.post(
            "/v1/requests",
            json={"email": SUBJECT.email, "verification": "email", "channel": "web-form"},
            headers=bearer(token["intake"]),
        )
    ).json()
    rid, status_token = made["request_id"], made["status_token"]
    mine = {"X-Status-Token": status_token}
    code = await code_for(inbox, SUBJECT.email)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    # The code's mail carries the request's status token: a requester who did not come
    # through the portal can follow it too.
    [mail] = [m for m in inbox.messages if code in m.get_content()]
    assert status_token in mail.get_content() and rid in mail.get_content()

    before = (await http.get(f"/v1/requests/{rid}/status", headers=mine)).json()
    assert before["needs_code"] and before["open"]
    # Someone else's token opens nothing, and the code is not checked.
    stranger = await http.post(
        f"/v1/requests/{rid}/code", json={"code": code}, headers={"X-Status-Token": "x" * 43}
    )
    assert one_line(stranger, 404)
    for _ in range(100):  # until the workflow has heard the mail went out
        tried = await http.post(f"/v1/requests/{rid}/code", json={"code": wrong}, headers=mine)
        said = one_line(tried, 400)
        if "try again shortly" not in said:
            break
        await asyncio.sleep(0.1)
    assert said == f"{rid}: code refused: wrong code (4 attempt(s) left)"
    assert tried.json()["attempts_left"] == 4
    accepted = await http.post(f"/v1/requests/{rid}/code", json={"code": code}, headers=mine)
    assert accepted.status_code == 200 and accepted.json()["accepted"], accepted.text
    assert await finished(ledger, rid) == "completed_with_exceptions"
    after = (await http.get(f"/v1/requests/{rid}/status", headers=mine)).json()
    assert after["status"] == "completed_with_exceptions" and not after["needs_code"]
    assert sum(after["outcomes"].values()) == 4
    actors = {e.kind: e.actor for e in await ledger.events(rid)}
    assert actors["verification_code_accepted"] == "requester:web"
    assert SUBJECT.email not in json.dumps(after) and code not in json.dumps(after)


async def _by_operator(http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str]) -> None:
    """An operator approves; an auditor may read but not approve; both list."""
    made = (
        await http.post(
            "/v1/requests",
            json={"email": "carol@example.org", "verification": "operator", "channel": "phone"},
            headers=bearer(token["intake"]),
        )
    ).json()
    rid = made["request_id"]
    url = f"/v1/requests/{rid}/approve"
    reason = {"reason": "called back on the number on file"}
    refused = await http.post(url, json=reason, headers=bearer(token["audit"]))
    assert "needs the 'operate' scope (it has audit)" in one_line(refused, 403)
    empty = await http.post(url, json={"reason": "  "}, headers=bearer(token["operate"]))
    assert one_line(empty, 400) == "reason must say how the identity was confirmed"
    assert (await ledger.require_request(rid)).verified_at is None  # nothing changed

    listed = await http.get("/v1/requests", params={"limit": 2}, headers=bearer(token["audit"]))
    newest = listed.json()["requests"][0]
    assert newest["request_id"] == rid and newest["status"] in ("received", "awaiting_verification")
    assert listed.json()["more"]  # three requests, two shown
    done = await http.get(
        "/v1/requests", params={"status": "completed"}, headers=bearer(token["operate"])
    )
    assert rid not in [r["request_id"] for r in done.json()["requests"]]
    assert len(done.json()["requests"]) == 1  # the portal's
    approved = await http.post(url, json=reason, headers=bearer(token["operate"]))
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == "api:ops"
    assert await finished(ledger, rid) == "completed"
    twice = await http.post(url, json=reason, headers=bearer(token["operate"]))
    assert "not approved: the request is closed (completed)" in one_line(twice, 400)

    shown = await http.get(f"/v1/requests/{rid}", headers=bearer(token["audit"]))
    record = shown.json()
    assert record["status"] == "completed"
    assert {e["kind"]: e["actor"] for e in record["events"]}["verified"] == "operator:api:ops"
    audit = await http.get(
        "/v1/audit/requests", params={"status": "completed"}, headers=bearer(token["audit"])
    )
    assert rid in [r["request_id"] for r in audit.json()["requests"]]
    not_for_ops = await http.get("/v1/audit/requests", headers=bearer(token["operate"]))
    assert "needs the 'audit' scope" in one_line(not_for_ops, 403)
    missing = await http.get("/v1/requests/er-0000000000", headers=bearer(token["operate"]))
    assert one_line(missing, 404)


async def _other_verbs(http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str]) -> None:
    """Extend, acknowledge, a controller's instruction, holds and cancel, as the CLI's."""
    ops, audit = bearer(token["operate"]), bearer(token["audit"])
    rid = (
        await http.post(
            "/v1/requests",
            json={"email": "dan@example.org", "verification": "operator"},
            headers=bearer(token["intake"]),
        )
    ).json()["request_id"]
    for _ in range(300):  # acknowledged by mail once the workflow runs
        if "acknowledged" in [e.kind for e in await ledger.events(rid)]:
            break
        await asyncio.sleep(0.1)
    base = f"/v1/requests/{rid}"
    why = {"reason": "fourteen systems to search"}
    assert "needs the 'operate' scope" in one_line(
        await http.post(f"{base}/extend", json=why, headers=audit), 403
    )
    extended = await http.post(f"{base}/extend", json=why, headers=ops)
    assert extended.status_code == 200, extended.text
    assert extended.json()["extended_by"] == "api:ops"
    assert "already extended" in one_line(
        await http.post(f"{base}/extend", json=why, headers=ops), 400
    )
    told = {"channel": "phone", "reason": "call log 17"}
    fax = await http.post(f"{base}/acknowledge", json={**told, "channel": "fax"}, headers=ops)
    assert one_line(fax, 400).startswith("unknown channel 'fax'")
    again = await http.post(f"{base}/acknowledge", json=told, headers=ops)
    assert f"{rid} was already acknowledged on" in one_line(again, 400)
    order = {"action": "erase", "reason": "the controller wrote"}
    not_waiting = await http.post(f"{base}/systems/crm/instruction", json=order, headers=ops)
    assert one_line(not_waiting, 400) == (
        f"crm of {rid} is not waiting for a controller's instruction"
    )
    bad = await http.post(
        f"{base}/systems/crm/instruction",
        json={**order, "action": "retain", "legal_basis": "whim", "review_on": "2099-01-01"},
        headers=ops,
    )
    assert one_line(bad, 400).startswith("unknown legal basis 'whim'")
    holds = await http.get("/v1/holds", headers=audit)
    assert holds.status_code == 200 and holds.json() == {"holds": []}
    await _holds_and_retry(http, ledger, token)

    cancelled = await http.post(f"{base}/cancel", json={"reason": "filed twice"}, headers=ops)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"request_id": rid, "status": "cancelled", "cancelled_by": "api:ops"}
    assert await ledger.outcomes(rid) == []
    assert "has already finished (cancelled)" in one_line(
        await http.post(f"{base}/cancel", json={"reason": "again"}, headers=ops), 400
    )
    actors = {e.kind: e.actor for e in await ledger.events(rid)}
    assert actors["deadline_extended"] == "api:ops"
    await _bulk(http, ledger, token)
    assert actors["cancelled"] == "operator:api:ops"  # as the workflow records operators


async def test_the_pages_run_no_script_and_the_dashboard_wants_a_reading_token(
    local_api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
) -> None:
    client, _, token = local_api
    form = await client.get("/request")
    assert form.status_code == 200 and 'name="status_token"' in form.text
    policy = form.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "<script" not in form.text
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/login"
    wrong = await client.post("/dashboard/login", data={"token": "lethe_ac-x_nope"})
    assert wrong.status_code == 401 and "not known or was revoked" in wrong.text
    intake = await client.post("/dashboard/login", data={"token": token["intake"]})
    assert intake.status_code == 403
    assert "neither the 'operate' nor the 'audit'" in html.unescape(intake.text)
    assert "lethe_dashboard" not in intake.headers.get("set-cookie", "")
    signed = await client.post("/dashboard/login", data={"token": token["audit"]})
    assert signed.status_code == 303 and signed.headers["location"] == "/dashboard"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # A requester's page refuses an unknown request like the API, in words.
    unknown = await client.post(
        "/request", data={"request_id": "er-0000000000", "status_token": "x"}
    )
    assert unknown.status_code == 404 and "No request opens" in unknown.text


async def _bulk(http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str]) -> None:
    """Many at once, as `lethe submit --from`: with keep_going, the good ones go in."""
    before = len(await ledger.list_requests())
    sent = {"verification": "operator", "systems": ["forum"]}
    answer = await http.post(
        "/v1/requests/bulk",
        json={
            "requests": [
                {**sent, "email": "erin@example.org"},
                {**sent, "email": "nobody@"},
                {**sent, "email": "frank@example.org", "channel": "mail"},
            ],
            "keep_going": True,
        },
        headers=bearer(token["intake"]),
    )
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert body["error"].startswith("line 2: invalid email address")
    assert body["received"] == 2 and body["failed"] == [2]
    made = [r for r in body["results"] if "request_id" in r]
    assert [r["line"] for r in made] == [1, 3] and all(r["status_token"] for r in made)
    assert len(await ledger.list_requests()) == before + 2
    third = await ledger.require_request(made[1]["request_id"])
    assert third.channel == "mail" and third.systems == ["forum"]
    seen = await http.get(
        f"/v1/requests/{third.request_id}/status",
        headers={"X-Status-Token": made[1]["status_token"]},
    )
    assert seen.status_code == 200 and seen.json()["systems"] == 1


async def test_a_bug_is_one_scrubbed_line_not_a_traceback(
    local_api: tuple[httpx.AsyncClient, Ledger, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import lethe.operations.requests as operations

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot read grace@example.org's row\nsecond line")

    monkeypatch.setattr(operations, "find_requests", broken)
    client, _, token = local_api
    answer = await client.get("/v1/requests", headers=bearer(token["audit"]))
    said = one_line(answer, 500)
    assert said.startswith("internal error: RuntimeError: cannot read [email redacted]")
    assert answer.json()["code"] == 70
    logged = capsys.readouterr()
    assert "grace@example.org" not in logged.out + logged.err
    assert "Traceback" not in logged.out + logged.err


async def _holds_and_retry(http: httpx.AsyncClient, ledger: Ledger, token: dict[str, str]) -> None:
    ops, audit = bearer(token["operate"]), bearer(token["audit"])
    hold = {"email": "Gina@Example.org", "reason": "case 17", "review_on": "2099-01-01"}
    assert "needs the 'operate' scope" in one_line(
        await http.post("/v1/holds", json=hold, headers=audit), 403
    )
    both = await http.post("/v1/holds", json={**hold, "pseudonym": "ps_x"}, headers=ops)
    assert one_line(both, 400) == "name the person with one of email or pseudonym"
    whim = await http.post("/v1/holds", json={**hold, "legal_basis": "whim"}, headers=ops)
    assert one_line(whim, 400).startswith("unknown legal basis 'whim'")
    past = await http.post("/v1/holds", json={**hold, "review_on": "2001-01-01"}, headers=ops)
    assert one_line(past, 400) == "review_on 2001-01-01 is in the past"
    assert (await http.get("/v1/holds", headers=audit)).json() == {"holds": []}

    placed = await http.post("/v1/holds", json=hold, headers=ops)
    assert placed.status_code == 201, placed.text
    made = placed.json()
    assert made["placed_by"] == "operator:api:ops" and made["state"] == "active"
    assert made["subject_ref"].startswith("ps_") and "gina" not in placed.text.lower()
    [listed] = (await http.get("/v1/holds", headers=audit)).json()["holds"]
    assert listed["hold_id"] == made["hold_id"]
    url = f"/v1/holds/{made['hold_id']}/release"
    released = await http.post(url, json={"reason": "case 17 settled"}, headers=ops)
    assert released.status_code == 200, released.text
    assert released.json()["released_by"] == "operator:api:ops"
    assert "already released" in one_line(
        await http.post(url, json={"reason": "again"}, headers=ops), 400
    )
    assert (
        one_line(
            await http.post("/v1/holds/lh-nope/release", json={"reason": "x"}, headers=ops), 404
        )
        == "no legal hold with id 'lh-nope'"
    )
    assert (await http.get("/v1/holds", headers=audit)).json() == {"holds": []}

    # A retry goes to the CLI's refusal when the system did not fail.
    [done] = await ledger.list_requests(status="completed", limit=1)
    retry = await http.post(
        f"/v1/requests/{done.request_id}/systems/forum/retry",
        json={"reason": "the forum was down"},
        headers=ops,
    )
    assert "did not fail" in one_line(retry, 400)
