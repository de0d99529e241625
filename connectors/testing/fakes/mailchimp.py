"""A local Mailchimp (audiences and their members): listing members, permanent deletion and
re-adding, as ``contracts/mailchimp.yaml`` writes them down from mailchimp.com/developer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .server import Answer, FakeService

_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def problem(status: int, title: str, detail: str, instance: str = "") -> dict[str, Any]:
    return {"type": _DOCS, "title": title, "status": status, "detail": detail, "instance": instance}


class FakeMailchimp(FakeService):
    contract_name = "mailchimp"
    unauthorised: Answer = (
        401,
        {},
        problem(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        ),
    )

    def __init__(self, api_key: str, lists: tuple[str, ...], *, page_size: int = 5) -> None:
        super().__init__(page_size=page_size)
        self.api_key = api_key
        self.lists: dict[str, dict[str, dict[str, Any]]] = {lid: {} for lid in lists}
        #: Permanently deleted addresses' hashes, by audience: they cannot be re-added.
        self.forgotten: dict[str, set[str]] = {lid: set() for lid in lists}

    def add(self, list_id: str, email: str, name: str = "") -> str | None:
        """The member's key, or None when the audience already has that hash (Mailchimp's
        "Member Exists") or forgot it."""
        with self.lock:
            h = subscriber_hash(email)
            members = self.lists[list_id]
            if h in members or h in self.forgotten[list_id]:
                return None
            members[h] = {
                "id": h,
                "email_address": email,
                "status": "subscribed",
                "list_id": list_id,
                "merge_fields": {"FNAME": name},
            }
            return h

    def error_body(self, status: int) -> Any:
        if status == 429:
            return problem(
                429, "Too Many Requests", "You have exceeded the limit of 10 connections."
            )
        return problem(status, "Internal Server Error", "An unexpected error occurred.")

    def authorised(self, headers: Mapping[str, str]) -> bool:
        import base64

        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:] == self.api_key
        if not auth.startswith("Basic "):
            return False
        try:
            _, _, key = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return key == self.api_key

    def route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Answer:
        m = re.fullmatch(r"/3\.0/lists/([^/]+)/members", path)
        if m and m.group(1) not in self.lists:
            return (
                404,
                {},
                problem(
                    404, "Resource Not Found", "The requested resource could not be found.", path
                ),
            )
        if m and method == "GET":
            return self._members(m.group(1), query)
        if m and method == "POST":
            return self._subscribe(m.group(1), body)
        m = re.fullmatch(r"/3\.0/lists/([^/]+)/members/([^/]+)/actions/delete-permanent", path)
        if m and method == "POST":
            lid, h = m.groups()
            if lid not in self.lists or self.lists[lid].pop(h, None) is None:
                return (
                    404,
                    {},
                    problem(
                        404,
                        "Resource Not Found",
                        "The requested resource could not be found.",
                        path,
                    ),
                )
            self.forgotten[lid].add(h)
            return 204, {}, None
        return (
            404,
            {},
            problem(404, "Resource Not Found", "The requested resource could not be found.", path),
        )

    def _members(self, list_id: str, query: Mapping[str, str]) -> Answer:
        members = list(self.lists[list_id].values())
        count = min(int(query.get("count", "10")), 1000, self.page_size)
        offset = int(query.get("offset", "0"))
        return (
            200,
            {},
            {
                "members": members[offset : offset + count],
                "list_id": list_id,
                "total_items": len(members),
            },
        )

    def _subscribe(self, list_id: str, body: Any) -> Answer:
        email = body["email_address"]
        h = subscriber_hash(email)
        if h in self.forgotten[list_id]:
            return (
                400,
                {},
                problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported.",
                ),
            )
        if h in self.lists[list_id]:
            return 400, {}, problem(400, "Member Exists", f"{email} is already a list member.")
        self.add(list_id, email)
        return 200, {}, self.lists[list_id][h]
