"""The ``webhook`` connector beyond the kit: Standard Webhooks signatures (good, bad, old,
missing; checked against the spec's own algorithm written out here), what it sends a processor
(OpenDSR shapes, identifiers only in the body, hashed when asked), and how it reads answers
(cancelled, back-off, the processor's promised time)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from connectors import ConnectorRegistry, PermanentError, Subject
from connectors._outcomes import Erased, NotFound, NotSearched, Pending
from connectors.testing.fakes.opendsr import FakeProcessor
from connectors.testing.fakes.server import serve
from connectors.webhook import (
    WebhookConnector,
    WebhookOptions,
    decode_ticket,
    outcome_of_status,
    subject_request_id,
)
from connectors.webhook_signing import (
    SignatureRefused,
    new_secret,
    secret_key,
    sign,
    signed_headers,
    verify,
)
from tests.support.canary import names_mailbox

SECRET = new_secret()
SRID = subject_request_id("p", "er-1")
ADA = Subject(ref="ps-ada", email="ada@example.org")


def _reference_signature(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    """The Standard Webhooks algorithm, as its specification writes it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_signature_is_the_standard_webhooks_one() -> None:
    body = b'{"a":1}'
    assert sign(SECRET, "msg_1", 1700000000, body) == _reference_signature(
        SECRET, "msg_1", 1700000000, body
    )


def test_a_good_signature_verifies_and_gives_the_message_id() -> None:
    body = b'{"request_status":"completed"}'
    headers = signed_headers(SECRET, "msg_42", body)
    assert verify(SECRET, headers, body) == "msg_42"
    # Header names are case-insensitive; a rotated secret's extra entry does not hurt.
    other = sign(new_secret(), "msg_42", int(headers["webhook-timestamp"]), body)
    mixed = {
        "Webhook-Id": "msg_42",
        "Webhook-Timestamp": headers["webhook-timestamp"],
        "Webhook-Signature": f"{other} {headers['webhook-signature']}",
    }
    assert verify(SECRET, mixed, body) == "msg_42"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b + b" "), "bad_signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "bad_timestamp"),
    ],
)
def test_a_bad_signature_is_refused(tamper, reason) -> None:  # type: ignore[no-untyped-def]
    body = b'{"x":1}'
    headers, sent = tamper(signed_headers(SECRET, "msg_1", body), body)
    with pytest.raises(SignatureRefused) as err:
        verify(SECRET, headers, sent)
    assert err.value.reason == reason


def test_another_secret_is_refused() -> None:
    body = b"{}"
    with pytest.raises(SignatureRefused) as err:
        verify(SECRET, signed_headers(new_secret(), "msg_1", body), body)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("age", [301, -301, 86400])
def test_a_timestamp_more_than_five_minutes_off_is_refused(age: int) -> None:
    body = b"{}"
    now = 1_800_000_000
    headers = signed_headers(SECRET, "msg_1", body, timestamp=now - age)
    with pytest.raises(SignatureRefused) as err:
        verify(SECRET, headers, body, now=now)
    assert err.value.reason == "old_timestamp"
    # Within the tolerance, the same message passes.
    fresh = signed_headers(SECRET, "msg_1", body, timestamp=now - 299)
    assert verify(SECRET, fresh, body, now=now) == "msg_1"


@pytest.mark.parametrize("secret", ["plain", "whsec_", "whsec_!!!", "whsec_" + "QUJD"])
def test_a_secret_that_is_not_whsec_base64_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        secret_key(secret)
    with pytest.raises(ValidationError):
        WebhookOptions(url="https://processor.example/opendsr", secret=secret)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["ftp://processor.example", "https://processor.example/x?email=a", "processor"]
)
def test_a_url_that_is_not_plain_http_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        WebhookOptions(url=url, secret=SECRET)  # type: ignore[arg-type]


def test_the_subject_request_id_is_a_v4_uuid_per_system_and_round() -> None:
    first = subject_request_id("proc", "er-1")
    assert first == subject_request_id("proc", "er-1")  # a retry sends the same
    assert first != subject_request_id("proc", "er-1/round-1")
    assert first != subject_request_id("other", "er-1")
    assert first[14] == "4" and first[19] in "89ab"


