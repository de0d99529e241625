"""The dashboard with something in every section, and the export, in headless Chromium.

Requests come in through the real intake (``POST /v1/requests``, backdated with
``received_at`` as a request that came by post is) and are carried by the real worker on a
Temporal dev server: one received 40 days ago (overdue), one 27 days ago (due within 7 days),
one today, all awaiting an operator's check; one a portal vouched for, erased with the demo's
backups kept under a legal basis until they age out (an exception expiring within 30 days).
The escalated one is escalated by the ledger's own call, as the referral activity makes it
when a controller does not answer (no controller here answers late within a test's time).
The export (API and dashboard) carries every request and nothing that identifies anyone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import SmtpConfig, SmtpMailer
from ledger import Ledger
from ledger.referrals import ControllerReferrals
from lethe.assertions import mint_assertion
from lethe.demo.systems import SUBJECT, seed_demo_systems
from lethe.keys import Keyring
from lethe.runtime import Runtime, load_registry, open_ledger
from lethe.settings import build_connectors
from lethe.web.app import create_app
from lethe.web.export import COLUMNS
from tests.lethe.test_http_api import PORTAL, bearer, finished, one_line, tokens, web_settings
from tests.lethe.test_web_pages import browser as browser  # the fixture
from tests.lethe.test_web_pages import shot, status_of
from tests.support.serving import served as serving
from tests.support.smtp import smtp_server

pytestmark = [pytest.mark.slow]

LATE, SOON, FRESH, ESCALATED = (
    "carol@example.org",
    "dan@example.org",
    "erin@example.org",
    "frank@example.org",
)


@pytest.fixture
async def served(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[str, httpx.AsyncClient, Ledger, dict[str, str]]]:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = web_settings(
        tmp_path,
        demo.systems,
        address=dev_server_env.client.service_client.config.target_host,
        queue=task_queue,
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    made = await tokens(ledger)
    try:
        async with serving(create_app(settings, runtime=Runtime(settings, keys, ledger))) as base:
            with smtp_server() as inbox:
                async with (
                    worker_module.build_worker(
                        dev_server_env.client,
                        task_queue=task_queue,
                        ledger=ledger,
                        connectors=connectors,
                        signing_key=Ed25519PrivateKey.generate(),
                        mailer=SmtpMailer(SmtpConfig("127.0.0.1", inbox.port, security="none")),
                        status_key=keys.pseudonym,
                    ),
                    httpx.AsyncClient(base_url=base, timeout=60) as http,
                ):
                    yield base, http, ledger, made
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()


async def submit(http: httpx.AsyncClient, token: str, **body: Any) -> str:
    answer = await http.post(
        "/v1/requests", json={"systems": ["crm", "forum"], **body}, headers=bearer(token)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["request_id"])


async def test_every_section_and_the_export(
    served: tuple[str, httpx.AsyncClient, Ledger, dict[str, str]], browser: Any
) -> None:
    base, http, ledger, made = served
    now = datetime.now(UTC)
    intake = made["intake"]
    late = await submit(
        http,
        intake,
        email=LATE,
        verification="operator",
        channel="mail",
        received_at=(now - timedelta(days=40)).isoformat(),
    )
    soon = await submit(
        http,
        intake,
        email=SOON,
        verification="operator",
        channel="mail",
        received_at=(now - timedelta(days=27)).isoformat(),
    )
    fresh = await submit(http, intake, email=FRESH, verification="operator")
    escalated = await submit(http, intake, email=ESCALATED, verification="operator")
    vouched = mint_assertion(PORTAL, SUBJECT.email, audience="lethe")
    answered = await http.post(
        "/v1/requests", json={"email": SUBJECT.email, "assertion": vouched}, headers=bearer(intake)
    )
    done = answered.json()["request_id"]
    for rid in (late, soon, fresh, escalated):
        await status_of(ledger, rid, "awaiting_verification")
    assert await finished(ledger, done) == "completed_with_exceptions"
    # What the referral activity does when a controller does not answer in time.
    referrals = ControllerReferrals(ledger)
    await referrals.open(
        request_id=escalated,
        system="crm",
        round_=0,
        controller="acme",
        workflow_id=f"erasure/{escalated}/crm/0",
        answer_by=now,
        connector_called=False,
        at=now,
    )
    await referrals.escalate(escalated, "crm", 0, reason="no instruction within 14 days", at=now)
    kept = [
        e
        for e in await ledger.exceptions(done)
        if e.retained_until and e.retained_until < (now + timedelta(days=30)).date()
    ]
    assert kept, [(e.system, e.retained_until, e.review_on) for e in await ledger.exceptions(done)]

    # -- the dashboard, as an auditor sees it ----------------------------------------------
    desk = await browser.new_page()
    await desk.goto(f"{base}/dashboard/login")
    await desk.fill("#token", made["audit"])
    await desk.click("button:has-text('Sign in')")

    async def section(title: str) -> str:
        heading = desk.locator(f"h2:has-text('{title}')")
        assert await heading.count() == 1, title
        table = desk.locator(f"h2:has-text('{title}') + table")
        return str(await table.inner_text()) if await table.count() else ""

    overdue = await section("Overdue")
    assert late in overdue and soon not in overdue and fresh not in overdue
    due_soon = await section("Due within 7 days")
    assert soon in due_soon and fresh not in due_soon
    assert escalated in await section("Escalated")
    awaiting = await section("Awaiting verification")
    assert all(rid in awaiting for rid in (late, soon, fresh))
    assert escalated not in awaiting and done not in awaiting
    expiring = await section("Exceptions expiring within 30 days")
    assert (
        done in expiring and kept[0].system in expiring and str(kept[0].retained_until) in expiring
    )
    assert all(rid not in expiring for rid in (late, soon, fresh, escalated))
    await shot(desk, "dashboard-sections")

    # The export links download every request, without identifiers.
    async with desk.expect_download() as downloading:
        await desk.click("#export-csv")
    download = await downloading.value
    assert download.suggested_filename == "lethe-requests.csv"
    exported = Path(await download.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert tuple(rows[0]) == COLUMNS
    by_id = {r["request_id"]: r for r in rows}
    assert set(by_id) == {late, soon, fresh, escalated, done}
    assert by_id[late]["overdue"] == "true" and by_id[fresh]["overdue"] == "false"
    assert by_id[late]["received_at"].startswith((now - timedelta(days=40)).date().isoformat())
    assert by_id[done]["status"] == "completed_with_exceptions"
    assert by_id[escalated]["status"] == "escalated"
    as_json = await desk.context.request.get(f"{base}/dashboard/export.json")
    assert {r["request_id"] for r in json.loads(await as_json.text())["requests"]} == set(by_id)

    # -- the API's export: audit may, intake may not; the same rows -------------------------
    api_csv = await http.get("/v1/export/requests?format=csv", headers=bearer(made["audit"]))
    assert api_csv.status_code == 200 and api_csv.headers["content-type"].startswith("text/csv")
    assert {r["request_id"] for r in csv.DictReader(io.StringIO(api_csv.text))} == set(by_id)
    api_json = await http.get("/v1/export/requests", headers=bearer(made["operate"]))
    assert {r["request_id"] for r in api_json.json()["requests"]} == set(by_id)
    refused = await http.get("/v1/export/requests", headers=bearer(intake))
    assert "needs the 'operate' or 'audit' scope" in one_line(refused, 403)
    for text in (exported, await as_json.text(), api_csv.text, api_json.text):
        for address in (LATE, SOON, FRESH, ESCALATED, SUBJECT.email):
            assert address not in text and address.split("@")[0] not in text
        assert "ps_" not in text and "subject" not in text
