"""When a stored value is the subject's identifier: one policy per identifier kind.

Every connector, intake and the pseudonym use this module, so that the same person is found,
and only that person, whatever system or database holds them.

====================  =======================================  =================================
kind                  normal form                              equal when
====================  =======================================  =================================
``email``             NFC, letters A-Z lower-cased             normal forms are equal
``username``          NFC                                      code point for code point (a
``user_id``                                                    rule may opt in to A-Z in either
``customer_id``                                                case: ``ascii_case_insensitive``)
``phone``             ``+`` if it starts with one, then its    normal forms are equal (a rule
                      digits; ``space - . ( ) /`` dropped      on a column that holds the normal
                                                               form may say ``exact``)
``name``              NFC, letters A-Z lower-cased             not identifying: only beside an
                                                               identifying key (see below)
====================  =======================================  =================================

The rules, and why:

- **Canonically equivalent spellings are one.** ``Zoë`` typed precomposed (U+00EB) and
  decomposed (``e`` + U+0308, as macOS file names and some keyboards produce) are the same
  text to Unicode and to the person; both normalise to NFC.
- **Only A-Z fold.** Unicode case folding is not one rule: PostgreSQL's ``lower()`` follows
  its collation (and maps the KELVIN SIGN to ``k``), SQLite's folds ASCII only, MariaDB compares
  by collation weights (``ådä`` = ``ada``), Python's follows its Unicode version, and ``İ``,
  ``ß``, ``ς`` fold differently in each. A-Z fold the same everywhere and forever. Addresses
  are treated case-insensitively in their ASCII letters by practically every provider (DNS
  names always are); a non-ASCII capital is compared as written (RFC 6531 leaves those
  local parts to the receiving server), so ``ZOË@…`` and ``zoë@…`` are different addresses
  here. Opaque ids are exact: ``C-1815`` and ``c-1815`` are two customers unless a rule says
  that its system does not distinguish them.
- **A value with a character that is not NFKC-stable on its own has no normal form** and equals
  nothing: compatibility characters (fullwidth a U+FF41, the ligature fi U+FB01, NO-BREAK
  SPACE, long s U+017F) and canonical singletons (KELVIN SIGN U+212A, OHM SIGN, ANGSTROM SIGN),
  which Unicode's identifier profile (UTS #39, ``Identifier_Type=Not_NFKC``) excludes because
  they spoof plain letters. So do control characters, invisible ones (zero-width, direction
  marks, soft hyphen, variation selectors, spaces other than U+0020) and code points Unicode
  has not assigned (a later Unicode could give them a decomposition, and the pseudonym would
  change). Intake refuses such identifiers (:func:`check_identifier`); a stored one is
  somebody else, or nobody. This also makes every database's candidate search a superset
  (below): an ASCII identifier can only equal an ASCII value.
- **Stored values are compared as stored, never trimmed.** ``" ada@example.org"`` is not
  ``ada@example.org``. It is a *look-alike* (:meth:`IdentifierMatch.looks_like`): equal once
  surrounding whitespace and invisible characters are removed. Connectors leave look-alikes
  unchanged and report them from ``verify`` (``<what>.lookalike``), so that an erasure is never
  verified clean while a likely copy of the person is left; an operator looks, cleans the value
  and retries. Other look-alikes (Cyrillic a U+0430 for Latin a, plus-tags, fullwidth forms)
  are other people and are not reported.

**Searching.** A database or API finds *candidates*; :meth:`IdentifierMatch.equals` decides.
The search must find every equal value on every backend (a superset), and stay
index-friendly where it can: :meth:`IdentifierMatch.pattern` gives the identifier as literal
ASCII runs and gaps (one gap for each run of non-ASCII characters, which a decomposed spelling
may write with more code points). An ASCII email is one literal: ``lower(col) = :w`` (give the
column an expression index on ``lower(col)``); an exact id is ``col = :w`` (a plain index). A
pattern with gaps becomes ``LIKE`` (``_`` would not do: it matches one code point). Only
confirmed values are changed; never let a collation or ``lower()`` decide.

**Not identifying.** ``name`` does not single out one person: a rule may use it only together
with an identifying kind (``IDENTIFYING_KINDS``), never as its only key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

__all__ = [
    "IDENTIFIER_KINDS",
    "IDENTIFYING_KINDS",
    "MATCHES",
    "POLICIES",
    "IdentifierMatch",
    "IdentifierRefused",
    "KindPolicy",
    "Match",
    "check_identifier",
    "normal_form",
    "resolve_match",
]

#: Identifier kinds a request may carry. ``email`` is always present.
IDENTIFIER_KINDS = frozenset({"email", "username", "user_id", "phone", "name", "customer_id"})

#: How a rule compares a kind: see the module docstring.
Match = Literal["exact", "ascii_case_insensitive", "phone"]
MATCHES: tuple[Match, ...] = ("exact", "ascii_case_insensitive", "phone")


@dataclass(frozen=True)
class KindPolicy:
    """The matching policy of one identifier kind."""

    kind: str
    #: Whether a value of this kind singles out one person (a rule may be keyed on it alone).
    identifying: bool
    #: How rules compare it unless they choose otherwise.
    match: Match
    #: What a rule may choose.
    allowed: frozenset[Match]
    #: The normal form, in words (for documentation and messages).
    normal_form: str
    #: The index a key column needs for the candidate search to use it.
    index: str


_OPAQUE: frozenset[Match] = frozenset({"exact", "ascii_case_insensitive"})
POLICIES: Mapping[str, KindPolicy] = {
    "email": KindPolicy(
        "email",
        True,
        "ascii_case_insensitive",
        frozenset({"ascii_case_insensitive"}),
        "NFC, letters A-Z lower-cased",
        "expression index on lower(col)",
    ),
    **{
        kind: KindPolicy(kind, True, "exact", _OPAQUE, "NFC", "plain index on col")
        for kind in ("username", "user_id", "customer_id")
    },
    "phone": KindPolicy(
        "phone",
        True,
        "phone",
        frozenset({"phone", "exact"}),
        "'+' if it starts with one, then its digits (space - . ( ) / dropped)",
        "none (the column is scanned); a column holding the normal form: match = 'exact'"
        " and a plain index",
    ),
    "name": KindPolicy(
        "name",
        False,
        "ascii_case_insensitive",
        _OPAQUE,
        "NFC, letters A-Z lower-cased",
        "none needed: it narrows an identifying key",
    ),
}
assert frozenset(POLICIES) == IDENTIFIER_KINDS
IDENTIFYING_KINDS = frozenset(k for k, p in POLICIES.items() if p.identifying)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_SEPARATORS = frozenset(" -.()/")
#: The longest identifier intake accepts (an address is at most 254 characters).
MAX_LENGTH = 254
#: Invisible characters that are not in category Cf (default-ignorable code points).
_INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)


#: Whitespace (``str.isspace()`` is exactly these with Cc), controls and format characters.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


class IdentifierRefused(ValueError):
    """An identifier intake will not take; the message never repeats the value."""


def resolve_match(kind: str, match: str | None = None) -> Match:
    """``match`` checked against what ``kind`` allows, or the kind's own default."""
    policy = POLICIES.get(kind)
    if policy is None:
        raise ValueError(f"unknown identifier kind {kind!r}")
    if match is None:
        return policy.match
    if match not in policy.allowed:
        allowed = ", ".join(sorted(policy.allowed))
        raise ValueError(f"{kind} cannot be matched {match!r} (allowed: {allowed})")
    return match