@pytest.fixture
def processor() -> Iterator[FakeProcessor]:
    with serve(FakeProcessor(SECRET, answer="later", polls=1)) as fake:
        yield fake
        assert not fake.violations, fake.violations


def _build(fake: FakeProcessor, **options: object) -> WebhookConnector:
    connector = ConnectorRegistry().build(
        "processor",
        "connectors.webhook:WebhookConnector",
        {"url": f"{fake.url}/opendsr", "secret": SECRET, "backoff_seconds": 0.01, **options},
    )
    assert isinstance(connector, WebhookConnector)
    return connector


async def test_the_request_is_opendsr_and_identifiers_stay_in_its_body(
    processor: FakeProcessor,
) -> None:
    processor.add("ada@example.org", "Ada")
    async with _build(processor, callback_url="https://lethe.example/v1/callbacks/webhook/p") as c:
        first = await c.erase(ADA, "er-0001")
        assert isinstance(first, Pending)
        body = processor.bodies[0]
        assert body["subject_request_type"] == "erasure" and body["api_version"] == "2.0"
        assert body["subject_identities"] == [
            {
                "identity_type": "email",
                "identity_value": "ada@example.org",
                "identity_format": "raw",
            }
        ]
        assert body["status_callback_urls"] == ["https://lethe.example/v1/callbacks/webhook/p"]
        final = await c.status(first.ticket)
        while isinstance(final, Pending):
            final = await c.status(final.ticket)
    assert isinstance(final, Erased) and final.counts == {"records.deleted": 1}
    assert not processor.records
    for line in processor.requests:
        assert not names_mailbox(line)
    assert "ada@" not in repr(first) + repr(final) + first.ticket.lower()
    assert len(first.ticket) <= 200  # the ledger's ticket column


async def test_hashed_identities_are_sent_as_sha256_of_the_normal_form(
    processor: FakeProcessor,
) -> None:
    processor.add("Ada@Example.org", "Ada")
    processor.add("ada@example.org.evil", "Eve")
    async with _build(processor, hash_identities=True) as c:
        outcome = await c.erase(Subject(ref="ps", email="ADA@example.org"), "er-0002")
        sent = processor.bodies[0]["subject_identities"][0]
        assert sent["identity_format"] == "sha256" and "@" not in sent["identity_value"]
        while isinstance(outcome, Pending):
            outcome = await c.status(outcome.ticket)
    assert isinstance(outcome, Erased)
    assert [r["name"] for r in processor.records.values()] == ["Eve"]


async def test_a_subject_lacking_a_configured_identifier_is_not_searched_for_it(
    processor: FakeProcessor,
) -> None:
    processor.add("ada@example.org", "Ada")
    async with _build(processor, identities=["email", "customer_id"]) as c:
        outcome = await c.erase(ADA, "er-0003")
        while isinstance(outcome, Pending):
            outcome = await c.status(outcome.ticket)
    assert isinstance(outcome, NotSearched) and outcome.missing == ("customer_id",)
    assert outcome.counts == {"records.deleted": 1}


def _ticket(sent: datetime) -> str:
    from connectors.webhook import _encode_ticket

    return _encode_ticket(
        {"id": SRID, "key": "er-1", "sent": sent.isoformat(), "due": None, "missing": []}
    )


def test_polls_back_off_doubling_up_to_the_longest_interval() -> None:
    status = {"subject_request_id": SRID, "request_status": "in_progress"}
    ticket, waits = _ticket(datetime.now(UTC)), []
    for _ in range(8):
        answer = outcome_of_status(
            status, ticket, poll_after=timedelta(hours=1), longest=timedelta(hours=24)
        )
        assert isinstance(answer, Pending)
        assert decode_ticket(answer.ticket)["id"] == SRID  # the same request, one poll on
        ticket = answer.ticket
        waits.append(answer.poll_after.total_seconds() / 3600)
    assert waits == [1, 2, 4, 8, 16, 24, 24, 24]


