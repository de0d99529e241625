"""The people the kit puts into a system: one subject and bystanders chosen to trip matching.

Bystanders are near-duplicates of the subject: addresses that contain it or that it contains,
SQL and glob wildcard characters that would match it if used as patterns, accented letters that
lax collations call equal, and case variants of *other* addresses. The subject is stored in a
case variant of the address the request carries; a system that matches case-insensitively
must still find it. Two people are the same person when their identifiers are equal after
``str.lower()``; everyone else is a bystander whose data must not change by a single byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from .._subject import Subject

__all__ = ["BYSTANDERS", "HOSTILE", "SUBJECT", "UNKNOWN", "Person", "people"]


@dataclass(frozen=True)
class Person:
    """Someone a harness seeds. ``email`` and ``username`` are stored exactly as given."""

    email: str
    username: str
    name: str = ""

    def subject(self, ref: str = "ps_kit") -> Subject:
        """The subject an erasure request for this person carries (email lower-cased)."""
        identifiers = {"username": self.username}
        if self.name:
            identifiers["name"] = self.name
        return Subject(ref=ref, email=self.email.strip().lower(), identifiers=identifiers)

    def same_as(self, other: Person) -> bool:
        return (
            self.email.strip().lower() == other.email.strip().lower()
            or self.username.lower() == other.username.lower()
        )


#: Stored with capitals; the request carries "ada@example.org".
SUBJECT = Person("Ada@Example.org", "ada_b", "Ada Byron")

BYSTANDERS: tuple[Person, ...] = (
    Person("nada@example.org", "nada", "Nada Nadal"),  # contains the subject's address
    Person("ada@example.org.uk", "ada_b2", "Ada Other"),  # the subject's address is a prefix
    Person("ada@example.or", "ada", "Ada Short"),  # a prefix of the subject's address
    Person("a_a@example.org", "a%a_b", "Wild Card"),  # SQL wildcards that would match her
    Person("ádá@example.org", "ádá_b", "Ádá Accent"),  # lax collations call this equal
    Person("ADA@EXAMPLE.ORG.UK", "ADA_B_UK", "Ada Upper"),  # a case variant of another
    Person("*@example.org", "ada_*", "Glob Star"),  # glob wildcards
    Person("grace@example.org", "amazing_grace", "Grace Hopper"),
)

#: Not in any system.
UNKNOWN = Person("nobody@example.net", "nobody", "No Body")

#: Identifiers that are patterns in some query language. Erasing them must find nothing.
HOSTILE: tuple[Person, ...] = (
    Person("%@example.org", "%", "%"),
    Person("_da@example.org", "_da_b", "_"),
    Person("*@example.org.*", "*", "*"),
    Person("?da@example.org", "ada_?", "?"),
    Person("[a]da@example.org", "[a]da_b", "[a]"),
    Person("ada@example.org' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE users; --"),
    Person("ada@example.org\\", "ada_b\\", "\\"),
    Person("  ", " ", ""),
)

# -- generated people (hypothesis) -----------------------------------------------------------

_LETTERS = "adnbAD"
_TRICKY = "%_*?[]\\'.+-:åÅäÄéİıßøΣσ"
_DOMAINS = ("example.org", "example.org.uk", "exämple.org", "EXAMPLE.ORG", "x.io")


def _case_variant(draw: st.DrawFn, text: str) -> str:
    """``text`` with some letters capitalised, without changing what it lower-cases to."""
    out = []
    for ch in text:
        upper = ch.upper()
        if len(upper) == 1 and upper.lower() == ch and draw(st.booleans()):
            out.append(upper)
        else:
            out.append(ch)
    return "".join(out)


def _mutate(draw: st.DrawFn, text: str) -> str:
    """A near-duplicate of ``text``: one character added, removed, replaced or re-cased."""
    chars = st.sampled_from(_LETTERS + _TRICKY)
    where = draw(st.integers(min_value=0, max_value=len(text)))
    how = draw(st.sampled_from(["insert", "delete", "replace", "recase", "append", "fresh"]))
    if how == "insert":
        return text[:where] + draw(chars) + text[where:]
    if how == "delete" and len(text) > 1:
        return text[: min(where, len(text) - 1)] + text[min(where, len(text) - 1) + 1 :]
    if how == "replace" and text:
        i = min(where, len(text) - 1)
        return text[:i] + draw(chars) + text[i + 1 :]
    if how == "recase":
        return draw(st.sampled_from([text.upper(), text.swapcase(), text.title()]))
    if how == "append":
        return text + draw(st.sampled_from(["x", ".uk", "%", "*", " ", ":1", "_"]))
    return draw(st.text(st.sampled_from(_LETTERS + _TRICKY), min_size=1, max_size=8))


@st.composite
def people(draw: st.DrawFn, max_bystanders: int = 4) -> tuple[Person, list[Person]]:
    """A subject (stored in a case variant) and bystanders that are near-duplicates of them."""
    local = draw(st.text(st.sampled_from(_LETTERS + _TRICKY), min_size=1, max_size=8))
    email = f"{local}@{draw(st.sampled_from(_DOMAINS))}".lower()
    username = draw(st.text(st.sampled_from(_LETTERS + _TRICKY), min_size=1, max_size=8))
    if not username.strip():
        username = "u" + username
    subject = Person(_case_variant(draw, email), username, "Subject")
    bystanders: list[Person] = []
    for i in range(draw(st.integers(min_value=1, max_value=max_bystanders))):
        candidate = Person(
            _mutate(draw, email)
            if draw(st.booleans())
            else _case_variant(draw, _mutate(draw, email)),
            _mutate(draw, username),
            f"Bystander {i}",
        )
        if not candidate.email.strip() or not candidate.username.strip():
            continue
        if any(candidate.same_as(p) for p in (subject, *bystanders)):
            continue
        bystanders.append(candidate)
    return subject, bystanders
