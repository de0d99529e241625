"""The pages of ``lethe serve`` in a real browser: headless Chromium (Debian's, driven by
Playwright), against the application served by uvicorn with a real Temporal dev server,
worker, ledger and SMTP server.

Chromium is found at /usr/bin/chromium (LETHE_CHROMIUM elsewhere); without it the test skips
with a reason, or fails under LETHE_REQUIRE_SERVICES=1 (``.ci/run`` installs it).
LETHE_SCREENSHOTS=DIR writes a PNG of each page there (``make screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from activities import SmtpConfig, SmtpMailer
from ledger import Ledger
from lethe.demo.systems import SUBJECT, seed_demo_systems
from lethe.keys import Keyring
from lethe.runtime import Runtime, load_registry, open_ledger
from lethe.settings import IssuerSettings, build_connectors
from lethe.web.app import create_app
from tests.lethe.test_http_api import bearer, code_for, finished, tokens, web_settings
from tests.support.serving import served
from tests.support.smtp import smtp_server

pytestmark = [pytest.mark.slow]

CHROMIUM = os.environ.get("LETHE_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("LETHE_SCREENSHOTS")


def require_chromium() -> None:
    """Skip (or, with LETHE_REQUIRE_SERVICES=1, fail) when Chromium is not installed."""
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("LETHE_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and LETHE_REQUIRE_SERVICES=1")
    pytest.skip(message)


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def sealed(ledger: Ledger, request_id: str) -> None:
    for _ in range(300):
        if "sealed" in [e.kind for e in await ledger.events(request_id)]:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{request_id} was never sealed")


async def status_of(ledger: Ledger, request_id: str, wanted: str) -> None:
    for _ in range(300):
        if (await ledger.require_request(request_id)).status == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{request_id} never reached {wanted}")


async def test_a_requester_an_operator_and_a_certificate_in_a_browser(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    browser: Any,
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = web_settings(
        tmp_path,
        demo.systems,
        address=dev_server_env.client.service_client.config.target_host,
        queue=task_queue,
        requester_calls_per_minute=1000,
    )
    settings = type(settings)(
        **{
            **settings.__dict__,
            "issuer": IssuerSettings(
                organisation="Example Forum Ltd", contact="privacy@example.org"
            ),
        }
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    token = await tokens(ledger)
    app = create_app(settings, runtime=Runtime(settings, keys, ledger))
    try:
        async with served(app) as base:
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
                    submitted = await http.post(
                        "/v1/requests",
                        json={"email": SUBJECT.email, "verification": "email"},
                        headers=bearer(token["intake"]),
                    )
                    rid = submitted.json()["request_id"]
                    # What the requester has: the code's mail, with the request's status code.
                    code = await code_for(inbox, SUBJECT.email)
                    [mail] = [m for m in inbox.messages if code in m.get_content()]
                    found = re.search(r"this status code:\s+(\S+)", mail.get_content())
                    assert found is not None, mail.get_content()
                    mailed_token = found.group(1)

                    # -- the requester enters the code and sees the status change ------------------
                    page = await browser.new_page()
                    await page.goto(f"{base}/request")
                    await shot(page, "requester-sign-in")
                    await page.fill("#request_id", rid)
                    await page.fill("#status_token", "not the token")
                    await page.click("text=Show my request")
                    assert "No request opens" in await page.inner_text("[role=alert]")
                    await page.fill("#request_id", rid)
                    await page.fill("#status_token", mailed_token)
                    await page.click("text=Show my request")
                    before = await page.inner_text("#status")
                    assert before.startswith(("Received", "Waiting for us to confirm")), before
                    assert "We must answer by" in await page.inner_text("#deadline")
                    assert SUBJECT.email not in await page.content()
                    await shot(page, "requester-code")
                    await page.fill("#code", "00000000" if code != "00000000" else "11111111")
                    for _ in range(50):  # until the workflow has heard the mail went out
                        await page.click("text=Confirm it is me")
                        said = await page.inner_text("[role=alert]")
                        if "try again shortly" not in said:
                            break
                        await asyncio.sleep(0.1)
                    assert "That code was not accepted" in said or "wrong code" in said, said
                    await page.fill("#code", code)
                    await page.click("text=Confirm it is me")
                    assert "the code is right" in await page.inner_text("[role=status]")
                    await finished(ledger, rid)
                    await page.click("text=Refresh")
                    after = await page.inner_text("#status")
                    assert after.startswith("Done"), after
                    await shot(page, "requester-done")

                    # -- an auditor reads; an operator approves from the dashboard -----------------
                    other = (
                        await http.post(
                            "/v1/requests",
                            json={"email": "carol@example.org", "verification": "operator"},
                            headers=bearer(token["intake"]),
                        )
                    ).json()["request_id"]
                    await status_of(ledger, other, "awaiting_verification")
                    desk = await browser.new_page()
                    await desk.goto(f"{base}/dashboard")
                    assert desk.url.endswith("/dashboard/login")
                    await desk.fill("#token", token["audit"])
                    await desk.click("button:has-text('Sign in')")
                    assert other in await desk.inner_text("body")
                    await desk.click(f"a:has-text('{other}')")
                    assert (
                        await desk.locator("button:has-text('Approve')").count() == 0
                    )  # read-only
                    await desk.click("button:has-text('Sign out')")
                    assert desk.url.endswith("/dashboard/login")
                    await desk.fill("#token", token["operate"])
                    await desk.click("button:has-text('Sign in')")
                    awaiting = desk.locator("h2:has-text('Awaiting verification') + table")
                    assert other in await awaiting.inner_text()
                    await shot(desk, "dashboard")
                    await desk.click(f"a:has-text('{other}')")
                    await shot(desk, "request-awaiting-approval")
                    await desk.fill("#reason", "called back on the number on file")
                    await desk.click("button:has-text('Approve')")
                    assert "Approved as api:ops" in await desk.inner_text("[role=status]")
                    assert await finished(ledger, other) == "completed"
                    assert (await ledger.require_request(other)).verified_at is not None

                    # -- the certificate prints on at most two pages ----------------------------
                    await sealed(ledger, rid)
                    await desk.goto(f"{base}/dashboard/requests/{rid}")
                    await desk.click("text=Certificate of erasure")
                    text = await desk.inner_text("body")
                    assert "4 systems: 2 erased, 2 kept under a legal basis" in text
                    assert "Example Forum Ltd" in text
                    await shot(desk, "certificate")
                    pdf = await desk.pdf(format="A4", print_background=True)
                    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
                    assert 1 <= pages <= 2, pages
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
