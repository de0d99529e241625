"""Parsing what an operator types for holds, rounds and referrals: one clear error each."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from datetime import date

import click

from connectors._subject import normalise_email
from vocabulary import LEGAL_BASES

from ..errors import LetheError
from ..free_text import PersonText

__all__ = [
    "PSEUDONYM",
    "address_argument",
    "choice_of",
    "legal_basis",
    "one_date",
    "parse_date",
    "pseudonym",
    "reason_text",
    "scrubbed",
    "systems_among",
]

PSEUDONYM = re.compile(r"^ps_[0-9a-f]{32}$")


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise LetheError(f"{option} must be a date like 2027-01-31, not {value!r}") from None


def one_date(
    until: str | None, review_on: str | None, *, today: date
) -> tuple[date | None, date | None]:
    """``--until`` or ``--review-on`` (not both), neither in the past."""
    if until is not None and review_on is not None:
        raise LetheError("give --until DATE or --review-on DATE, not both")
    # An empty value is a mistake (an unset shell variable), never "no date".
    kept = parse_date(until, "--until") if until is not None else None
    review = parse_date(review_on, "--review-on") if review_on is not None else None
    for name, day in (("--until", kept), ("--review-on", review)):
        if day is not None and day < today:
            raise LetheError(f"{name} {day} is in the past")
    return kept, review


def choice_of(words: Iterable[str]) -> click.Choice[str]:
    """A vocabulary's words (``vocabulary.RequestStatus`` …) as a ``click.Choice`` of the plain
    strings operators type and the ledger stores. Not the members themselves: click matches an
    enum member by its name (``COMPLETED``), not by its value."""
    return click.Choice([str(word) for word in words])


def legal_basis(code: str) -> str:
    code = code.strip()
    if code not in LEGAL_BASES:
        raise LetheError(
            f"unknown legal basis {code!r}: use one of {', '.join(sorted(LEGAL_BASES))}"
        )
    return code


def address_argument(value: str) -> str:
    """An address as given, or read from the first line of stdin for ``-``: a command line is
    visible to every user of the machine (``ps``) and kept in shell histories; stdin is not."""
    if value.strip() != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise LetheError("'-' reads the address from stdin, and stdin gave none")
    return line


def pseudonym(subject: str | None, ps: str | None) -> tuple[str | None, str | None]:
    """Exactly one of an email (normalised) or a pseudonym (checked)."""
    if (subject is None) == (ps is None):
        raise LetheError("name the person with one of --subject EMAIL or --pseudonym ps_…")
    if subject is not None:
        try:
            return normalise_email(address_argument(subject)), None
        except ValueError as exc:  # IdentifierRefused: why, never the value
            raise LetheError(f"invalid email address: {exc}") from None
    assert ps is not None
    if not PSEUDONYM.match(ps.strip()):
        raise LetheError("a pseudonym looks like ps_ followed by 32 hex digits (see lethe status)")
    return None, ps.strip()


def systems_among(raw: str | None, known: Sequence[str], *, what: str) -> list[str] | None:
    """``--systems a,b`` checked against ``known``; None when not given."""
    if raw is None:
        return None
    chosen = list(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    if not chosen:
        raise LetheError("--systems names no system")
    unknown = [s for s in chosen if s not in known]
    if unknown:
        listed = ", ".join(known) or "none"
        raise LetheError(f"unknown system {unknown[0]!r}: {what} are {listed}")
    return chosen


def reason_text(reason: str, what: str, *, limit: int = 500) -> str:
    """A non-empty ``--reason`` of at most ``limit`` characters (a reference, not a story)."""
    text = reason.strip()
    if not text:
        raise LetheError(f"--reason must say {what}")
    if len(text) > limit:
        raise LetheError(f"--reason is at most {limit} characters: give a reference, not the file")
    return text


def scrubbed(
    person: PersonText, reason: str, operator: str, *, limit: int = 500
) -> tuple[str, str]:
    """The reason and the operator's name as Lethe keeps them (``lethe/free_text.py``): the
    person's identifiers, addresses and phone numbers replaced. Says so on stderr when that
    is not what was typed, so the operator knows what the record holds."""
    kept_reason = person.reason(reason)[:limit]
    kept_operator = person.operator(operator)[:100]
    for what, typed, kept in (
        ("--reason", reason, kept_reason),
        ("the operator's name", operator, kept_operator),
    ):
        if typed.strip() != kept:
            print(
                f"lethe: note: {what} named the person, an address or a phone number;"
                f" it is kept as {kept!r}",
                file=sys.stderr,
            )
    return kept_reason, kept_operator
