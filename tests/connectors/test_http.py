"""The ``http`` connector beyond the kit: spec files and their errors, identifiers sent only
where the spec says, a fuzzy vendor search's look-alikes left alone, 429/5xx/timeouts, the
Link header's origin, the presets' own promises (Discourse's two modes, HubSpot's blocklist,
Mailchimp's permanent delete and suppression entry)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import (
    BlastRadiusExceeded,
    ConnectorConfigError,
    ConnectorRegistry,
    Erased,
    NotFound,
    PermanentError,
    Retained,
    Subject,
    TransientError,
)
from connectors._journal import MemoryJournal, using_journal
from connectors.http import HttpConnector, SyncHttpConnector, presets
from connectors.http_spec import SpecError, parse_spec
from connectors.testing.fakes.discourse import FakeDiscourse
from connectors.testing.fakes.hubspot import FakeHubSpot
from connectors.testing.fakes.mailchimp import FakeMailchimp, subscriber_hash
from connectors.testing.fakes.server import serve
from tests.support.canary import names_mailbox

ADA = Subject(ref="ref-ada", email="ada@example.org", jurisdiction="gdpr")
SPECS = Path(__file__).resolve().parent / "specs"


def build(**options: Any) -> HttpConnector:
    c = ConnectorRegistry().build("svc", "connectors.http:HttpConnector", options)
    assert isinstance(c, HttpConnector)
    return c


@pytest.fixture
def journal() -> Iterator[MemoryJournal]:
    j = MemoryJournal()
    with using_journal(j):
        yield j


@pytest.fixture
def discourse() -> Iterator[FakeDiscourse]:
    with serve(FakeDiscourse("k", page_size=3)) as fake:
        yield fake
        assert not fake.violations, fake.violations


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with serve(FakeHubSpot("t", page_size=3)) as fake:
        yield fake
        assert not fake.violations, fake.violations


@pytest.fixture
def mailchimp() -> Iterator[FakeMailchimp]:
    with serve(FakeMailchimp("mc-key", ("l1", "l2"), page_size=3)) as fake:
        yield fake
        assert not fake.violations, fake.violations


# -- spec files -------------------------------------------------------------------------------


def test_the_presets_ship_and_load() -> None:
    assert presets() == ["discourse", "hubspot", "mailchimp"]
    for name in presets():
        options = {"preset": name, "base_url": "https://svc.example", "token": "t"}
        options |= {"api_key": "k", "password": "p", "params": {}}
        if name == "mailchimp":
            options["params"] = {"list_ids": ["l1"]}
        assert isinstance(build(**options), SyncHttpConnector)


def test_a_spec_with_a_status_poll_claims_async() -> None:
    c = build(
        spec=str(SPECS / "acmedesk.toml"),
        base_url="https://desk.example",
        client_id="c",
        client_secret="s",
    )
    assert type(c) is HttpConnector and "async" in c.capabilities


def _spec_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "svc.toml"
    path.write_text(text)
    with pytest.raises(ConnectorConfigError) as err:
        build(spec=str(path), base_url="https://svc.example", token="t")
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    return message


GOOD = (SPECS / "acmedesk.toml").read_text()


def test_a_spec_error_names_the_file_the_key_and_the_line(tmp_path: Path) -> None:
    bad = GOOD.replace('action = "deleted"', 'action = "Deleted!"')
    line = bad.splitlines().index('action = "Deleted!"') + 1
    message = _spec_error(tmp_path, bad)
    assert f"svc.toml:{line}: erase[0].action" in message


def test_an_identifier_outside_the_lookup_is_refused_when_the_spec_loads(tmp_path: Path) -> None:
    bad = GOOD.replace('path = "/api/v2/customers/{id}"', 'path = "/api/v2/customers/{email}"')
    message = _spec_error(tmp_path, bad)
    assert "sends the identifier {email}" in message and "erase[0]" in message


def test_a_lookup_sending_an_identifier_it_does_not_list_is_refused(tmp_path: Path) -> None:
    bad = GOOD.replace('identifiers = ["email_needle"]', 'identifiers = ["email"]')
    assert "without listing it in identifiers" in _spec_error(tmp_path, bad)


def test_a_lookup_matched_by_name_alone_is_refused(tmp_path: Path) -> None:
    bad = GOOD.replace('match = { email = "/email" }', 'match = { name = "/name" }')
    assert "identifying kind" in _spec_error(tmp_path, bad)


def test_broken_toml_and_unknown_presets_are_one_line_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in _spec_error(tmp_path, GOOD + "\n[[[")
    with pytest.raises(ConnectorConfigError, match=r"unknown preset 'hubspoot' \(known: disc"):
        build(preset="hubspoot", base_url="https://x.example", token="t")
    with pytest.raises(ConnectorConfigError, match="give token_env"):
        build(preset="hubspot", base_url="https://x.example")
    with pytest.raises(ConnectorConfigError, match=r"params.mode: one of anonymize, delete"):
        build(preset="discourse", base_url="https://x.example", api_key="k", params={"mode": "x"})
    with pytest.raises(ConnectorConfigError, match=r"params\.list_ids: required"):
        build(preset="mailchimp", base_url="https://x.example", password="k")


def test_parse_spec_keeps_the_file_name_even_for_a_toml_error() -> None:
    with pytest.raises(SpecError, match=r"^mine.toml: not valid TOML"):
        parse_spec("title = ", "mine.toml")


# -- what is sent where -----------------------------------------------------------------------


async def test_identifiers_go_only_into_the_lookup(
    discourse: FakeDiscourse, journal: MemoryJournal
) -> None:
    discourse.add("Ada@Example.org", "ada_b", "Ada Byron")
    c = build(preset="discourse", base_url=discourse.url, api_key="k")
    async with c:
        outcome = await c.erase(ADA, "er-1")
    assert isinstance(outcome, Erased)
    lookups = [r for r in discourse.requests if r.startswith("GET /admin/users/list")]
    others = [r for r in discourse.requests if r not in lookups]
    assert lookups and all("ada@example.org" in r for r in lookups)
    assert others == ["PUT /admin/users/1/anonymize.json"]
    assert not names_mailbox(repr(outcome)) and not names_mailbox(repr(journal.entries))


async def test_a_fuzzy_search_returns_lookalikes_and_only_the_subject_is_erased(
    discourse: FakeDiscourse, journal: MemoryJournal
) -> None:
    others = ["nada@example.org", "ada@example.org.uk", "ada@example.org ", "ADA@EXAMPLE.ORG\u200b"]
    for n, email in enumerate(others):
        discourse.add(email, f"other{n}", "Someone Else")
    discourse.add("ADA@example.ORG", "ada_b", "Ada Byron")
    before = {i: dict(u) for i, u in discourse.users.items()}
    c = build(preset="discourse", base_url=discourse.url, api_key="k")
    async with c:
        plan = await c.plan(ADA)
        outcome = await c.erase(ADA, "er-1")
        residual = await c.verify(ADA)
    assert plan.counts == {"users.anonymised": 1}
    assert isinstance(outcome, Erased) and outcome.counts == {"users.anonymised": 1}
    # The search answered all five (two pages); four are someone else and stay as they were.
    assert sum(r.startswith("GET /admin/users/list") for r in discourse.requests) >= 2
    assert {i: discourse.users[i] for i in range(1, 5)} == {i: before[i] for i in range(1, 5)}
    assert discourse.users[5]["email"].endswith("@anonymized.invalid")
    # Two differ from her address only by what surrounds it: verify says so.
    assert residual.remaining == {"users.lookalike": 2}


async def test_discourse_anonymise_keeps_posts_and_delete_removes_them(
    discourse: FakeDiscourse, journal: MemoryJournal
) -> None:
    discourse.add("ada@example.org", "ada_b", "Ada", posts=3)
    c = build(preset="discourse", base_url=discourse.url, api_key="k")
    async with c:
        await c.erase(ADA, "er-1")
    assert len(discourse.posts) == 3 and discourse.users[1]["username"] == "anon1"
    discourse.add("ada@example.org", "ada_c", "Ada", posts=2)
    c = build(preset="discourse", base_url=discourse.url, api_key="k", params={"mode": "delete"})
    async with c:
        outcome = await c.erase(ADA, "er-2")
    assert isinstance(outcome, Erased) and outcome.counts == {"users.deleted": 1}
    assert 2 not in discourse.users and len(discourse.posts) == 3  # the first user's stay


async def test_hubspot_gdpr_deletes_by_id_never_by_address(
    hubspot: FakeHubSpot, journal: MemoryJournal
) -> None:
    hubspot.add("ada@example.org")
    hubspot.add("nada@example.org")
    c = build(preset="hubspot", base_url=hubspot.url, token="t")
    async with c:
        outcome = await c.erase(ADA, "er-1")
        assert (await c.verify(ADA)).clean
    assert isinstance(outcome, Erased) and outcome.counts == {"contacts.gdpr_deleted": 1}
    assert outcome.evidence["contacts_ids"] == ["101"]
    assert list(hubspot.contacts) == ["102"] and hubspot.blocklist == set()


async def test_mailchimp_deletes_permanently_everywhere_and_keeps_a_suppression_entry(
    mailchimp: FakeMailchimp, journal: MemoryJournal
) -> None:
    for lid in ("l1", "l2"):
        mailchimp.add(lid, "Ada@Example.org")
        mailchimp.add(lid, "nada@example.org")
    c = build(
        preset="mailchimp",
        base_url=mailchimp.url,
        password="mc-key",
        params={"list_ids": ["l1", "l2"]},
    )
    async with c:
        outcome = await c.erase(ADA, "er-1")
        assert (await c.verify(ADA)).clean
    assert isinstance(outcome, Retained)
    assert outcome.counts == {"members.deleted_permanently": 2}
    assert outcome.legal_basis == "suppression" and outcome.retained_counts == {
        "suppression.kept": 1
    }
    assert outcome.review_on == date.today() + timedelta(days=365)
    # Not archived: gone, and the address cannot be added again.
    h = subscriber_hash("Ada@Example.org")
    assert all(h not in m for m in mailchimp.lists.values())
    assert all(h in f for f in mailchimp.forgotten.values())
    # The member id is a hash of the address: neither evidence nor journal holds it.
    assert h not in repr(outcome) and h not in repr(journal.entries)
    assert hashlib.md5(b"ada@example.org").hexdigest() == h
    # The search sent nothing of her: the audiences were read page by page.
    assert not any(names_mailbox(r) for r in mailchimp.requests if r.startswith("GET"))


async def test_an_unknown_audience_is_an_error_not_nothing_found(
    mailchimp: FakeMailchimp, journal: MemoryJournal
) -> None:
    c = build(
        preset="mailchimp", base_url=mailchimp.url, password="mc-key", params={"list_ids": ["zz"]}
    )
    async with c:
        with pytest.raises(PermanentError, match="answered 404"):
            await c.erase(ADA, "er-1")


async def test_the_blast_radius_guard_counts_every_audience_before_deleting(
    mailchimp: FakeMailchimp, journal: MemoryJournal
) -> None:
    for lid in ("l1", "l2"):
        mailchimp.add(lid, "ada@example.org")
    c = build(
        preset="mailchimp",
        base_url=mailchimp.url,
        password="mc-key",
        params={"list_ids": ["l1", "l2"]},
        max_items=1,
    )
    async with c:
        with pytest.raises(BlastRadiusExceeded):
            await c.erase(ADA, "er-1")
    assert all(len(m) == 1 for m in mailchimp.lists.values())
    assert not [r for r in mailchimp.requests if r.startswith("POST")]


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", timedelta(seconds=7)), ("Wed, 21 Oct 2099 07:28:00 GMT", None)],
)
async def test_429_passes_retry_after_on(
    hubspot: FakeHubSpot, journal: MemoryJournal, retry_after: str, expected: timedelta | None
) -> None:
    hubspot.add("ada@example.org")
    hubspot.fault(429, retry_after=retry_after)
    c = build(preset="hubspot", base_url=hubspot.url, token="t", retries=3)
    async with c:
        with pytest.raises(TransientError) as err:
            await c.erase(ADA, "er-1")
    wait = err.value.retry_after
    assert wait is not None and (wait == expected if expected else wait > timedelta(days=1))
    assert len(hubspot.contacts) == 1 and len(hubspot.requests) == 1  # 429: no quick retry


async def test_a_5xx_is_retried_with_back_off_then_passed_on(
    hubspot: FakeHubSpot, journal: MemoryJournal
) -> None:
    hubspot.add("ada@example.org")
    hubspot.fault(503)
    hubspot.fault(502)
    c = build(preset="hubspot", base_url=hubspot.url, token="t", retries=2, backoff_seconds=0.01)
    async with c:
        outcome = await c.erase(ADA, "er-1")
    assert isinstance(outcome, Erased) and not hubspot.contacts
    assert len(hubspot.requests) == 4  # 503, 502, the search, the delete
    hubspot.add("ada@example.org")
    for _ in range(3):
        hubspot.fault(500)
    c = build(preset="hubspot", base_url=hubspot.url, token="t", retries=2, backoff_seconds=0.01)
    async with c:
        with pytest.raises(TransientError, match="answered 500"):
            await c.erase(ADA, "er-2")


async def test_bad_credentials_are_permanent(hubspot: FakeHubSpot, journal: MemoryJournal) -> None:
    c = build(preset="hubspot", base_url=hubspot.url, token="wrong")
    async with c:
        with pytest.raises(PermanentError, match="credentials refused"):
            await c.check()


async def test_a_service_that_does_not_answer_times_out_as_transient(
    journal: MemoryJournal,
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        c = build(preset="hubspot", base_url=url, token="t", timeout_seconds=0.3, retries=0)
        async with c:
            with pytest.raises(TransientError, match="timed out"):
                await c.erase(ADA, "er-1")
    finally:
        silent.close()


async def test_a_refused_connection_is_transient(journal: MemoryJournal) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = build(preset="hubspot", base_url=f"http://127.0.0.1:{port}", token="t", retries=0)
    async with c:
        with pytest.raises(TransientError, match="unreachable"):
            await c.erase(ADA, "er-1")


async def test_an_interrupted_erase_is_finished_and_counted_by_the_retry(
    hubspot: FakeHubSpot, journal: MemoryJournal
) -> None:
    hubspot.add("ada@example.org")
    hubspot.add("Ada@example.org")
    c = build(preset="hubspot", base_url=hubspot.url, token="t", retries=0)
    hubspot.faults[:] = []
    async with c:
        # The search, the first delete, then the service goes down: a transient failure.
        original = hubspot.route
        calls = 0

        def flaky(method: str, path: str, query: Any, body: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 3:
                return 503, {}, hubspot.error_body(503)
            return original(method, path, query, body)

        hubspot.route = flaky  # type: ignore[method-assign]
        with pytest.raises(TransientError):
            await c.erase(ADA, "er-1")
        assert len(hubspot.contacts) == 1
        outcome = await c.erase(ADA, "er-1")
    assert isinstance(outcome, Erased) and outcome.counts == {"contacts.gdpr_deleted": 2}
    assert outcome.evidence["erased_by_an_interrupted_attempt"] == 1
    assert not hubspot.contacts


async def test_an_unknown_subject_sends_no_delete(
    hubspot: FakeHubSpot, journal: MemoryJournal
) -> None:
    hubspot.add("nada@example.org")
    c = build(preset="hubspot", base_url=hubspot.url, token="t")
    async with c:
        assert isinstance(await c.erase(ADA, "er-1"), NotFound)
    assert [r.split("?")[0] for r in hubspot.requests] == ["POST /crm/v3/objects/contacts/search"]


async def test_a_link_to_another_origin_is_not_followed(journal: MemoryJournal) -> None:
    from connectors.testing.fakes.acmedesk import FakeAcmeDesk

    with serve(FakeAcmeDesk("c", "s", page_size=1)) as desk:
        desk.add("ada@example.org", "Ada")
        desk.add("xada@example.org", "X")
        real, desk.url = desk.url, "http://elsewhere.invalid"  # its Link headers point there
        c = build(
            spec=str(SPECS / "acmedesk.toml"),
            base_url=real,
            client_id="c",
            client_secret="s",
        )
        async with c:
            with pytest.raises(PermanentError, match="another origin"):
                await c.plan(ADA)


async def test_an_expired_oauth_token_is_renewed_once(journal: MemoryJournal) -> None:
    from connectors.testing.fakes.acmedesk import FakeAcmeDesk

    with serve(FakeAcmeDesk("c", "s")) as desk:
        desk.add("ada@example.org", "Ada")
        c = build(
            spec=str(SPECS / "acmedesk.toml"), base_url=desk.url, client_id="c", client_secret="s"
        )
        async with c:
            assert (await c.plan(ADA)).counts == {"customers.deleted": 1}
            desk.expire_tokens()
            assert (await c.plan(ADA)).counts == {"customers.deleted": 1}
        assert desk.tokens_issued == 2
        assert not desk.violations


async def test_check_reads_one_page_only(mailchimp: FakeMailchimp, journal: MemoryJournal) -> None:
    for n in range(10):
        mailchimp.add("l1", f"{n}@example.org")
    c = build(
        preset="mailchimp", base_url=mailchimp.url, password="mc-key", params={"list_ids": ["l1"]}
    )
    async with c:
        await c.check()
    assert mailchimp.requests == ["GET /3.0/lists/l1/members?{'count': '1000', 'offset': '0'}"]


async def test_a_verify_lookup_of_its_own_sends_only_what_it_lists(
    tmp_path: Path, journal: MemoryJournal
) -> None:
    from connectors.testing.fakes.acmedesk import FakeAcmeDesk

    # Verify asks for the whole address (a search the service runs more precisely), where the
    # look-up used only its longest ASCII run.
    spec = tmp_path / "desk.toml"
    spec.write_text(
        GOOD
        + """
[verify]
path = "/api/v2/customers"
query = { email_contains = "{email}" }
identifiers = ["email"]
records = "/customers"
id = "/id"
match = { email = "/email" }
"""
    )
    zoe = Subject(ref="ref-zoe", email="zoë@example.org")
    with serve(FakeAcmeDesk("c", "s", job_polls=0)) as desk:
        desk.add("zoë@example.org", "Zoë")
        desk.add("zoe@example.org", "Zoe")
        c = build(spec=str(spec), base_url=desk.url, client_id="c", client_secret="s")
        async with c:
            assert (await c.plan(zoe)).counts == {"customers.deleted": 1}
            assert not (await c.verify(zoe)).clean
        searched = [r for r in desk.requests if r.startswith("GET /api/v2/customers")]
        assert searched == [
            "GET /api/v2/customers?{'email_contains': '@example.org'}",
            "GET /api/v2/customers?{'email_contains': 'zoë@example.org'}",
        ]
        assert not desk.violations


def test_a_base_url_is_http_without_credentials() -> None:
    for url, message in (
        ("ftp://svc.example", "http:// or https://"),
        ("https://user:pw@svc.example", "must not hold credentials"),
    ):
        with pytest.raises(ConnectorConfigError, match=message):
            build(preset="hubspot", base_url=url, token="t")


def test_params_that_select_no_erase_request_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "[[erase]]\n",
        '[variables.mode]\nchoices = ["a", "b"]\n\n[[erase]]\nwhen = { mode = "a" }\n',
    )
    path = tmp_path / "modes.toml"
    path.write_text(text)
    options = {"spec": str(path), "base_url": "https://x.example", "client_id": "c"}
    build(**options, client_secret="s", params={"mode": "a"})
    with pytest.raises(ConnectorConfigError, match=r"no \[\[erase\]\] request .* applies"):
        build(**options, client_secret="s", params={"mode": "b"})
