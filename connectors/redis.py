"""Erase a subject's keys from Redis: patterns built from identifiers, ``SCAN`` + ``UNLINK``.

Each entry of ``keys`` names a template, e.g. ``profile = "user:{email}"`` or
``sessions = "session:{user_id}:*"``. ``{kind}`` is replaced by the subject's identifier of
that kind, with glob metacharacters (``* ? [ ] \\``) escaped, so an identifier is always a
literal. In the template itself, ``*`` and ``?`` stand for characters *within one key
segment* (no ``separator``, ``:`` by default): ``session:{username}:*`` finds
``session:ada:tok1`` but not ``session:ada:b:tok1``, which belongs to the user ``ada:b``.
Redis' own glob is wider, so every key ``SCAN`` returns is confirmed against the exact pattern
before anything is unlinked. A placeholder may not touch a wildcard (``{email}*`` would be a
prefix match), and a template without a placeholder is refused, as is one whose placeholders
identify no one person (``{name}`` alone).

Identifiers follow their kind's matching policy (``connectors._matching``): an address's
letters A-Z match in either case and its accented letters precomposed or decomposed; ids match
exactly unless the template is listed in ``ascii_case_insensitive``; a phone number's digits
match with separators (``space - . ( ) /``) between them. A key that holds an identifier with
whitespace or invisible characters around it (``user: ada@example.org``) is not the subject's
key: it is left, and ``verify`` reports it as ``<template>.lookalike``.

An erase counts the keys (``max_items`` applies), then unlinks them and writes a receipt
(``receipt_prefix`` + system + ``:`` + the erase's idempotency key, kept ``receipt_days``) in
one ``MULTI``; a repeat with the same key (a worker died before Lethe's ledger heard) replays
the receipt: the counts the first attempt unlinked, and the snapshot exception, after the keys
are gone. The key is the request id in round 0 and ``…/round-N`` after, so a later round (a
restored snapshot, a retry) searches again. A template whose identifier the request lacks is
not searched: the erase answers ``NotSearched`` naming the kinds (and the receipt keeps them);
an erase with the same key that carries one of them searches again.

Redis writes snapshots (RDB) and append-only files (AOF) that keep erased keys until they are
rewritten or rotated. Declare how long yours are kept with ``snapshot_retention_days``; erases
that removed keys then report ``Retained`` under ``backup-rotation`` until that date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from ._errors import MissingExtra

try:  # the [redis] extra
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
except ModuleNotFoundError as exc:  # pragma: no cover - tested with the module hidden
    if (exc.name or "").partition(".")[0] != "redis":
        raise
    raise MissingExtra("redis", "redis", "redis") from None

from vocabulary import LegalBasis

from ._errors import PermanentError, TransientError
from ._idempotency import REPLAYED_FROM_RECEIPT
from ._matching import IDENTIFYING_KINDS, POLICIES, IdentifierMatch, invisible_class
from ._outcomes import Erased, NotFound, NotSearched, Outcome, Residual, Retained
from ._plan import Plan
from ._protocol import BaseConnector, Capability, ConnectorOptions, guard_blast_radius
from ._subject import IDENTIFIER_KINDS, Subject

__all__ = ["RedisConnector", "RedisOptions", "glob_escape"]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_GLOB_SPECIAL = frozenset("*?[]\\")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_UNLINK_CHUNK = 500


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in text)


class RedisOptions(ConnectorOptions):
    url: str = Field(description="redis://, rediss:// or unix:// URL (url_env in lethe.toml)")
    keys: dict[str, str] = Field(min_length=1, description="name -> key template")
    separator: str = Field(default=":", min_length=1, max_length=1)
    ascii_case_insensitive: list[str] = Field(
        default_factory=list,
        description="Templates whose ids (user name, user id…) match A-Z in either case",
    )
    scan_count: int = Field(default=1000, ge=10, le=100_000)
    snapshot_retention_days: int | None = Field(
        default=None, ge=1, description="How long RDB/AOF copies keep erased keys"
    )
    receipt_prefix: str = Field(default="lethe:erasure:", min_length=1)
    receipt_days: int = Field(default=30, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        """``case_insensitive = true``, the setting ``ascii_case_insensitive`` replaced, meant
        A-Z in either case in every template: it still does."""
        if not isinstance(data, dict) or "case_insensitive" not in data:
            return data
        data = dict(data)
        if data.pop("case_insensitive") and "ascii_case_insensitive" not in data:
            keys = data.get("keys")
            data["ascii_case_insensitive"] = list(keys) if isinstance(keys, dict) else []
        return data

    @model_validator(mode="after")
    def _case_insensitive_names(self) -> RedisOptions:
        unknown = sorted(set(self.ascii_case_insensitive) - set(self.keys))
        if unknown:
            raise ValueError(f"ascii_case_insensitive names no template {unknown[0]!r}")
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("keys")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        for name, template in v.items():
            if not _NAME.match(name):
                raise ValueError(f"key name {name!r} must be a plain identifier")
            kinds = _PLACEHOLDER.findall(template)
            if not kinds:
                raise ValueError(f"keys.{name}: a template needs an identifier, e.g. {{email}}")
            for kind in kinds:
                if kind not in IDENTIFIER_KINDS:
                    raise ValueError(f"keys.{name}: unknown identifier {{{kind}}}")
            if not set(kinds) & IDENTIFYING_KINDS:
                only = ", ".join(f"{{{k}}}" for k in dict.fromkeys(kinds))
                raise ValueError(
                    f"keys.{name}: {only} does not identify one person; the template needs an"
                    f" identifying placeholder too ({', '.join(sorted(IDENTIFYING_KINDS))})"
                )
            literal = _PLACEHOLDER.sub("", template)
            if set(literal) & {"[", "]", "\\", "{", "}"}:
                raise ValueError(f"keys.{name}: only * and ? may be used as wildcards")
            for m in _PLACEHOLDER.finditer(template):
                before = template[m.start() - 1] if m.start() else ""
                after = template[m.end()] if m.end() < len(template) else ""
                if (before and before in "*?") or (after and after in "*?"):
                    raise ValueError(
                        f"keys.{name}: a wildcard next to {m.group(0)} would also match longer"
                        " identifiers; put a fixed separator between them"
                    )
        return v


_PHONE_GAP = "[ \\-.()/]*"


class _Template:
    """One key template, compiled for a subject into a MATCH pattern and two regexes: the
    subject's keys, and keys that hold an identifier with whitespace around it."""

    def __init__(self, name: str, template: str, separator: str, case_insensitive: bool):
        self.name = name
        self.template = template
        self.separator = separator
        self.case_insensitive = case_insensitive

    def _wanted(self, kind: str, subject: Subject) -> IdentifierMatch | None:
        opt_in = self.case_insensitive and "ascii_case_insensitive" in POLICIES[kind].allowed
        return IdentifierMatch.of(
            kind, subject.get(kind), "ascii_case_insensitive" if opt_in else None
        )

    @staticmethod
    def _glob(m: IdentifierMatch) -> str:
        """A MATCH pattern that every spelling of the identifier matches."""
        out = []
        for part in m.pattern():
            if part is None:
                out.append("*")
                continue
            for ch in part:
                if m.folds_case and ch.isascii() and ch.isalpha():
                    out.append(f"[{ch.lower()}{ch.upper()}]")
                else:
                    out.append(glob_escape(ch))
        return "".join(out)

    @staticmethod
    def _regex(m: IdentifierMatch) -> str:
        """Exactly the spellings the policy calls the identifier: letters A-Z in either case
        where it folds them, each accented letter precomposed or decomposed, a phone number's
        digits with separators between them."""
        if m.match == "phone":
            gaps = [re.escape(ch) if ch == "+" else _PHONE_GAP + ch for ch in m.wanted]
            return "".join(gaps) + _PHONE_GAP
        out = []
        for spellings in m.variants():
            if len(spellings) > 1:
                out.append("(?:" + "|".join(map(re.escape, spellings)) + ")")
            elif m.folds_case and spellings[0].isascii() and spellings[0].isalpha():
                out.append(f"[{spellings[0].lower()}{spellings[0].upper()}]")
            else:
                out.append(re.escape(spellings[0]))
        return "".join(out)

    def _literal(self, text: str, *, glob: bool) -> str:
        if glob:
            return text
        sep = re.escape(self.separator)
        return "".join(
            f"[^{sep}]*" if ch == "*" else f"[^{sep}]" if ch == "?" else re.escape(ch)
            for ch in text
        )

    def missing(self, subject: Subject) -> set[str]:
        """The identifier kinds of this template the subject lacks (or has blank)."""
        return {
            k for k in _PLACEHOLDER.findall(self.template) if not (subject.get(k) or "").strip()
        }

    def compile(self, subject: Subject) -> tuple[str, re.Pattern[str], re.Pattern[str]] | None:
        """(MATCH pattern, the subject's keys, look-alike keys), or None if the subject lacks
        an identifier. Keys are matched as text (bytes that are not UTF-8 kept as escapes)."""
        glob_parts: list[str] = []
        exact_parts: list[str] = []
        alike_parts: list[str] = []
        around = f"[{invisible_class()}]*"
        pos = 0
        for m in _PLACEHOLDER.finditer(self.template):
            wanted = self._wanted(m.group(1), subject)
            if wanted is None:
                return None  # an absent or empty identifier never matches anything
            literal = self.template[pos : m.start()]
            glob_parts += [self._literal(literal, glob=True), "*", self._glob(wanted), "*"]
            regex = self._regex(wanted)
            exact_parts += [self._literal(literal, glob=False), regex]
            alike_parts += [self._literal(literal, glob=False), around + regex + around]
            pos = m.end()
        tail = self.template[pos:]
        glob_parts.append(self._literal(tail, glob=True))
        exact_parts.append(self._literal(tail, glob=False))
        alike_parts.append(self._literal(tail, glob=False))
        return (
            "".join(glob_parts),
            re.compile("".join(exact_parts), re.DOTALL),
            re.compile("".join(alike_parts), re.DOTALL),
        )


