"""The spec file of the ``http`` connector: one hosted service's API, declared in TOML.

A spec says how to authenticate, how to find the person (the look-up request, where the
records are in its answer, which of their fields hold an identifier, how to turn the page),
how to erase each record found (one or more requests, and which statuses mean done, not
found, retry later or accepted for later), and optionally how to poll an asynchronous
deletion and how to verify. ``connectors/presets/*.toml`` are specs shipped with Lethe;
``docs/writing-a-connector.md`` walks through writing one.

Placeholders ``{name}`` in paths, query values, headers and JSON bodies are filled from:

* the subject's identifiers (``{email}``, ``{username}``…, in their normal form), and two
  values derived from the address: ``{email_md5}`` (its MD5, as Mailchimp keys members) and
  ``{email_needle}`` (its longest ASCII run, for substring searches: every spelling the
  matching policy calls the same address holds it, a decomposed accent included) — **only
  in ``[lookup]`` and ``[verify]``**, and only the kinds listed in their ``identifiers``: a
  spec that puts an identifier anywhere else is refused when it loads, so an identifier
  reaches the service exactly where the spec says and nowhere else;
* the spec's ``[variables]``, set per system in ``lethe.toml`` (``params = {…}``), and the
  one being iterated by ``for_each``;
* in ``[[erase]]``: the record's fields (``{id}`` and those named in ``lookup.fields``);
* in ``[status]``: ``{ticket}``.

A string that is exactly one placeholder keeps the value's type in a JSON body.
Spec errors name the file, the key and its line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vocabulary import LEGAL_BASES

from ._matching import IDENTIFIER_KINDS, IDENTIFYING_KINDS

__all__ = [
    "DERIVED",
    "EraseStep",
    "HttpSpec",
    "Lookup",
    "SpecError",
    "load_spec",
    "placeholders",
    "preset_names",
    "preset_path",
]

#: Values derived from an identifier that a look-up may send instead of it.
DERIVED: Mapping[str, str] = {"email_md5": "email", "email_needle": "email"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_POINTER = re.compile(r"^(/[^/]*)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_SENSITIVE = frozenset(IDENTIFIER_KINDS) | frozenset(DERIVED)


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file, the key and the line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def placeholders(value: Any) -> set[str]:
    """The placeholder names used anywhere in ``value`` (strings, lists, tables; keys too)."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        return {n for k, v in value.items() for n in placeholders(k) | placeholders(v)}
    if isinstance(value, list | tuple):
        return {n for v in value for n in placeholders(v)}
    return set()


def _pointer(value: str, where: str) -> str:
    if not _POINTER.match(value):
        raise ValueError(f"{where}: {value!r} is not a JSON pointer (like /results or /a/0/b)")
    return value


class Auth(_Strict):
    """How every request authenticates. The secret comes from the system's options
    (``token``, ``api_key``, ``password``, ``client_secret``: ``…_env`` in lethe.toml)."""

    kind: Literal["bearer", "basic", "header", "oauth2_client_credentials", "none"]
    #: ``header``: the header that carries ``api_key`` (``Api-Key``, ``X-API-Key``).
    header: str | None = None
    #: ``oauth2_client_credentials``: the token endpoint (relative to base_url, or absolute).
    token_url: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.kind == "header" and not self.header:
            raise ValueError("auth.header: kind = 'header' needs the header's name")
        if self.kind == "oauth2_client_credentials" and not self.token_url:
            raise ValueError("auth.token_url: kind = 'oauth2_client_credentials' needs it")
        return self

    @property
    def secret_option(self) -> str | None:
        """The option holding this scheme's secret."""
        return {
            "bearer": "token",
            "basic": "password",
            "header": "api_key",
            "oauth2_client_credentials": "client_secret",
        }.get(self.kind)


class Variable(_Strict):
    """A setting of the spec that each system gives in ``params`` (or takes the default)."""

    type: Literal["string", "list"] = "string"
    default: str | list[str] | None = None
    choices: list[str] | None = None
    description: str = ""


class Request(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(min_length=1)
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = Field(default=None, alias="json")

    @model_validator(mode="after")
    def _relative(self) -> Request:
        if not self.path.startswith("/"):
            raise ValueError("path: must start with / (it is relative to the system's base_url)")
        return self

    def used(self) -> set[str]:
        return placeholders([self.path, self.query, self.headers, self.body or {}])


class Pagination(_Strict):
    """``cursor``: the answer's ``next`` pointer holds the next cursor, sent as ``param`` (in
    the query, or in the JSON body with ``in_body``); ``page``: ``param`` counts from
    ``start`` until a page has no records; ``offset``: ``param`` is ``start`` plus the number
    of records read so far, until a page has none; ``link``: follow the ``Link: <…>; rel="next"``
    header (same origin as base_url only)."""

    kind: Literal["none", "cursor", "page", "offset", "link"] = "none"
    param: str | None = None
    next: str | None = None
    in_body: bool = False
    start: int = Field(default=1, ge=0)
    max_pages: int = Field(default=1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _complete(self) -> Pagination:
        if self.kind in ("cursor", "page", "offset") and not self.param:
            raise ValueError(f"pagination.param: kind = {self.kind!r} needs it")
        if self.kind == "cursor":
            if not self.next:
                raise ValueError("pagination.next: kind = 'cursor' needs the cursor's pointer")
            _pointer(self.next, "pagination.next")
        return self


class Lookup(Request):
    """Find the records of the person: the request, and how to read its answer."""

    #: The identifier kinds this request may send (``{email}``, ``{email_md5}``…).
    identifiers: list[str] = Field(default_factory=list)
    #: Run once per value of this list variable, bound as ``as``.
    for_each: str | None = None
    as_: str | None = Field(default=None, alias="as")
    #: JSON pointer to the list of records in the answer; with ``single``, to the record.
    records: str = ""
    single: bool = False
    #: Statuses that mean "nothing here" (Mailchimp's 404 for an unknown member).
    not_found: list[int] = Field(default_factory=lambda: [404])
    #: Pointer, within a record, to its id.
    id: str
    #: Identifier kind -> pointer, within a record, to the value to compare with the subject's
    #: (by Lethe's matching policy). A record is the subject's when every one is equal.
    match: dict[str, str] = Field(min_length=1)
    #: Further fields of a record the erase requests use: name -> pointer.
    fields: dict[str, str] = Field(default_factory=dict)
    pagination: Pagination = Field(default_factory=Pagination)

    @model_validator(mode="after")
    def _check(self) -> Lookup:
        for kind in self.identifiers:
            if kind not in _SENSITIVE:
                known = ", ".join(sorted(_SENSITIVE))
                raise ValueError(f"identifiers: unknown kind {kind!r} (known: {known})")
        _pointer(self.records, "records")
        _pointer(self.id, "id")
        for kind, ptr in self.match.items():
            if kind not in IDENTIFIER_KINDS:
                raise ValueError(f"match.{kind}: unknown identifier kind")
            _pointer(ptr, f"match.{kind}")
        if not set(self.match) & IDENTIFYING_KINDS:
            raise ValueError(
                "match: needs an identifying kind (" + ", ".join(sorted(IDENTIFYING_KINDS)) + ")"
            )
        for name, ptr in self.fields.items():
            _pointer(ptr, f"fields.{name}")
        if (self.for_each is None) != (self.as_ is None):
            raise ValueError("for_each and as go together")
        sent = self.used() & _SENSITIVE
        undeclared = sent - set(self.identifiers)
        if undeclared:
            raise ValueError(f"sends {{{sorted(undeclared)[0]}}} without listing it in identifiers")
        if self.pagination.kind == "cursor" and self.pagination.in_body and self.body is None:
            raise ValueError("pagination.in_body: the look-up has no json body")
        return self

    def kinds_needed(self) -> set[str]:
        """The identifier kinds of the subject this look-up needs (derived ones by source)."""
        return {DERIVED.get(k, k) for k in self.identifiers}


class EraseStep(Request):
    """One request per record. ``done``/``not_found``/``retry``/``pending`` are statuses;
    408, 425, 429 and 5xx are always "retry later", anything else unexpected fails."""

    #: Run only when the variables have these values (``{ mode = "anonymize" }``).
    when: dict[str, str] = Field(default_factory=dict)
    done: list[int] = Field(default_factory=list)
    not_found: list[int] = Field(default_factory=lambda: [404])
    retry: list[int] = Field(default_factory=list)
    #: Accepted, finished later: the answer's ``ticket`` pointer names the job (``[status]``).
    pending: list[int] = Field(default_factory=list)
    ticket: str | None = None
    #: What the counts call it: ``<records>.<action>`` (``contacts.deleted``).
    action: str = Field(pattern=r"^[a-z_]+$")

    @model_validator(mode="after")
    def _check(self) -> EraseStep:
        if not self.done and not self.pending:
            raise ValueError("done: which statuses mean the record is erased (or pending: later)")
        if self.pending and not self.ticket:
            raise ValueError("ticket: pending statuses need the pointer to the job's ticket")
        if self.ticket:
            _pointer(self.ticket, "ticket")
        overlap = set(self.done) & (set(self.not_found) | set(self.retry) | set(self.pending))
        if overlap:
            raise ValueError(f"status {sorted(overlap)[0]} is given two meanings")
        return self


class StatusPoll(Request):
    """For asynchronous deletions: ``{ticket}``'s state, read at ``state``."""

    state: str
    done: list[str] = Field(min_length=1)
    pending: list[str] = Field(min_length=1)
    failed: list[str] = Field(default_factory=list)
    poll_after_seconds: int = Field(default=60, ge=1, le=86_400)

    @model_validator(mode="after")
    def _check(self) -> StatusPoll:
        _pointer(self.state, "state")
        return self


class Keep(_Strict):
    """A retained exception reported beside every erase that removed something: Mailchimp's
    suppression entry, kept in Lethe's ledger as the subject's pseudonym (a keyed hash)."""

    legal_basis: str
    note: str = Field(min_length=10)
    review_days: int = Field(ge=1, le=3650)
    what: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")

    @model_validator(mode="after")
    def _basis(self) -> Keep:
        if self.legal_basis not in LEGAL_BASES:
            raise ValueError(f"legal_basis: unknown code {self.legal_basis!r}")
        return self


class HttpSpec(_Strict):
    spec_version: Literal[1] = 1
    title: str = Field(min_length=1)
    #: What the records are called in counts (``contacts``, ``users``, ``members``).
    records: str = Field(pattern=r"^[a-z_]+$")
    docs: list[str] = Field(default_factory=list)
    #: The records' ids are derived from an identifier (Mailchimp's MD5 of the address):
    #: they are then kept out of evidence.
    ids_are_identifying: bool = False
    auth: Auth
    headers: dict[str, str] = Field(default_factory=dict)
    variables: dict[str, Variable] = Field(default_factory=dict)
    lookup: Lookup
    erase: list[EraseStep] = Field(min_length=1)
    status: StatusPoll | None = None
    verify: Lookup | None = None
    keep: Keep | None = None

    @model_validator(mode="after")
    def _check(self) -> HttpSpec:
        for name in self.variables:
            if not _NAME.match(name) or name in _SENSITIVE or name in ("id", "ticket"):
                raise ValueError(f"variables.{name}: not a usable variable name")
        record_fields = {"id", *self.lookup.fields}
        common = set(self.variables)
        self._only("headers", placeholders(self.headers), common)
        for which, look in (("lookup", self.lookup), ("verify", self.verify)):
            if look is None:
                continue
            if look.for_each is not None:
                var = self.variables.get(look.for_each)
                if var is None or var.type != "list":
                    raise ValueError(f"{which}.for_each: {look.for_each!r} is no list variable")
            mine = common | set(look.identifiers)
            if look.as_:
                mine.add(look.as_)
            self._only(which, look.used(), mine)
        loop = {self.lookup.as_} if self.lookup.as_ else set()
        for n, step in enumerate(self.erase):
            for name, value in step.when.items():
                if name not in self.variables:
                    raise ValueError(f"erase[{n}].when: no variable {name!r}")
                choices = self.variables[name].choices
                if choices and value not in choices:
                    raise ValueError(f"erase[{n}].when: {value!r} is not a choice of {name}")
            self._only(f"erase[{n}]", step.used(), common | record_fields | loop)
            if step.pending and self.status is None:
                raise ValueError(f"erase[{n}].pending: a pending answer needs a [status] poll")
        if self.status is not None:
            self._only("status", self.status.used(), common | {"ticket"})
        return self

    @staticmethod
    def _only(where: str, used: set[str], allowed: set[str]) -> None:
        extra = sorted(used - allowed)
        if not extra:
            return
        if extra[0] in _SENSITIVE:
            raise ValueError(
                f"{where}: sends the identifier {{{extra[0]}}}; identifiers are sent only by"
                " [lookup] and [verify], and only the kinds they list"
            )
        raise ValueError(f"{where}: unknown placeholder {{{extra[0]}}}")

    def values(self, params: Mapping[str, Any]) -> dict[str, str | list[str]]:
        """The variables' values for one system: ``params`` over the defaults, checked."""
        unknown = sorted(set(params) - set(self.variables))
        if unknown:
            raise ValueError(f"params: the spec has no variable {unknown[0]!r}")
        out: dict[str, str | list[str]] = {}
        for name, var in self.variables.items():
            value = params.get(name, var.default)
            if value is None:
                raise ValueError(f"params.{name}: required ({var.description or var.type})")
            if var.type == "list":
                if isinstance(value, str) or not isinstance(value, list) or not value:
                    raise ValueError(f"params.{name}: a non-empty list of strings")
                if not all(isinstance(v, str) and v for v in value):
                    raise ValueError(f"params.{name}: a non-empty list of strings")
            elif not isinstance(value, str):
                raise ValueError(f"params.{name}: a string")
            items = value if isinstance(value, list) else [value]
            if var.choices and any(v not in var.choices for v in items):
                raise ValueError(f"params.{name}: one of {', '.join(var.choices)}")
            out[name] = value
        return out

    def steps(self, values: Mapping[str, Any]) -> list[EraseStep]:
        """The erase requests that apply with these variable values, in order."""
        return [s for s in self.erase if all(values.get(k) == v for k, v in s.when.items())]


# -- loading ---------------------------------------------------------------------------------


def _line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The line of ``loc`` (a pydantic error location) in the TOML text, as near as it can
    tell: the last key of the path that names a line, searched after the one before it."""
    lines = text.splitlines()
    start, found = 0, None
    for part in loc:
        if not isinstance(part, str):
            continue
        key = re.escape(part)
        pattern = re.compile(
            rf"^\s*(\[\[?\s*([\w.\-\"]+\.)?\"?{key}\"?\s*\]\]?|\"?{key}\"?\s*=|.*[{{,]\s*{key}\s*=)"
        )
        for i in range(start, len(lines)):
            if pattern.match(lines[i]):
                found, start = i + 1, i
                break
    return found


def _describe(err: ValidationError, path: str, text: str) -> str:
    problems = []
    for e in err.errors(include_input=False, include_url=False):
        loc = [p for p in e["loc"] if p not in ("function-after", "function-before")]
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        line = _line_of(text, loc)
        msg = e["msg"].removeprefix("Value error, ")
        where = f"{path}:{line}" if line else path
        problems.append(f"{where}: {key or 'spec'}: {msg}")
    return "; ".join(problems)


def parse_spec(text: str, path: str) -> HttpSpec:
    """A spec from TOML text; :class:`SpecError` naming ``path``, the key and its line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    try:
        return HttpSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_describe(exc, path, text)) from None


@cache
def _load(path: str) -> HttpSpec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"spec file {path}: cannot be read ({exc.strerror})") from None
    return parse_spec(text, path)


def preset_names() -> list[str]:
    """The presets shipped in ``connectors/presets``."""
    folder = resources.files("connectors") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_path(name: str) -> str:
    if name not in preset_names():
        known = ", ".join(preset_names())
        raise SpecError(f"unknown preset {name!r} (known: {known})")
    return str(resources.files("connectors") / "presets" / f"{name}.toml")


def load_spec(*, preset: str | None = None, spec: str | None = None) -> HttpSpec:
    """The spec of a preset or a file (exactly one)."""
    if (preset is None) == (spec is None):
        raise SpecError("give preset = '<name>' or spec = '<path to a spec file>' (one of them)")
    return _load(preset_path(preset) if preset is not None else str(Path(spec or "")))
