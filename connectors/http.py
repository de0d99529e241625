"""Erase a person from a hosted service declared by a spec file: the ``http`` connector.

Most hosted services are "find the person, delete or anonymise them, confirm". This connector
does that for any JSON API described by a spec (``connectors/http_spec.py``): a preset shipped
with Lethe (``preset = "hubspot"``, ``connectors/presets/*.toml``) or a file of your own
(``spec = "specs/acme.toml"``). What every erase does, whatever the spec:

* **find** the records with the look-up request, reading **every page** (cursor, page
  number, offset or ``Link`` header), and decide who is the subject by Lethe's **matching
  policy** (``connectors._matching``) on the fields the spec names, never by the service's
  search, which may be fuzzy: a look-alike it returns is left alone (and a value that differs
  from the subject's only by whitespace around it is reported by ``verify``);
* **count, then guard**: more records than ``max_items`` and nothing is erased
  (``BlastRadiusExceeded``);
* **journal, then erase**: digests of the records about to be erased go to the receipt journal
  before the first request, the outcome after the last, so that a repeat replays and a retry
  after a crash finishes the job and counts what the interrupted attempt did;
* **answers**: the statuses the spec lists as done / not found / retry / pending; always 408,
  425, 429 and 5xx are ``TransientError`` (a 429's ``Retry-After`` passed on as
  ``retry_after``), after ``retries`` quick back-offs for 5xx; a timeout or a refused
  connection is transient; 401/403 and anything unexpected are ``PermanentError``;
* **only where the spec says**: identifiers appear only in the look-up (and verify) requests,
  and only the kinds they list; messages and evidence never carry them (record ids derived
  from an identifier, like Mailchimp's, are left out of evidence too).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

import httpx
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._errors import ConnectorConfigError, PermanentError, TransientError, parse_retry_after
from ._idempotency import REPLAYED_FROM_RECEIPT
from ._matching import IdentifierMatch, normal_form
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Pending, Residual, Retained
from ._plan import Plan
from ._protocol import BaseConnector, Capability, ConnectorOptions, guard_blast_radius
from ._receipt import receipt_of, replayed
from ._subject import Subject
from .http_spec import HttpSpec, Lookup, Request, SpecError, load_spec, preset_names

__all__ = ["HttpConnector", "HttpOptions", "SyncHttpConnector", "presets"]

# httpx logs every request's URL at INFO; a look-up's URL may hold an identifier (Discourse
# filters by address in the query) and an erase's a value derived from one (Mailchimp's member
# ids are MD5s of the address). Requests are not logged, whatever the root level.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

_ALWAYS_TRANSIENT = frozenset({408, 425, 429})
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?', re.IGNORECASE)
_TICKET_PREFIX = "http1:"


def presets() -> list[str]:
    """The specs shipped with Lethe, by name (``lethe connectors list`` shows them)."""
    return preset_names()


class HttpOptions(ConnectorOptions):
    """``[systems.NAME]`` with ``connector = "http"``.

    ``preset`` or ``spec`` says which API; ``base_url`` where it is; the secret its ``[auth]``
    needs comes from the environment (``token_env``, ``api_key_env``, ``password_env``,
    ``client_secret_env``); ``params`` sets the spec's variables.
    """

    preset: str | None = Field(default=None, description="A spec shipped with Lethe")
    spec: str | None = Field(default=None, description="Path to a spec file of your own")
    base_url: str = Field(description="Where the API is, e.g. https://forum.example.org")
    token: SecretStr | None = None
    api_key: SecretStr | None = None
    password: SecretStr | None = None
    client_secret: SecretStr | None = None
    username: str | None = Field(default=None, description="basic auth: the user name")
    client_id: str | None = Field(default=None, description="OAuth2: the client id")
    params: dict[str, str | list[str]] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10, description="Quick retries of a 5xx answer")
    backoff_seconds: float = Field(default=0.5, ge=0, le=30)

    _spec: HttpSpec | None = PrivateAttr(default=None)
    _values: dict[str, str | list[str]] = PrivateAttr(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials (use the auth options' _env)")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _load(self) -> HttpOptions:
        try:
            spec = load_spec(preset=self.preset, spec=self.spec)
        except SpecError as exc:
            raise PydanticCustomError("spec", "{problem}", {"problem": str(exc)}) from None
        secret = spec.auth.secret_option
        if secret is not None and getattr(self, secret) is None:
            raise ValueError(
                f"the spec authenticates with {spec.auth.kind}: give {secret}_env = '<VARIABLE>'"
            )
        if spec.auth.kind == "oauth2_client_credentials" and not self.client_id:
            raise ValueError("the spec uses OAuth2 client credentials: give client_id")
        self._values = spec.values(self.params)
        if not spec.steps(self._values):
            raise ValueError("no [[erase]] request of the spec applies with these params")
        self._spec = spec
        return self

    @property
    def http_spec(self) -> HttpSpec:
        assert self._spec is not None
        return self._spec

    @property
    def values(self) -> dict[str, str | list[str]]:
        return dict(self._values)

    @property
    def spec_name(self) -> str:
        return self.preset or f"spec file {self.spec}"


def _pointer(doc: Any, ptr: str) -> Any:
    """The value at a JSON pointer (RFC 6901), or None where there is none."""
    if ptr == "":
        return doc
    for raw in ptr.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, Mapping):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def _fill(template: str, ctx: Mapping[str, Any], *, encode: bool = False) -> str:
    def one(m: re.Match[str]) -> str:
        value = str(ctx[m.group(1)])
        return quote(value, safe="") if encode else value

    return _PLACEHOLDER.sub(one, template)


def _fill_json(value: Any, ctx: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        return ctx[whole.group(1)] if whole else _fill(value, ctx)
    if isinstance(value, Mapping):
        return {_fill(k, ctx): _fill_json(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, ctx) for v in value]
    return value


class _Found:
    """What a look-up found: the subject's records (their fields) and how many look-alikes."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.lookalikes = 0
        self.missing: tuple[str, ...] = ()


