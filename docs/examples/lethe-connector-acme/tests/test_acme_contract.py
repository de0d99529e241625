"""The fake Acme CRM answers as CONTRACT.md says, one test per line of the contract.

The conformance test proves the connector against the fake; this proves the fake against the
contract (raw HTTP, no connector), so a connector cannot pass by agreeing with a wrong fake.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fake_acme import FakeAcme, serve


@pytest.fixture
def acme() -> Iterator[FakeAcme]:
    with serve(FakeAcme(token="s3cret")) as fake:
        yield fake


def call(acme: FakeAcme, method: str, path: str, token: str | None = "s3cret") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(acme.url + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), json.loads(raw) if raw else None


def test_search_matches_substrings_case_insensitively_by_id(acme: FakeAcme) -> None:
    ada = acme.add("Ada@Example.org", "Ada")
    nada = acme.add("nada@example.org", "Nada")
    acme.add("grace@example.org", "Grace")
    status, _, body = call(acme, "GET", "/v1/contacts?email_contains=ADA%40example.org")
    assert status == 200 and body["next_page"] is None
    assert [c["id"] for c in body["contacts"]] == [ada, nada]
    assert body["contacts"][0] == {"id": ada, "email": "Ada@Example.org", "name": "Ada"}


def test_search_pages_hold_twenty_and_say_which_comes_next(acme: FakeAcme) -> None:
    ids = [acme.add(f"{n}@example.org", "x") for n in range(45)]
    pages = []
    page: int | None = 1
    while page is not None:
        status, _, body = call(acme, "GET", f"/v1/contacts?email_contains=example&page={page}")
        assert status == 200
        pages.append([c["id"] for c in body["contacts"]])
        page = body["next_page"]
    assert [len(p) for p in pages] == [20, 20, 5]
    assert [i for p in pages for i in p] == ids
    _, _, first = call(acme, "GET", "/v1/contacts?email_contains=example")
    assert [c["id"] for c in first["contacts"]] == pages[0] and first["next_page"] == 2


@pytest.mark.parametrize("query", ["", "?email_contains=", "?page=1"])
def test_search_without_text_is_refused(acme: FakeAcme, query: str) -> None:
    acme.add("ada@example.org", "Ada")
    assert call(acme, "GET", f"/v1/contacts{query}")[::2] == (
        400,
        {"error": "email_contains is required"},
    )


def test_delete_is_204_then_404(acme: FakeAcme) -> None:
    ada = acme.add("ada@example.org", "Ada")
    assert call(acme, "DELETE", f"/v1/contacts/{ada}")[::2] == (204, None)
    assert call(acme, "DELETE", f"/v1/contacts/{ada}")[::2] == (404, {"error": "not_found"})
    assert acme.contacts == {}


@pytest.mark.parametrize("token", [None, "wrong"])
def test_every_request_needs_the_token(acme: FakeAcme, token: str | None) -> None:
    ada = acme.add("ada@example.org", "Ada")
    for method, path in (
        ("GET", "/v1/contacts?email_contains=ada"),
        ("DELETE", f"/v1/contacts/{ada}"),
    ):
        assert call(acme, method, path, token)[::2] == (401, {"error": "unauthorized"})
    assert ada in acme.contacts


def test_rate_limits_and_outages_answer_any_request(acme: FakeAcme) -> None:
    ada = acme.add("ada@example.org", "Ada")
    acme.faults += [(429, {"Retry-After": "7"}), (503, {})]
    status, headers, _ = call(acme, "DELETE", f"/v1/contacts/{ada}")
    assert status == 429 and headers["Retry-After"] == "7"
    assert call(acme, "GET", "/v1/contacts?email_contains=ada")[0] == 503
    assert ada in acme.contacts  # refused requests change nothing
    assert call(acme, "DELETE", f"/v1/contacts/{ada}")[0] == 204