class RedisConnector(BaseConnector[RedisOptions]):
    kind: ClassVar[str] = "redis"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN}
    )

    def __init__(self, name: str, options: RedisOptions) -> None:
        super().__init__(name, options)
        self._templates = [
            _Template(n, t, options.separator, n in options.ascii_case_insensitive)
            for n, t in options.keys.items()
        ]
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.options.url, socket_timeout=10, socket_connect_timeout=5
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _translate(self, exc: Exception) -> Exception:
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        transient = (
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            redis_errors.BusyLoadingError,
            redis_errors.TryAgainError,
            OSError,
        )
        if isinstance(exc, transient) and not isinstance(exc, redis_errors.AuthenticationError):
            return TransientError(f"{self.name}: redis unavailable ({text})")
        return PermanentError(f"{self.name}: redis refused the command ({text})")

    def _receipt_key(self, key: str) -> str:
        """Where the receipt of the erase with idempotency ``key`` is kept."""
        return f"{self.options.receipt_prefix}{self.name}:{key}"

    async def _matching(
        self, subject: Subject, lookalikes: dict[str, int] | None = None
    ) -> dict[str, list[bytes]]:
        """The subject's keys by template name (each key under the first name matching it);
        ``lookalikes``, if given, gets the number of look-alike keys by template name."""
        found: dict[str, list[bytes]] = {}
        seen: set[bytes] = set()
        alike: dict[bytes, str] = {}
        client = self._redis()
        for template in self._templates:
            compiled = template.compile(subject)
            if compiled is None:
                continue
            pattern, exact, around = compiled
            mine = []
            async for key in client.scan_iter(match=pattern, count=self.options.scan_count):
                if key in seen:
                    continue
                text = key.decode("utf-8", "surrogateescape")
                if exact.fullmatch(text):
                    seen.add(key)
                    mine.append(key)
                elif around.fullmatch(text):
                    alike.setdefault(key, template.name)
            if mine:
                found[template.name] = sorted(mine)
        if lookalikes is not None:
            # A key another template calls the subject's is theirs, not a look-alike.
            for key, name in alike.items():
                if key not in seen:
                    lookalikes[name] = lookalikes.get(name, 0) + 1
        return found

    def _plan_from(self, found: dict[str, list[bytes]]) -> Plan:
        counts = {f"{name}.unlinked": len(keys) for name, keys in found.items()}
        retained = (
            {"snapshots.retained": 1} if counts and self.options.snapshot_retention_days else {}
        )
        return Plan(counts=counts, retained_counts=retained, limit=self.options.max_items)

    async def check(self) -> None:
        try:
            await self._redis().ping()
        except (redis_errors.RedisError, OSError) as exc:
            raise self._translate(exc) from None

    async def plan(self, subject: Subject) -> Plan:
        try:
            return self._plan_from(await self._matching(subject))
        except (redis_errors.RedisError, OSError) as exc:
            raise self._translate(exc) from None

    async def verify(self, subject: Subject) -> Residual:
        lookalikes: dict[str, int] = {}
        try:
            found = await self._matching(subject, lookalikes)
        except (redis_errors.RedisError, OSError) as exc:
            raise self._translate(exc) from None
        return Residual(
            remaining={
                **{f"{n}.remaining": len(k) for n, k in found.items()},
                **{f"{n}.lookalike": count for n, count in lookalikes.items()},
            }
        )

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        unsearched = self._not_searched(subject)
        try:
            receipt = await self._redis().get(self._receipt_key(request_id))
            if receipt is not None:
                earlier = json.loads(receipt)
                # A receipt answers a repeat of the same erase. An identifier the earlier
                # erase lacked is here now (``lethe retry --identifier``): search again.
                if set(earlier.get("missing") or ()) <= set(unsearched.get("missing", ())):
                    return self._outcome(earlier, replayed=True)
            found = await self._matching(subject)
            plan = self._plan_from(found)
            if plan.empty:
                evidence: dict[str, Any] = {"patterns_scanned": len(self._templates)}
                if unsearched:
                    evidence["not_searched"] = unsearched["not_searched"]
                    return NotSearched(missing=unsearched["missing"], evidence=evidence)
                return NotFound(evidence=evidence)
            guard_blast_radius(plan.would_change, self.options, where=self.name, unit="keys")
            record = await self._unlink(found, request_id, unsearched)
        except (redis_errors.RedisError, OSError) as exc:
            raise self._translate(exc) from None
        return self._outcome(record, replayed=False)

    def _not_searched(self, subject: Subject) -> dict[str, Any]:
        """The templates this request lacks an identifier for (``lethe submit`` carries only
        the address unless given ``--identifier``): their keys were not looked for. Evidence
        (``not_searched``: the templates) and the kinds lacking (``missing``)."""
        lacking = {t.name: t.missing(subject) for t in self._templates}
        lacking = {name: kinds for name, kinds in lacking.items() if kinds}
        if not lacking:
            return {}
        return {
            "not_searched": sorted(
                f"{name} (no {', '.join(sorted(kinds))})" for name, kinds in lacking.items()
            ),
            "missing": sorted({kind for kinds in lacking.values() for kind in kinds}),
        }

    async def _unlink(
        self, found: dict[str, list[bytes]], request_id: str, unsearched: dict[str, Any]
    ) -> dict[str, Any]:
        """UNLINK every key and write the receipt, in one MULTI/EXEC: both happen or neither.

        The receipt (counts, the retention date, the templates not searched and the kinds
        they lacked; never an identifier) holds the counts of keys found; a key that expired
        between SCAN and UNLINK is gone all the same.
        """
        retained_until = (
            (date.today() + timedelta(days=self.options.snapshot_retention_days)).isoformat()
            if self.options.snapshot_retention_days
            else None
        )
        record: dict[str, Any] = {
            "counts": {f"{name}.unlinked": len(keys) for name, keys in found.items()},
            "retained_until": retained_until,
            **unsearched,
        }
        async with self._redis().pipeline(transaction=True) as pipe:
            for keys in found.values():
                for chunk in _chunks(keys, _UNLINK_CHUNK):
                    pipe.unlink(*chunk)
            pipe.set(
                self._receipt_key(request_id),
                json.dumps(record),
                ex=int(timedelta(days=self.options.receipt_days).total_seconds()),
            )
            results = await pipe.execute()
        record["unlinked_now"] = sum(int(n) for n in results[:-1])
        return record

    def _outcome(self, record: dict[str, Any], *, replayed: bool) -> Outcome:
        counts = {k: int(v) for k, v in record.get("counts", {}).items()}
        evidence: dict[str, Any] = {"keys_found": sum(counts.values())}
        if "unlinked_now" in record:
            evidence["keys_unlinked"] = record["unlinked_now"]
        if record.get("not_searched"):
            evidence["not_searched"] = record["not_searched"]
        if replayed:
            evidence[REPLAYED_FROM_RECEIPT] = True
        until = record.get("retained_until")
        missing = tuple(record.get("missing") or ())
        if not until:
            if missing:
                return NotSearched(missing=missing, counts=counts, evidence=evidence)
            return Erased(counts=counts, evidence=evidence)
        kept = Retained(
            legal_basis=LegalBasis.BACKUP_ROTATION.value,
            note=(
                "Redis snapshot (RDB/AOF) copies taken before the erase keep these keys until"
                " they are rewritten or rotated; a restore must be followed by a new erasure"
            ),
            retained_until=date.fromisoformat(until),
            retained_counts={"snapshots.retained": 1},
            counts=counts,
            evidence=evidence,
        )
        if missing:
            return NotSearched(missing=missing, counts=counts, evidence=evidence, kept=kept)
        return kept


def _chunks(values: Sequence[bytes], size: int) -> list[Sequence[bytes]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
