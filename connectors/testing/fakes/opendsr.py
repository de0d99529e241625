"""A local processor that speaks the OpenDSR 2.0 subset of ``contracts/opendsr.yaml``: it
verifies each request's Standard Webhooks signature, matches the identities it is sent by
Lethe's policy (``connectors._matching``: what a conforming processor is asked to do), and
carries out an erasure at once (``answer="now"``) or later (``answer="later"``: after
``polls`` status polls, or when a test calls :meth:`FakeProcessor.complete`). It can call
back: :meth:`FakeProcessor.call_back` posts the status object, signed, to the request's
``status_callback_urls``. It backs the ``webhook`` connector's tests."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..._matching import IdentifierMatch, normal_form
from ...webhook_signing import SignatureRefused, signed_headers, verify
from .server import Answer, FakeService

_REQUESTS = "/opendsr/requests"


class FakeProcessor(FakeService):
    contract_name = "opendsr"
    unauthorised: Answer = (401, {}, {"error": "invalid_signature"})

    def __init__(
        self,
        secret: str,
        *,
        answer: str = "later",
        polls: int = 2,
        promise: timedelta = timedelta(days=7),
    ) -> None:
        super().__init__()
        self.secret = secret
        self.answer_mode = answer
        self.polls = polls
        self.promise = promise
        #: The processor's clock (a test on a time-skipping server sets it to the server's).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.records: dict[str, dict[str, str]] = {}
        #: subject_request_id -> the request as received and its state
        self.dsrs: dict[str, dict[str, Any]] = {}
        self.last_id = 0
        #: Bodies received (to check what identifiers were sent, and how)
        self.bodies: list[Any] = []

    def add(self, email: str, name: str) -> str:
        with self.lock:
            self.last_id += 1
            rid = f"rec_{self.last_id}"
            self.records[rid] = {"id": rid, "email": email, "name": name}
            return rid

    def error_body(self, status: int) -> Any:
        return {"error": "rate_limited" if status == 429 else "unavailable"}

    def authorised(self, headers: Mapping[str, str]) -> bool:  # pragma: no cover - see answer
        return False

    def answer(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Answer:
        with self.lock:
            self.requests.append(f"{method} {path}" + (f"?{dict(query)}" if query else ""))
            problems = self.contract.check_request(method, path, query, headers, raw)
            if problems:
                self.violations.extend(problems)
                return 400, {}, {"error": "invalid_request"}
            if self.faults:
                return self.faults.pop(0)
            try:
                verify(self.secret, headers, raw)
            except SignatureRefused:
                return self.unauthorised
            body = json.loads(raw) if raw else None
            if body is not None:
                self.bodies.append(body)
            return self.route(method, path, query, body)

    # -- the processor ------------------------------------------------------------------------

    def _matches(self, identities: list[Mapping[str, str]]) -> list[str]:
        found: list[str] = []
        for rid, record in self.records.items():
            for ident in identities:
                if ident["identity_type"] != "email":
                    continue
                if ident["identity_format"] == "sha256":
                    form = normal_form("email", record["email"])
                    hit = form is not None and (
                        hashlib.sha256(form.encode()).hexdigest() == ident["identity_value"]
                    )
                else:
                    m = IdentifierMatch.of("email", ident["identity_value"])
                    hit = m is not None and m.equals(record["email"])
                if hit:
                    found.append(rid)
                    break
        return found

    def _status(self, dsr: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject_request_id": dsr["id"],
            "controller_id": "lethe-test",
            "request_status": dsr["status"],
            "expected_completion_time": dsr["due"],
            "received_time": dsr["received"],
            "api_version": "2.0",
        }
        if dsr["status"] == "completed":
            out["result"] = "erased" if dsr["erased"] else "not_found"
            out["counts"] = {"records.deleted": dsr["erased"]}
        return out

    def _carry_out(self, dsr: dict[str, Any]) -> None:
        hits = self._matches(dsr["identities"])
        for rid in hits:
            self.records.pop(rid, None)
        dsr["erased"] = len(hits)
        dsr["status"] = "completed"

    def complete(self, srid: str) -> dict[str, Any]:
        """Carry out a pending request now; its status object."""
        with self.lock:
            dsr = self.dsrs[srid]
            if dsr["status"] != "completed":
                self._carry_out(dsr)
            return self._status(dsr)

    def callback_message(
        self,
        srid: str,
        *,
        secret: str | None = None,
        msg_id: str | None = None,
        at: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The status callback of a request: its body and signed headers."""
        with self.lock:
            dsr = self.dsrs[srid]
            body = json.dumps(self._status(dsr)).encode()
            msg_id = msg_id or f"msg_{srid}_{dsr['status']}"
        headers = signed_headers(secret or self.secret, msg_id, body, timestamp=at)
        return body, {**headers, "Content-Type": "application/json"}

    def call_back(self, srid: str, **how: Any) -> int:
        """POST the request's status, signed, to its callback URL; the answer's status code."""
        body, headers = self.callback_message(srid, **how)
        url = self.dsrs[srid]["callbacks"][0]
        req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - a local test URL
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Answer:
        if (method, path) == ("POST", _REQUESTS):
            srid = body["subject_request_id"]
            known = self.dsrs.get(srid)
            if known is not None:
                return 200, {}, self._status(known)
            hits = self._matches(body["subject_identities"])
            limit = body.get("extensions", {}).get("lethe", {}).get("max_items")
            if limit is not None and len(hits) > limit:
                return 422, {}, {"error": "blast_radius", "would_touch": len(hits)}
            now = self.clock()
            dsr = {
                "id": srid,
                "identities": body["subject_identities"],
                "callbacks": body.get("status_callback_urls", []),
                "status": "pending",
                "polls_left": self.polls,
                "received": now.isoformat(),
                "due": (now + self.promise).isoformat(),
                "erased": 0,
            }
            self.dsrs[srid] = dsr
            if self.answer_mode == "now":
                self._carry_out(dsr)
            return 201, {}, self._status(dsr)
        if method == "GET" and path.startswith(_REQUESTS + "/"):
            found = self.dsrs.get(path.rsplit("/", 1)[1])
            if found is None:
                return 404, {}, {"error": "not_found"}
            dsr = found
            if dsr["status"] != "completed" and self.answer_mode != "never":
                if dsr["polls_left"] > 0:
                    dsr["polls_left"] -= 1
                    dsr["status"] = "in_progress"
                else:
                    self._carry_out(dsr)
            return 200, {}, self._status(dsr)
        return 404, {}, {"error": "not_found"}
