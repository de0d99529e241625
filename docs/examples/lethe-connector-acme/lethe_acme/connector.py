"""Erase a data subject from Acme CRM, an HTTP API (CONTRACT.md): a template for HTTP systems.

What every HTTP connector has to get right, and where this one does it:

* find by the API's search, then **confirm by the matching policy**
  (``connectors.IdentifierMatch``, never the API's idea of case): the search matches
  substrings, so ``nada@example.org`` comes back for ``ada@example.org``, and folds case its
  own way, so ``ADA@…`` with a KELVIN SIGN would too (``_find``);
* count values that differ from the subject's only by whitespace around them as look-alikes
  and report them from ``verify`` (``_find``);
* read **every page** of results (``_find``);
* **count first**, refuse beyond ``max_items``, then delete (``erase``);
* 429 and 5xx are ``TransientError``, with the server's ``Retry-After`` passed on; 401/403 and
  other 4xx are ``PermanentError`` (``_request``);
* **keep a receipt where the API cannot**: an HTTP API has no transaction, so a worker that
  dies after the deletes and before Lethe's ledger hears leaves nothing in Acme that says what
  was done. The erase writes to the receipt journal (``self.journal``, kept in Lethe's ledger)
  the ids it is about to delete, before the first DELETE, and the outcome after the last; a
  repeat with the same key replays the outcome, or finishes what an interrupted attempt set
  out to do and counts what that attempt deleted too (``erase``);
* a contact already gone (404 on DELETE) is not an error: an earlier attempt may have deleted
  it before failing, and the retry finishes the job (``erase``);
* messages name the system and the status, never the person; journal entries hold Acme's
  contact ids and counts, never an address.

It uses only the standard library (urllib in a thread); a real connector may prefer httpx.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from pydantic import Field, SecretStr, field_validator

from connectors import (
    REPLAYED_FROM_RECEIPT,
    BaseConnector,
    Capability,
    ConnectorOptions,
    Erased,
    IdentifierMatch,
    NotFound,
    Outcome,
    PermanentError,
    Plan,
    Residual,
    Subject,
    TransientError,
    guard_blast_radius,
    parse_retry_after,
    receipt_of,
    replayed,
)

__all__ = ["AcmeConnector", "AcmeOptions"]

#: Statuses worth trying again later (408 timeout, 425 too early, 429 rate limit, 5xx).
_TRANSIENT = frozenset({408, 425, 429})


class AcmeOptions(ConnectorOptions):
    """``[systems.NAME]`` with ``connector = "acme"``: ``url_env`` and ``api_token_env`` name
    environment variables (secrets are never written inline)."""

    url: str = Field(description="Base URL of the Acme API, e.g. https://acme.example/api")
    api_token: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https") or not urlsplit(v).netloc:
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class AcmeConnector(BaseConnector[AcmeOptions]):
    kind: ClassVar[str] = "acme"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    # -- HTTP -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, expect: tuple[int, ...]) -> tuple[int, Any]:
        """(status, JSON body) for an expected status; the right exception for any other."""
        request = urllib.request.Request(  # noqa: S310 (http/https only: checked at load)
            self.options.url + path,
            method=method,
            headers={
                "Authorization": f"Bearer {self.options.api_token.get_secret_value()}",
                "Accept": "application/json",
            },
        )
        timeout = self.options.timeout_seconds
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            if status not in expect:
                what = f"{self.name}: acme answered {status} to {method} {path.split('?')[0]}"
                if status in _TRANSIENT or status >= 500:
                    wait = parse_retry_after(err.headers.get("Retry-After"))
                    raise TransientError(what, retry_after=wait) from None
                raise PermanentError(what) from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            # Refused, reset, timed out, DNS: the next attempt may get through.
            raise TransientError(f"{self.name}: acme unreachable ({type(err).__name__})") from None
        if status not in expect:
            raise PermanentError(f"{self.name}: acme answered {status} to {method}")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise PermanentError(f"{self.name}: acme answered {status} without JSON") from None

    async def _call(self, method: str, path: str, *expect: int) -> tuple[int, Any]:
        return await asyncio.to_thread(self._request, method, path, expect or (200,))

    async def _find(self, subject: Subject) -> tuple[list[str], int]:
        """Ids of the contacts whose address is the subject's, and how many look-alikes (the
        address with whitespace around it) the search met."""
        email = IdentifierMatch.of("email", subject.email)
        if email is None:
            return [], 0  # an empty identifier matches nothing (the API would list everyone)
        # Search by the longest ASCII run of the address: every spelling the policy calls the
        # same holds it (an accented letter may be stored decomposed), and so does every
        # look-alike. The policy, not the API, decides who is who.
        needle = max((part for part in email.pattern() if part), key=len)
        ids: list[str] = []
        lookalikes = 0
        page: int | None = 1
        while page is not None:
            query = urlencode({"email_contains": needle, "page": page})
            _, body = await self._call("GET", f"/v1/contacts?{query}")
            try:
                for contact in body["contacts"]:
                    if email.equals(contact["email"]):
                        ids.append(str(contact["id"]))
                    elif email.looks_like(contact["email"]):
                        lookalikes += 1
                next_page = body.get("next_page")
            except (KeyError, TypeError, AttributeError):
                raise PermanentError(f"{self.name}: unexpected search answer") from None
            page = next_page if isinstance(next_page, int) and next_page > page else None
        return ids, lookalikes

    # -- the protocol -----------------------------------------------------------------------

    async def check(self) -> None:
        await self._call("GET", "/v1/contacts?" + urlencode({"email_contains": "@"}))

    async def plan(self, subject: Subject) -> Plan:
        found, _ = await self._find(subject)
        return Plan(
            counts={"contacts.deleted": len(found)} if found else {}, limit=self.options.max_items
        )

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        # request_id is the erase's idempotency key (the request id, ".../round-N" in a later
        # round): the journal's key, and what an Idempotency-Key header would carry if the
        # API created jobs.
        entry = await self.journal.get(request_id)
        if entry is not None and "outcome" in entry:
            return replayed(entry["outcome"])  # done before: what it did, not what is left
        found, _ = await self._find(subject)
        # What an interrupted attempt set out to delete is this erase's too.
        planned = [str(i) for i in (entry or {}).get("deleting", [])]
        ids = planned + [i for i in found if i not in planned]
        if not ids:
            return NotFound(evidence={"searched_by": "email"})
        guard_blast_radius(len(ids), self.options, where=self.name, unit="contacts")
        if ids != planned:
            # Before the first DELETE: from here on, a repeat knows what this attempt does.
            await self.journal.put(request_id, {"deleting": ids})
        deleted: list[str] = []  # by this erase: now, or by its interrupted attempt
        earlier = 0
        for contact_id in ids:
            status, _ = await self._call(
                "DELETE", f"/v1/contacts/{quote(contact_id, safe='')}", 204, 404
            )
            if status == 204:
                deleted.append(contact_id)
            elif contact_id in planned:
                deleted.append(contact_id)  # an interrupted attempt of this erase got there
                earlier += 1
        outcome: Outcome
        evidence: dict[str, Any] = {"already_deleted": len(ids) - len(deleted)}
        if earlier:
            # This finishes what an interrupted attempt started, and counts what it did.
            evidence[REPLAYED_FROM_RECEIPT] = True
            evidence["deleted_by_an_interrupted_attempt"] = earlier
        if deleted:
            evidence["deleted_contact_ids"] = deleted
            outcome = Erased(counts={"contacts.deleted": len(deleted)}, evidence=evidence)
        else:  # every one was gone by the time we asked, and not by us
            outcome = NotFound(evidence={"searched_by": "email", **evidence})
        await self.journal.put(request_id, {"deleting": ids, "outcome": receipt_of(outcome)})
        return outcome

    async def verify(self, subject: Subject) -> Residual:
        found, lookalikes = await self._find(subject)
        remaining = {"contacts.remaining": len(found)} if found else {}
        if lookalikes:
            # Not the subject's address, maybe their data: an operator must look.
            remaining["contacts.lookalike"] = lookalikes
        return Residual(remaining=remaining)
