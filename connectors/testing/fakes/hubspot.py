"""A local HubSpot CRM (contacts): the CRM search and the GDPR delete, as
``contracts/hubspot.yaml`` writes them down from developers.hubspot.com."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from .server import Answer, FakeService

_MAX_LIMIT = 200


def _error(status: int, category: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


class FakeHubSpot(FakeService):
    contract_name = "hubspot"
    unauthorised: Answer = (
        401,
        {},
        _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found."),
    )

    def __init__(self, token: str, *, page_size: int = 5) -> None:
        super().__init__(page_size=page_size)
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        #: Addresses GDPR-deleted by address: HubSpot blocklists them.
        self.blocklist: set[str] = set()
        self.last_id = 100

    def add(self, email: str, firstname: str = "") -> str:
        with self.lock:
            self.last_id += 1
            cid = str(self.last_id)
            stamp = "2026-01-01T00:00:00.000Z"
            self.contacts[cid] = {
                "id": cid,
                "properties": {
                    "email": email,
                    "firstname": firstname,
                    "hs_object_id": cid,
                    "createdate": stamp,
                    "lastmodifieddate": stamp,
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            return cid

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {
                **_error(429, "RATE_LIMITS", "You have reached your secondly limit."),
                "errorType": "RATE_LIMIT",
                "policyName": "SECONDLY",
            }
        return _error(status, "INTERNAL_ERROR", "internal error")

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.token}"

    def route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Answer:
        if (method, path) == ("POST", "/crm/v3/objects/contacts/search"):
            return self._search(body)
        if (method, path) == ("POST", "/crm/v3/objects/contacts/gdpr-delete"):
            return self._gdpr_delete(body)
        return 404, {}, _error(404, "OBJECT_NOT_FOUND", "resource not found")

    @staticmethod
    def _matches(value: str, f: Mapping[str, Any]) -> bool:
        wanted = str(f.get("value", ""))
        if f["operator"] == "EQ":
            return value.lower() == wanted.lower()
        # CONTAINS_TOKEN: * is a wildcard; letters compare in either case.
        regex = ".*".join(re.escape(part) for part in wanted.split("*"))
        return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None

    def _search(self, body: Any) -> Answer:
        groups = body.get("filterGroups") or []
        hits = []
        for contact in sorted(self.contacts.values(), key=lambda c: int(c["id"])):
            props = contact["properties"]
            if not groups or any(
                all(self._matches(str(props.get(f["propertyName"], "")), f) for f in g["filters"])
                for g in groups
            ):
                hits.append(contact)
        limit = min(int(body.get("limit", 10)), _MAX_LIMIT, self.page_size)
        start = int(body.get("after") or 0)
        page = hits[start : start + limit]
        wanted = set(body.get("properties") or ["email"]) | {"hs_object_id"}
        results = [
            {**c, "properties": {k: v for k, v in c["properties"].items() if k in wanted}}
            for c in page
        ]
        answer: dict[str, Any] = {"total": len(hits), "results": results}
        if start + limit < len(hits):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return 200, {}, answer

    def _gdpr_delete(self, body: Any) -> Answer:
        object_id = str(body["objectId"])
        if body.get("idProperty") == "email":
            found = [c for c in self.contacts.values() if c["properties"]["email"] == object_id]
            for c in found:
                del self.contacts[c["id"]]
            self.blocklist.add(object_id.lower())
            return 204, {}, None
        if self.contacts.pop(object_id, None) is None:
            return 404, {}, _error(404, "OBJECT_NOT_FOUND", "resource not found")
        return 204, {}, None