def test_answers_that_are_not_an_erasure_are_refused() -> None:
    ticket = _ticket(datetime.now(UTC))
    for status in (
        {"subject_request_id": SRID, "request_status": "cancelled"},
        {"subject_request_id": SRID, "request_status": "lost"},
        {"subject_request_id": "another", "request_status": "completed"},
        {"subject_request_id": SRID, "request_status": "completed", "result": "maybe"},
    ):
        with pytest.raises(PermanentError):
            outcome_of_status(status, ticket)
    done = {"subject_request_id": SRID, "request_status": "completed", "result": "not_found"}
    assert isinstance(outcome_of_status(done, ticket), NotFound)
    with pytest.raises(PermanentError):
        decode_ticket("http1:abc")


async def test_the_promised_time_travels_in_the_ticket_and_the_evidence(
    processor: FakeProcessor,
) -> None:
    processor.add("ada@example.org", "Ada")
    async with _build(processor) as c:
        first = await c.erase(ADA, "er-0004")
    assert isinstance(first, Pending)
    due = datetime.fromisoformat(decode_ticket(first.ticket)["due"])
    promised = datetime.fromisoformat(processor.dsrs[decode_ticket(first.ticket)["id"]]["due"])
    assert due == promised.replace(microsecond=0)  # the ticket keeps whole seconds
    assert first.evidence["expected_completion_time"] == promised.isoformat()
    assert json.dumps(dict(first.evidence))  # plain JSON evidence


async def test_check_passes_with_the_secret_and_fails_without(processor: FakeProcessor) -> None:
    async with _build(processor) as good:
        await good.check()  # the processor answered 404 for a request it does not have
    async with _build(processor, secret=new_secret()) as wrong:
        with pytest.raises(PermanentError, match="401"):
            await wrong.check()


def test_the_fake_processor_holds_requests_and_answers_to_its_contract() -> None:
    """Raw HTTP at the local processor: what breaks the written contract is caught on either
    side (a missing signature header, an identifier-free body), and what keeps it is answered
    as the contract declares."""
    import httpx

    with serve(FakeProcessor(SECRET, answer="now")) as fake:
        fake.add("ada@example.org", "Ada")
        srid = subject_request_id("p", "er-raw")
        request = {
            "api_version": "2.0",
            "regulation": "gdpr",
            "subject_request_id": srid,
            "subject_request_type": "erasure",
            "submitted_time": "2026-12-06T10:00:00+00:00",
            "subject_identities": [
                {
                    "identity_type": "email",
                    "identity_value": "ada@example.org",
                    "identity_format": "raw",
                }
            ],
        }
        raw = json.dumps(request).encode()
        with httpx.Client(base_url=fake.url) as http:
            unsigned = http.post("/opendsr/requests", content=raw)
            assert unsigned.status_code == 400
            assert any("webhook-signature" in v for v in fake.violations)
            fake.violations.clear()
            empty = json.dumps({**request, "subject_identities": []}).encode()
            refused = http.post(
                "/opendsr/requests", content=empty, headers=signed_headers(SECRET, "m0", empty)
            )
            assert refused.status_code == 400 and any(
                "subject_identities" in v for v in fake.violations
            )
            fake.violations.clear()
            forged = http.post(
                "/opendsr/requests", content=raw, headers=signed_headers(new_secret(), "m1", raw)
            )
            assert forged.status_code == 401 and fake.records
            done = http.post(
                "/opendsr/requests", content=raw, headers=signed_headers(SECRET, "m2", raw)
            )
            assert done.status_code == 201 and done.json()["request_status"] == "completed"
            assert done.json()["counts"] == {"records.deleted": 1} and not fake.records
            again = http.get(f"/opendsr/requests/{srid}", headers=signed_headers(SECRET, "m3", b""))
            assert again.status_code == 200 and again.json()["result"] == "erased"
            missing = http.get(
                f"/opendsr/requests/{subject_request_id('p', 'other')}",
                headers=signed_headers(SECRET, "m4", b""),
            )
            assert missing.status_code == 404
        assert not fake.violations, fake.violations
