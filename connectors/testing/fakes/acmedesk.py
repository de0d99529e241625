"""A local "Acme Desk": a made-up helpdesk whose API exercises what no preset does (OAuth2
client credentials with expiring tokens, ``Link`` header pages, deletions that finish later
behind a job to poll), as ``contracts/acmedesk.yaml`` writes it down. It backs the tests of a
spec file of one's own (``tests/connectors/specs/acmedesk.toml``)."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from .server import Answer, FakeService


class FakeAcmeDesk(FakeService):
    contract_name = "acmedesk"
    unauthorised: Answer = (401, {}, {"error": "invalid_token"})

    def __init__(
        self, client_id: str, client_secret: str, *, page_size: int = 5, job_polls: int = 2
    ) -> None:
        super().__init__(page_size=page_size)
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens: set[str] = set()
        self.customers: dict[str, dict[str, Any]] = {}
        #: job id -> [customer id, polls left before it is done]
        self.jobs: dict[str, list[Any]] = {}
        self.job_polls = job_polls
        self.last_id = 0
        self.tokens_issued = 0

    def add(self, email: str, name: str) -> str:
        with self.lock:
            self.last_id += 1
            cid = f"cus_{self.last_id}"
            self.customers[cid] = {"id": cid, "email": email, "name": name}
            return cid

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def error_body(self, status: int) -> Any:
        return {"error": "rate_limited" if status == 429 else "unavailable"}

    def answer(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Answer:
        if (method, path) == ("POST", "/oauth/token"):
            with self.lock:
                self.requests.append(f"{method} {path}")
                problems = self.contract.check_request(method, path, query, headers, raw)
                if problems:
                    self.violations.extend(problems)
                    return 400, {}, {"error": "invalid_request"}
                return self._token(headers, raw)
        return super().answer(method, path, query, headers, raw)

    def _token(self, headers: Mapping[str, str], raw: bytes) -> Answer:
        auth = headers.get("authorization", "")
        try:
            user, _, password = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            user = password = ""
        if (user, password) != (self.client_id, self.client_secret):
            return 401, {}, {"error": "invalid_client"}
        if b"grant_type=client_credentials" not in raw:
            return 400, {}, {"error": "unsupported_grant_type"}
        token = secrets.token_hex(8)
        self.tokens.add(token)
        self.tokens_issued += 1
        return 200, {}, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return headers.get("authorization", "").removeprefix("Bearer ") in self.tokens

    def route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Answer:
        if (method, path) == ("GET", "/api/v2/customers"):
            return self._search(query)
        m = re.fullmatch(r"/api/v2/customers/([^/]+)", path)
        if method == "DELETE" and m:
            cid = m.group(1)
            if cid not in self.customers:
                return 404, {}, {"error": "not_found"}
            job = f"job_{len(self.jobs) + 1}"
            self.jobs[job] = [cid, self.job_polls]
            return 202, {}, {"job_id": job}
        m = re.fullmatch(r"/api/v2/jobs/([^/]+)", path)
        if method == "GET" and m:
            entry = self.jobs.get(m.group(1))
            if entry is None:
                return 404, {}, {"error": "not_found"}
            if entry[1] > 0:
                entry[1] -= 1
                return 200, {}, {"id": m.group(1), "status": "running"}
            self.customers.pop(entry[0], None)
            return 200, {}, {"id": m.group(1), "status": "done"}
        return 404, {}, {"error": "not_found"}

    def _search(self, query: Mapping[str, str]) -> Answer:
        needle = query.get("email_contains", "")
        if not needle:
            return 400, {}, {"error": "email_contains is required"}
        hits = [c for c in self.customers.values() if needle.lower() in c["email"].lower()]
        cursor = int(query.get("cursor", "0"))
        page = hits[cursor : cursor + self.page_size]
        headers = {}
        if cursor + self.page_size < len(hits):
            more = urlencode({"email_contains": needle, "cursor": cursor + self.page_size})
            nxt = f"{self.url}/api/v2/customers?{more}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, {"customers": page}
