"""The fakes against their contracts (connectors/testing/fakes/contracts/*.yaml), with raw
HTTP: every documented answer is given as documented, and the validator catches what breaks a
contract, on either side. The conformance suites then prove the presets against the contracts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.testing.fakes.acmedesk import FakeAcmeDesk
from connectors.testing.fakes.contract import CONTRACTS, Contract
from connectors.testing.fakes.discourse import FakeDiscourse
from connectors.testing.fakes.hubspot import FakeHubSpot
from connectors.testing.fakes.mailchimp import FakeMailchimp, subscriber_hash
from connectors.testing.fakes.server import serve


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with serve(FakeHubSpot("t", page_size=2)) as fake:
        yield fake


def _search(email: str, after: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": email}]}
        ],
        "properties": ["email"],
        "limit": 100,
    }
    return body | ({"after": after} if after else {})


def test_every_contract_loads_and_declares_its_answers() -> None:
    names = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))
    assert names == ["acmedesk", "discourse", "hubspot", "mailchimp", "opendsr"]
    for name in names:
        contract = Contract(name)
        assert contract.operations
        for op in contract.operations:
            assert op.spec.get("responses"), f"{name} {op.method} {op.template}"


def test_hubspot_answers_as_its_contract_says(hubspot: FakeHubSpot) -> None:
    for n in range(3):
        hubspot.add(f"{n}ada@example.org")
    auth = {"Authorization": "Bearer t"}
    with httpx.Client(base_url=hubspot.url, headers=auth) as http:
        first = http.post("/crm/v3/objects/contacts/search", json=_search("*ada@example.org"))
        assert first.status_code == 200 and first.json()["total"] == 3
        after = first.json()["paging"]["next"]["after"]
        last = http.post("/crm/v3/objects/contacts/search", json=_search("*ada@*", after))
        assert len(last.json()["results"]) == 1 and "paging" not in last.json()
        eq = _search("1ADA@example.org") | {}
        eq["filterGroups"][0]["filters"][0]["operator"] = "EQ"
        assert http.post("/crm/v3/objects/contacts/search", json=eq).json()["total"] == 1
        gone = http.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "101"})
        assert gone.status_code == 204 and gone.content == b""
        again = http.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "101"})
        assert again.status_code == 404 and again.json()["category"] == "OBJECT_NOT_FOUND"
        by_address = {"objectId": "never@example.org", "idProperty": "email"}
        assert http.post("/crm/v3/objects/contacts/gdpr-delete", json=by_address).status_code == 204
        assert hubspot.blocklist == {"never@example.org"}
        hubspot.fault(429, retry_after="2")
        limited = http.post("/crm/v3/objects/contacts/search", json=_search("*"))
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        hubspot.fault(503)
        assert http.post("/crm/v3/objects/contacts/search", json=_search("*")).status_code == 503
        denied = http.post(
            "/crm/v3/objects/contacts/search", json=_search("*"), headers={"Authorization": "x"}
        )
        assert denied.status_code == 401 and denied.json()["category"] == "INVALID_AUTHENTICATION"
    assert hubspot.violations == []


def test_discourse_answers_as_its_contract_says() -> None:
    with serve(FakeDiscourse("k", page_size=2)) as fake:
        for n in range(3):
            fake.add(f"{n}ada@example.org", f"user{n}", "N")
        auth = {"Api-Key": "k", "Api-Username": "system"}
        with httpx.Client(base_url=fake.url, headers=auth) as http:
            listing = "/admin/users/list/all.json"
            page1 = http.get(listing, params={"filter": "ada@", "show_emails": "true"}).json()
            page2 = http.get(listing, params={"filter": "ada@", "show_emails": "true", "page": 2})
            page3 = http.get(listing, params={"filter": "ada@", "show_emails": "true", "page": 3})
            assert [len(page1), len(page2.json()), page3.json()] == [2, 1, []]
            hidden = http.get(listing, params={"filter": "ada@"}).json()
            assert all("email" not in u for u in hidden)
            anon = http.put("/admin/users/1/anonymize.json")
            assert anon.json() == {"success": "OK", "username": "anon1"}
            refused = http.request("DELETE", "/admin/users/2.json", json={})
            assert refused.status_code == 403
            deleted = http.request("DELETE", "/admin/users/2.json", json={"delete_posts": True})
            assert deleted.json() == {"deleted": True} and len(fake.posts) == 2
            assert http.put("/admin/users/99/anonymize.json").status_code == 404
            fake.fault(429, retry_after="30")
            limited = http.get(listing)
            assert limited.status_code == 429 and limited.json()["error_type"] == "rate_limit"
            assert http.get(listing, headers={"Api-Key": "bad"}).status_code == 403
        assert fake.violations == []


def test_mailchimp_answers_as_its_contract_says() -> None:
    with serve(FakeMailchimp("key", ("l1",), page_size=2)) as fake:
        for n in range(3):
            fake.add("l1", f"{n}ada@example.org")
        basic = "Basic " + base64.b64encode(b"anystring:key").decode()
        with httpx.Client(base_url=fake.url, headers={"Authorization": basic}) as http:
            members = "/3.0/lists/l1/members"
            one = http.get(members, params={"count": 1000}).json()
            two = http.get(members, params={"count": 1000, "offset": 2}).json()
            assert [len(one["members"]), len(two["members"]), one["total_items"]] == [2, 1, 3]
            h = subscriber_hash("0ADA@example.org")
            assert one["members"][0]["id"] == h
            gone = http.post(f"{members}/{h}/actions/delete-permanent")
            assert gone.status_code == 204
            assert http.post(f"{members}/{h}/actions/delete-permanent").status_code == 404
            back = http.post(
                members, json={"email_address": "0ada@example.org", "status": "subscribed"}
            )
            assert (
                back.status_code == 400 and back.json()["title"] == "Forgotten Email Not Subscribed"
            )
            assert http.get("/3.0/lists/nope/members").status_code == 404
            bearer = http.get(members, headers={"Authorization": "Bearer key"})
            assert bearer.status_code == 200
            assert http.get(members, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert fake.violations == []


def test_acmedesk_answers_as_its_contract_says() -> None:
    with serve(FakeAcmeDesk("c", "s", page_size=1, job_polls=1)) as fake:
        fake.add("ada@example.org", "Ada")
        fake.add("xada@example.org", "X")
        with httpx.Client(base_url=fake.url) as http:
            token = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "s")
            ).json()["access_token"]
            bad = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "x")
            )
            assert bad.status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            page = http.get("/api/v2/customers", params={"email_contains": "ada@"}, headers=auth)
            assert len(page.json()["customers"]) == 1 and 'rel="next"' in page.headers["Link"]
            job = http.delete("/api/v2/customers/cus_1", headers=auth).json()["job_id"]
            assert http.get(f"/api/v2/jobs/{job}", headers=auth).json()["status"] == "running"
            assert http.get(f"/api/v2/jobs/{job}", headers=auth).json()["status"] == "done"
            assert "cus_1" not in fake.customers
        assert fake.violations == []


@pytest.mark.parametrize(
    ("method", "path", "body", "breach"),
    [
        ("GET", "/crm/v3/objects/contacts/search", None, "no such operation"),
        ("POST", "/crm/v3/objects/contacts/gdpr-delete", {"id": "1"}, "'objectId' is a required"),
        ("POST", "/crm/v3/objects/contacts/search", {"limit": 500}, "500 is greater than"),
        ("POST", "/crm/v3/objects/contacts/search?x=1", {}, "query parameter x is not in"),
    ],
)
def test_a_request_that_breaks_the_contract_is_refused_and_recorded(
    hubspot: FakeHubSpot, method: str, path: str, body: Any, breach: str
) -> None:
    r = httpx.request(method, hubspot.url + path, json=body, headers={"Authorization": "Bearer t"})
    assert r.status_code == 400 and "contract_violation" in r.json()
    assert hubspot.violations and any(breach in v for v in hubspot.violations)
    hubspot.violations.clear()


def test_an_answer_that_breaks_the_contract_is_recorded(hubspot: FakeHubSpot) -> None:
    def wrong(*_: Any) -> Any:
        return 200, {}, {"results": "not a list"}

    hubspot.route = wrong  # type: ignore[method-assign]
    httpx.post(
        hubspot.url + "/crm/v3/objects/contacts/search",
        json=_search("*"),
        headers={"Authorization": "Bearer t"},
    )
    assert any("'total' is a required property" in v for v in hubspot.violations)
    hubspot.violations.clear()


def test_a_status_the_contract_does_not_declare_is_recorded() -> None:
    class Teapot(FakeHubSpot):
        def route(self, *_: Any) -> Any:
            return 418, {}, {"status": "error", "message": "teapot", "category": "X"}

    with serve(Teapot("t")) as fake:
        httpx.post(
            fake.url + "/crm/v3/objects/contacts/gdpr-delete",
            json={"objectId": "1"},
            headers={"Authorization": "Bearer t"},
        )
        assert fake.violations and "status not declared" in fake.violations[0]