@lru_cache(maxsize=4096)
def _problem(ch: str) -> str | None:
    """Why ``ch`` cannot be part of an identifier, or None."""
    if ch.isascii():
        return "a control character" if ch < " " or ch == "\x7f" else None
    category = unicodedata.category(ch)
    if category in ("Cc", "Zl", "Zp"):
        return "a control character"
    if category in ("Cf", "Zs") or ch in _INVISIBLE:
        return "an invisible character (a zero-width or direction mark, a special space…)"
    if category in ("Cn", "Cs"):
        return "a character Unicode does not assign"
    if not unicodedata.is_normalized("NFKC", ch):
        return (
            "a compatibility character (a fullwidth letter, a ligature, a Kelvin sign…)"
            " where a plain one is meant"
        )
    return None


def _first_problem(value: str) -> str | None:
    if value.isascii() and value.isprintable():
        return None
    for ch in value:
        problem = _problem(ch)
        if problem is not None:
            return problem
    return None


def _phone(text: str) -> str | None:
    plus = text.startswith("+")
    digits = []
    for ch in text[1:] if plus else text:
        if "0" <= ch <= "9":
            digits.append(ch)
        elif ch not in _PHONE_SEPARATORS:
            return None
    return ("+" if plus else "") + "".join(digits) if digits else None


def normal_form(kind: str, value: str, match: str | None = None) -> str | None:
    """``value``'s normal form under ``kind``'s policy (or the rule's ``match``), as stored:
    nothing is trimmed. None when it has none (empty, a character no identifier may hold),
    and then it equals nothing."""
    how = resolve_match(kind, match)
    if not value or _first_problem(value) is not None:
        return None
    text = unicodedata.normalize("NFC", value)
    if how == "phone":
        return _phone(text)
    if how == "ascii_case_insensitive":
        return text.translate(_ASCII_LOWER)
    return text