class HttpConnector(BaseConnector[HttpOptions]):
    kind: ClassVar[str] = "http"
    version: ClassVar[str] = "1"
    #: ``async`` only with a spec that declares a ``[status]`` poll: such a system is built as
    #: this class, any other as :class:`SyncHttpConnector` (the same, without ``async``).
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN, Capability.ASYNC}
    )

    @classmethod
    def specs(cls) -> list[dict[str, str]]:
        """The presets: the specs of this connector shipped with Lethe (``lethe connectors
        list`` shows them under ``http``)."""
        loaded = {name: load_spec(preset=name) for name in preset_names()}
        return [
            {"name": name, "title": spec.title, "records": spec.records}
            for name, spec in loaded.items()
        ]

    def __new__(cls, name: str, options: HttpOptions) -> HttpConnector:
        if cls is HttpConnector and options.http_spec.status is None:
            cls = SyncHttpConnector
        return super().__new__(cls)

    def __init__(self, name: str, options: HttpOptions) -> None:
        if not isinstance(options, HttpOptions):
            raise ConnectorConfigError("http: options must be HttpOptions")
        super().__init__(name, options)
        self.spec = options.http_spec
        self.values = options.values
        self._client: httpx.AsyncClient | None = None
        self._oauth_token: str | None = None

    # -- HTTP ---------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.options.base_url,
                timeout=self.options.timeout_seconds,
                follow_redirects=False,
                headers={"Accept": "application/json", "User-Agent": "lethe-http-connector/1"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _what(self, method: str, template: str) -> str:
        return f"{self.name}: {self.spec.title} {method} {template.split('?')[0]}"

    async def _auth_headers(self, *, renew: bool = False) -> dict[str, str]:
        auth, o = self.spec.auth, self.options
        if auth.kind == "bearer" and o.token is not None:
            return {"Authorization": f"Bearer {o.token.get_secret_value()}"}
        if auth.kind == "header" and o.api_key is not None and auth.header:
            return {auth.header: o.api_key.get_secret_value()}
        if auth.kind == "basic" and o.password is not None:
            pair = f"{o.username or 'lethe'}:{o.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if auth.kind == "oauth2_client_credentials":
            if self._oauth_token is None or renew:
                self._oauth_token = await self._fetch_token()
            return {"Authorization": f"Bearer {self._oauth_token}"}
        return {}

    async def _fetch_token(self) -> str:
        auth, o = self.spec.auth, self.options
        assert auth.token_url is not None and o.client_secret is not None
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        what = self._what("POST", auth.token_url)
        try:
            r = await self._http().post(
                auth.token_url,
                data=form,
                auth=(o.client_id or "", o.client_secret.get_secret_value()),
            )
        except httpx.TimeoutException:
            raise TransientError(f"{what}: timed out") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: unreachable ({type(exc).__name__})") from None
        self._raise_for(r, what, ok=frozenset({200}))
        token = _pointer(self._json(r, what), "/access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError(f"{what}: no access_token in the answer")
        return token

    @staticmethod
    def _json(r: httpx.Response, what: str) -> Any:
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise PermanentError(f"{what}: answered {r.status_code} without JSON") from None

    def _raise_for(self, r: httpx.Response, what: str, *, ok: frozenset[int]) -> None:
        status = r.status_code
        if status in ok:
            return
        if status in _ALWAYS_TRANSIENT or status >= 500:
            wait = parse_retry_after(r.headers.get("Retry-After"))
            raise TransientError(f"{what}: answered {status}", retry_after=wait)
        if status in (401, 403):
            raise PermanentError(f"{what}: answered {status} (credentials refused)")
        raise PermanentError(f"{what}: answered {status}")

    async def _send(
        self,
        req: Request,
        ctx: Mapping[str, Any],
        *,
        ok: frozenset[int],
        transient: frozenset[int] = frozenset(),
        url: str | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request of the spec: the placeholders filled from ``ctx``, path values
        URL-encoded. Returns a response whose status is in ``ok``; raises otherwise."""
        what = self._what(req.method, req.path)
        target = url or _fill(req.path, ctx, encode=True)
        query = {k: _fill(v, ctx) for k, v in req.query.items()}
        if extra_query:
            query.update({k: str(v) for k, v in extra_query.items()})
        body = _fill_json(req.body, ctx) if req.body is not None else None
        if extra_body:
            body = {**(body or {}), **extra_body}
        headers = {k: _fill(v, ctx) for k, v in {**self.spec.headers, **req.headers}.items()}
        renewed = False
        attempt = 0
        while True:
            headers.update(await self._auth_headers())
            try:
                r = await self._http().request(
                    req.method,
                    target,
                    params=query if url is None else None,
                    json=body,
                    headers=headers,
                )
            except httpx.TimeoutException:
                raise TransientError(f"{what}: timed out") from None
            except httpx.TransportError as exc:
                raise TransientError(f"{what}: unreachable ({type(exc).__name__})") from None
            if (
                r.status_code == 401
                and self.spec.auth.kind == "oauth2_client_credentials"
                and not renewed
            ):
                renewed = True  # the token expired: one new token, once
                headers.update(await self._auth_headers(renew=True))
                continue
            if r.status_code >= 500 and r.status_code not in ok and attempt < self.options.retries:
                await asyncio.sleep(self.options.backoff_seconds * 2**attempt)
                attempt += 1
                continue
            break
        if r.status_code in transient:
            wait = parse_retry_after(r.headers.get("Retry-After"))
            raise TransientError(f"{what}: answered {r.status_code}", retry_after=wait)
        self._raise_for(r, what, ok=ok)
        return r

    # -- finding ------------------------------------------------------------------------------

    def _identifier_values(self, subject: Subject, look: Lookup) -> dict[str, str] | None:
        """The identifier placeholders this look-up sends, or None when one is unusable
        (blank, or no normal form: such an identifier matches nothing)."""
        out: dict[str, str] = {}
        email = IdentifierMatch.of("email", subject.email)
        for kind in look.identifiers:
            if kind == "email_md5" or kind == "email_needle":
                if email is None:
                    return None
                if kind == "email_md5":
                    md5 = hashlib.md5(email.wanted.encode(), usedforsecurity=False)
                    out[kind] = md5.hexdigest()
                else:
                    out[kind] = max((p for p in email.pattern() if p), key=len, default="")
                    if not out[kind]:
                        return None
                continue
            value = subject.get(kind)
            wanted = normal_form(kind, value.strip()) if value else None
            if wanted is None:
                return None
            out[kind] = wanted
        return out

    async def _find(self, subject: Subject, look: Lookup, *, pages: int | None = None) -> _Found:
        found = _Found()
        missing = sorted(
            k
            for k in look.kinds_needed() | set(look.match)
            if k != "email" and not (subject.get(k) or "").strip()
        )  # a blank address is no address: it matches nothing (below)
        if missing:
            found.missing = tuple(missing)
            return found
        matchers = {kind: IdentifierMatch.of(kind, subject.get(kind)) for kind in look.match}
        sent = self._identifier_values(subject, look)
        if sent is None or any(m is None for m in matchers.values()):
            return found  # an identifier without a normal form matches nothing
        loop: list[dict[str, Any]] = [{}]
        if look.for_each and look.as_:
            loop = [{look.as_: v} for v in self.values[look.for_each]]
        seen: set[str] = set()
        for bound in loop:
            ctx = {**self.values, **bound, **sent}
            async for record in self._pages(look, ctx, pages):
                verdicts = []
                for kind, ptr in look.match.items():
                    m = matchers[kind]
                    assert m is not None
                    value = _pointer(record, ptr)
                    verdicts.append((m.equals(value), m.equals(value) or m.looks_like(value)))
                if all(equal for equal, _ in verdicts):
                    rid = _pointer(record, look.id)
                    if rid is None or isinstance(rid, dict | list):
                        raise PermanentError(f"{self.name}: a record without a usable id")
                    fields = {"id": str(rid), **bound}
                    for name, ptr in look.fields.items():
                        fields[name] = _pointer(record, ptr)
                    key = json.dumps(fields, sort_keys=True)
                    if key not in seen:
                        seen.add(key)
                        found.records.append(fields)
                elif all(near for _, near in verdicts):
                    found.lookalikes += 1
        return found

    async def _pages(self, look: Lookup, ctx: Mapping[str, Any], pages: int | None) -> Any:
        """Every record of every page of the look-up's answers (of the first ``pages``)."""
        pg = look.pagination
        ok = frozenset({200, *look.not_found})
        url: str | None = None
        extra: dict[str, Any] = {}
        read = 0
        if pg.kind in ("page", "offset"):
            extra = {pg.param or "": pg.start}
        for page in range(pg.max_pages):
            in_body = pg.kind == "cursor" and pg.in_body
            r = await self._send(
                look,
                ctx,
                ok=ok,
                url=url,
                extra_query=None if in_body else extra,
                extra_body=extra if in_body else None,
            )
            if r.status_code in look.not_found:
                return
            what = self._what(look.method, look.path)
            body = self._json(r, what)
            records = _pointer(body, look.records)
            if look.single:
                records = [records] if isinstance(records, Mapping) else []
            if records is None:
                records = []
            if not isinstance(records, list):
                raise PermanentError(f"{what}: the answer has no list at {look.records!r}")
            for record in records:
                if isinstance(record, Mapping):
                    yield record
            read += len(records)
            if pg.kind == "none" or not records or (pages is not None and page + 1 >= pages):
                return
            if pg.kind == "page":
                extra = {pg.param or "": int(extra[pg.param or ""]) + 1}
            elif pg.kind == "offset":
                extra = {pg.param or "": pg.start + read}
            elif pg.kind == "cursor":
                cursor = _pointer(body, pg.next or "")
                if cursor in (None, ""):
                    return
                extra = {pg.param or "": cursor}
            else:  # link
                nxt = _LINK_NEXT.search(r.headers.get("Link", ""))
                if nxt is None:
                    return
                url = self._same_origin(urljoin(str(r.url), nxt.group(1)))
        raise PermanentError(
            f"{self._what(look.method, look.path)}: more than {pg.max_pages} pages of results"
        )

    def _same_origin(self, link: str) -> str:
        mine, theirs = urlsplit(self.options.base_url), urlsplit(link)
        if (mine.scheme, mine.netloc) != (theirs.scheme, theirs.netloc):
            raise PermanentError(
                f"{self.name}: a Link header points at another origin; not followed"
            )
        return link

    # -- the protocol -------------------------------------------------------------------------

    async def check(self) -> None:
        probe = Subject(ref="lethe-check", email="lethe-connector-check@example.invalid")
        await self._find(probe, self.spec.lookup, pages=1)  # reachable, and the key works

    @property
    def _by(self) -> str:
        """The identifier kinds the look-up matches by (evidence of what was searched)."""
        return ", ".join(sorted(self.spec.lookup.match))

    def _counts(self, n: int) -> dict[str, int]:
        if not n:
            return {}
        return {f"{self.spec.records}.{s.action}": n for s in self.spec.steps(self.values)}

    async def plan(self, subject: Subject) -> Plan:
        found = await self._find(subject, self.spec.lookup)
        keep = self.spec.keep
        return Plan(
            counts=self._counts(len(found.records)),
            retained_counts={keep.what: 1} if keep and found.records else {},
            limit=self.options.max_items,
            evidence={"spec": self.options.spec_name},
        )

    async def verify(self, subject: Subject) -> Residual:
        found = await self._find(subject, self.spec.verify or self.spec.lookup)
        remaining: dict[str, int] = {}
        if found.records:
            remaining[f"{self.spec.records}.remaining"] = len(found.records)
        if found.lookalikes:
            remaining[f"{self.spec.records}.lookalike"] = found.lookalikes
        return Residual(remaining=remaining)

    @staticmethod
    def _digest(key: str, record: Mapping[str, Any]) -> str:
        """What the journal keeps of a record: never its id (which may be derived from an
        identifier), a digest of it under the erase's key."""
        text = key + "\0" + json.dumps(dict(record), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        entry = await self.journal.get(request_id)
        if entry is not None and "outcome" in entry:
            return replayed(entry["outcome"])
        found = await self._find(subject, self.spec.lookup)
        if found.missing:
            return NotSearched(missing=found.missing, evidence={"spec": self.options.spec_name})
        digests = [self._digest(request_id, r) for r in found.records]
        planned = [str(d) for d in (entry or {}).get("erasing", [])]
        earlier = [d for d in planned if d not in digests]  # gone: the interrupted attempt
        total = len(found.records) + len(earlier)
        if not total:
            return NotFound(evidence={"spec": self.options.spec_name, "searched_by": self._by})
        guard_blast_radius(total, self.options, where=self.name, unit=self.spec.records)
        everything = planned + [d for d in digests if d not in planned]
        if everything != planned:
            await self.journal.put(request_id, {"erasing": everything})
        steps = self.spec.steps(self.values)
        counts = {f"{self.spec.records}.{s.action}": len(earlier) for s in steps}
        statuses: dict[str, int] = {}
        tickets: list[str] = []
        by_earlier = len(earlier)
        erased_ids: list[str] = []
        for record, digest in zip(found.records, digests, strict=True):
            ctx = {**self.values, **record}
            did = gone_before = False
            for step in steps:
                ok = frozenset({*step.done, *step.not_found, *step.pending})
                r = await self._send(step, ctx, ok=ok, transient=frozenset(step.retry))
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                key = f"{self.spec.records}.{step.action}"
                if r.status_code in step.done:
                    counts[key] += 1
                    did = True
                elif r.status_code in step.pending:
                    what = self._what(step.method, step.path)
                    ticket = _pointer(self._json(r, what), step.ticket or "")
                    if ticket in (None, ""):
                        raise PermanentError(f"{what}: no ticket in the answer")
                    tickets.append(str(ticket))
                    counts[key] += 1
                    did = True
                elif digest in planned:  # not found: an interrupted attempt got there
                    counts[key] += 1
                    did = gone_before = True
            if gone_before:
                by_earlier += 1
            if did:
                erased_ids.append(record["id"])
        counts = {k: v for k, v in counts.items() if v}
        evidence: dict[str, Any] = {
            "spec": self.options.spec_name,
            "records_found": len(found.records),
            "statuses": statuses,
        }
        if not self.spec.ids_are_identifying and erased_ids:
            evidence[f"{self.spec.records}_ids"] = erased_ids
        if by_earlier:
            evidence[REPLAYED_FROM_RECEIPT] = True
            evidence["erased_by_an_interrupted_attempt"] = by_earlier
        outcome: Outcome
        if tickets:
            outcome = Pending(
                ticket=self._ticket(
                    {"key": request_id, "jobs": tickets, "counts": counts, "evidence": evidence}
                ),
                poll_after=timedelta(seconds=self.spec.status.poll_after_seconds)
                if self.spec.status
                else timedelta(minutes=1),
                evidence={"spec": self.options.spec_name, "jobs": len(tickets)},
            )
        elif not counts:
            outcome = NotFound(evidence={**evidence, "searched_by": self._by})
        else:
            outcome = self._finished(counts, evidence)
        await self.journal.put(request_id, {"erasing": everything, "outcome": receipt_of(outcome)})
        return outcome

    def _finished(self, counts: Mapping[str, int], evidence: Mapping[str, Any]) -> Outcome:
        keep = self.spec.keep
        if keep is None:
            return Erased(counts=dict(counts), evidence=dict(evidence))
        return Retained(
            legal_basis=keep.legal_basis,
            note=keep.note,
            review_on=date.today() + timedelta(days=keep.review_days),
            retained_counts={keep.what: 1},
            counts=dict(counts),
            evidence={**evidence, "kept_as": "the request's pseudonym (Lethe's keyed hash)"},
        )

    # -- asynchronous deletions ---------------------------------------------------------------

    @staticmethod
    def _ticket(body: Mapping[str, Any]) -> str:
        raw = json.dumps(dict(body), sort_keys=True, separators=(",", ":")).encode()
        return _TICKET_PREFIX + base64.urlsafe_b64encode(raw).decode()

    async def status(self, ticket: str) -> Outcome:
        poll = self.spec.status
        if poll is None:
            raise PermanentError(f"{self.name}: the spec declares no [status] poll")
        try:
            body = json.loads(base64.urlsafe_b64decode(ticket.removeprefix(_TICKET_PREFIX)))
            key = str(body["key"])
            jobs = [str(j) for j in body["jobs"]]
            counts = {str(k): int(v) for k, v in body["counts"].items()}
            evidence = dict(body["evidence"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PermanentError(f"{self.name}: not a ticket of this connector") from None
        states: dict[str, int] = {}
        for job in jobs:
            r = await self._send(poll, {**self.values, "ticket": job}, ok=frozenset({200}))
            state = _pointer(self._json(r, self._what(poll.method, poll.path)), poll.state)
            if state in poll.failed:
                raise PermanentError(f"{self._what(poll.method, poll.path)}: the job {state}")
            if state not in poll.done and state not in poll.pending:
                raise PermanentError(
                    f"{self._what(poll.method, poll.path)}: unknown job state {state!r}"
                )
            states[str(state)] = states.get(str(state), 0) + 1
        if any(s in poll.pending for s in states):
            return Pending(
                ticket=ticket,
                poll_after=timedelta(seconds=poll.poll_after_seconds),
                evidence={"spec": self.options.spec_name, "jobs": len(jobs), "states": states},
            )
        final = self._finished(counts, {**evidence, "jobs": len(jobs), "ticket": ticket})
        # A repeat of the erase now replays the end, not the ticket.
        entry = await self.journal.get(key) or {}
        await self.journal.put(key, {**entry, "outcome": receipt_of(final)})
        return final


class SyncHttpConnector(HttpConnector):
    """An ``http`` system whose spec has no ``[status]`` poll: it never answers Pending."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )
