"""Parsing what an operator types (who they are, reasons, dates, systems): one clear error each."""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Iterable
from datetime import date

import click

from connectors._subject import normalise_email

from ..errors import LetheError
from ..free_text import PersonText
from ..operations.terms import known_legal_basis, not_in_past, short_reason

__all__ = [
    "PSEUDONYM",
    "address_argument",
    "choice_of",
    "legal_basis",
    "note_rewritten",
    "one_date",
    "operator_name",
    "parse_date",
    "pseudonym",
    "reason_text",
    "scrubbed",
    "stdin_line",
    "system_names",
]

PSEUDONYM = re.compile(r"^ps_[0-9a-f]{32}$")


def operator_name(explicit: str | None) -> str:
    """Who acts: ``--operator``, else ``LETHE_OPERATOR``, else the login name.

    An empty ``--operator ""`` is refused rather than replaced by the login: the record must
    name whom the operator meant. A name is at most 100 characters (the ledger keeps that).
    """
    if explicit is not None:
        name = explicit
        if not name.strip():
            raise LetheError("--operator is empty: give your name")
    else:
        name = os.environ.get("LETHE_OPERATOR") or ""
        if not name.strip():
            try:
                name = getpass.getuser()
            except (KeyError, OSError):
                name = ""
    if not name.strip():
        raise LetheError("say who you are: --operator NAME or LETHE_OPERATOR")
    if len(name.strip()) > 100:
        raise LetheError("the operator's name is at most 100 characters")
    return name.strip()


def stdin_line(what: str) -> str:
    """The next line of stdin, for an option given as ``-``: out of the process list and
    shell history."""
    line = sys.stdin.readline().strip()
    if not line:
        raise LetheError(f"{what} reads the value from stdin, and stdin gave none")
    return line


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
    not_in_past((("--until", kept), ("--review-on", review)), today=today)
    return kept, review


def choice_of(words: Iterable[str]) -> click.Choice[str]:
    """A vocabulary's words (``vocabulary.RequestStatus`` …) as a ``click.Choice`` of the plain
    strings operators type and the ledger stores. Not the members themselves: click matches an
    enum member by its name (``COMPLETED``), not by its value."""
    return click.Choice([str(word) for word in words])


def legal_basis(code: str) -> str:
    """``--basis``: a legal basis Lethe knows."""
    return known_legal_basis(code)


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


def system_names(raw: str | None) -> list[str] | None:
    """``--systems a,b`` as names, each once; None when not given."""
    if raw is None:
        return None
    chosen = list(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    if not chosen:
        raise LetheError("--systems names no system")
    return chosen


def reason_text(reason: str, what: str, *, limit: int = 500) -> str:
    """A non-empty ``--reason`` of at most ``limit`` characters (a reference, not a story)."""
    return short_reason(reason, what, field="--reason", limit=limit)


def note_rewritten(what: str, kept: str) -> None:
    """Says on stderr that a reason or an operator's name is not kept as typed
    (``lethe/free_text.py``), so the operator knows what the record holds."""
    typed = {"reason": "--reason", "operator": "the operator's name"}.get(what, what)
    print(
        f"lethe: note: {typed} named the person, an address or a phone number;"
        f" it is kept as {kept!r}",
        file=sys.stderr,
    )


def scrubbed(
    person: PersonText, reason: str, operator: str, *, limit: int = 500
) -> tuple[str, str]:
    """The reason and the operator's name as Lethe keeps them (``PersonText.kept``), saying
    so on stderr when that is not what was typed."""
    return person.kept(reason, operator, limit=limit, rewritten=note_rewritten)