def check_identifier(kind: str, value: str) -> str:
    """An identifier as a request carries it: trimmed, checked, in NFC (an address also with
    A-Z lower-cased). Raises :class:`IdentifierRefused` with a reason that does not repeat
    the value: empty, too long, a control, invisible, compatibility or unassigned character,
    not an address (``email``), not a phone number (``phone``)."""
    resolve_match(kind)
    text = value.strip()
    if not text:
        raise IdentifierRefused("it is empty")
    if len(text) > MAX_LENGTH:
        raise IdentifierRefused(f"it is longer than {MAX_LENGTH} characters")
    problem = _first_problem(text)
    if problem is not None:
        raise IdentifierRefused(f"it contains {problem}")
    text = unicodedata.normalize("NFC", text)
    if kind == "email":
        if not _EMAIL.match(text):
            raise IdentifierRefused("expected something like name@example.org")
        return text.translate(_ASCII_LOWER)
    if kind == "phone" and _phone(text) is None:
        raise IdentifierRefused(
            "it is not a phone number (digits, a leading +, spaces and - . ( ) / between)"
        )
    return text


def _invisible(ch: str) -> bool:
    """Whitespace, a control, format (Cf) or other invisible character: what may surround a
    look-alike."""
    return ch in _INVISIBLE or unicodedata.category(ch) in _INVISIBLE_CATEGORIES


@cache
def invisible_class() -> str:
    """The characters :func:`_invisible` accepts, as the body of a regular expression's
    character class (``[…]``), for systems matched by pattern (Redis keys)."""
    ranges: list[tuple[int, int]] = []
    category = unicodedata.category
    for code in range(0x110000):
        ch = chr(code)
        if category(ch) in _INVISIBLE_CATEGORIES or ch in _INVISIBLE:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _strip_invisible(value: str) -> str:
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    return value[start:end]


def _as_text(stored: object) -> str | None:
    """A stored value's text form: strings as they are, integers in decimal; other types
    (bytes, floats, booleans) have none an identifier could equal."""
    if isinstance(stored, str):
        return stored
    if isinstance(stored, int) and not isinstance(stored, bool):
        return str(stored)
    return None


@dataclass(frozen=True, repr=False)
class IdentifierMatch:
    """The subject's identifier of one kind, ready to compare stored values with.

    Build it with :meth:`of` from the subject's value; ``repr`` hides the value.
    """

    kind: str
    match: Match
    #: The identifier's normal form.
    wanted: str

    @classmethod
    def of(cls, kind: str, value: str | None, match: str | None = None) -> IdentifierMatch | None:
        """The subject's ``value`` (trimmed) under ``kind``'s policy or the rule's ``match``;
        None when it is absent, blank or has no normal form (then nothing matches)."""
        how = resolve_match(kind, match)
        if value is None:
            return None
        # A phone number is normalised as a phone number even where the column holds the
        # normal form itself (``exact``).
        wanted = normal_form(kind, value.strip(), "phone" if kind == "phone" else how)
        return None if wanted is None else cls(kind, how, wanted)

    def __repr__(self) -> str:
        return f"IdentifierMatch(kind={self.kind!r}, match={self.match!r}, wanted=<hidden>)"

    @property
    def folds_case(self) -> bool:
        """Whether letters A-Z match in either case (search ``lower(col)`` for the literals)."""
        return self.match == "ascii_case_insensitive"

    def equals(self, stored: object) -> bool:
        """Whether a stored value is the subject's identifier."""
        text = _as_text(stored)
        return text is not None and normal_form(self.kind, text, self.match) == self.wanted

    def looks_like(self, stored: object) -> bool:
        """Whether a stored value is not the identifier but would be without the whitespace
        or invisible characters around it (``" ada@example.org"``, ``"ada@example.org\\n"``)."""
        text = _as_text(stored)
        if text is None or self.equals(text):
            return False
        inner = _strip_invisible(text)
        return inner != text and self.equals(inner)

    def pattern(self) -> tuple[str | None, ...]:
        """The identifier for a candidate search: literal ASCII runs (lower-case where
        :attr:`folds_case`) and ``None`` for a gap of any length. Every equal value matches
        the pattern on any database, whatever it does to non-ASCII characters; a look-alike
        matches it with a gap added at both ends.

        ``("ada@example.org",)``: one literal, an equality an index can serve. ``("zo", None,
        "@example.org")``: ``ë`` may be stored decomposed. A phone number's digits may have
        separators between them: ``(None, "+", None, "4", None, "4", …, None)``.
        """
        if self.match == "phone":
            return (None, *(part for ch in self.wanted for part in (ch, None)))
        parts: list[str | None] = []
        for ch in self.wanted:
            if ch.isascii():
                if parts and isinstance(parts[-1], str):
                    parts[-1] += ch
                else:
                    parts.append(ch)
            elif not parts or parts[-1] is not None:
                parts.append(None)
        return tuple(parts)

    def variants(self) -> list[list[str]]:
        """Each character of the identifier with its canonically equivalent spellings
        (precomposed, fully decomposed), for systems that can only match literally (Redis
        key patterns). A-Z folding is left to the caller (:attr:`folds_case`)."""
        out = []
        for ch in self.wanted:
            decomposed = unicodedata.normalize("NFD", ch)
            out.append([ch] if decomposed == ch else [ch, decomposed])
        return out
