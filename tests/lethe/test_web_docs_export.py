"""``/docs`` describes the API from its OpenAPI document without loading anything from
elsewhere (no Swagger UI from a CDN); the export's refusals and its empty form. (The export with
requests in it: test_dashboard_sections.)"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import httpx

from ledger import Ledger
from lethe.web.export import COLUMNS
from tests.lethe.test_http_api import bearer, local_api, one_line  # the fixture, and helpers

__all__ = ["local_api"]

API = tuple[httpx.AsyncClient, Ledger, dict[str, str]]


class _Refs(HTMLParser):
    """Every URL the page would load or link to, and the tags it uses."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in {"src", "href", "action", "srcset", "data", "poster"} and value:
                self.urls.append(value)


async def test_the_docs_page_loads_nothing_from_elsewhere(local_api: API) -> None:
    client, _, _ = local_api
    docs = await client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    refs = _Refs()
    refs.feed(docs.text)
    assert refs.urls, "the page links nothing"
    assert all(u.startswith(("/", "#")) and not u.startswith("//") for u in refs.urls), refs.urls
    assert "/openapi.json" in refs.urls
    assert not {"script", "link", "iframe", "img", "object", "embed"} & refs.tags, refs.tags
    assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", docs.text, re.I) is None
    assert "cdn" not in docs.text.lower() and "swagger" not in docs.text.lower()
    csp = docs.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "http" not in csp
    # It describes every call of the OpenAPI document, and the bodies they take.
    doc = (await client.get("/openapi.json")).json()
    for path, item in doc["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in docs.text, (method, path)
    assert 'id="schema-SubmitBody"' in docs.text and "<code>assertion</code>" in docs.text
    # FastAPI's own Swagger and ReDoc pages are gone, not merely unlinked.
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


async def test_the_export_wants_a_reading_token_and_is_empty_when_nothing_came_in(
    local_api: API,
) -> None:
    client, _, made = local_api
    assert "needs an API client's token" in one_line(await client.get("/v1/export/requests"), 401)
    assert "needs the 'operate' or 'audit' scope" in one_line(
        await client.get("/v1/export/requests", headers=bearer(made["intake"])), 403
    )
    assert "format" in one_line(
        await client.get("/v1/export/requests?format=xlsx", headers=bearer(made["audit"])), 422
    )
    empty = await client.get("/v1/export/requests?format=csv", headers=bearer(made["audit"]))
    assert empty.status_code == 200
    assert list(csv.reader(io.StringIO(empty.text))) == [list(COLUMNS)]
    assert empty.headers["content-disposition"] == 'attachment; filename="lethe-requests.csv"'
    assert (await client.get("/v1/export/requests", headers=bearer(made["audit"]))).json() == {
        "requests": []
    }
    # The dashboard's export is behind its sign-in.
    page = await client.get("/dashboard/export.csv", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"
