"""The people the kit puts into a system: one subject and bystanders chosen to trip matching.

Who is the same person is decided by the matching policy of each identifier kind
(``connectors._matching``), never by ``str.lower()``: an address is the subject's when its
normal form (NFC, letters A-Z in either case) equals theirs, a user name when it is the same
text. The subject is stored in another spelling of the address the request carries (capitals,
decomposed accents), which a connector must still find. Bystanders are look-alikes that are
someone else: addresses that contain the subject's or that it contains, SQL and glob wildcards,
accented letters that lax collations call equal, capitals that only Unicode case folding would
fold, Cyrillic letters that look Latin, compatibility characters (fullwidth letters, the KELVIN
SIGN, ligatures, NO-BREAK SPACE), plus-tags, the subject's user name in other capitals. Their
data must not change by a single byte.

``LOOKALIKES`` hold the subject's address with whitespace or invisible characters around it.
They are not the subject either (stored values are never trimmed), but they may well be the
subject's data: a connector leaves them unchanged and its ``verify`` reports them, so that an
erasure does not end verified clean.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from hypothesis import strategies as st

from .._matching import IdentifierMatch, normal_form
from .._subject import Subject

__all__ = [
    "BYSTANDERS",
    "HOSTILE",
    "LOOKALIKES",
    "SUBJECT",
    "UNKNOWN",
    "ZOE",
    "ZOE_BYSTANDERS",
    "Person",
    "people",
]


@dataclass(frozen=True)
class Person:
    """Someone a harness seeds. ``email`` and ``username`` are stored exactly as given."""

    email: str
    username: str
    name: str = ""

    def subject(self, ref: str = "ps_kit") -> Subject:
        """The subject an erasure request for this person carries: the address in its normal
        form (as intake records it), the other identifiers as given."""
        identifiers = {"username": self.username}
        if self.name:
            identifiers["name"] = self.name
        email = normal_form("email", self.email.strip()) or ""
        return Subject(ref=ref, email=email, identifiers=identifiers)

    def same_as(self, other: Person) -> bool:
        """Whether the policy calls them one person: the same address or user name."""
        return any(
            (mine := normal_form(kind, a)) is not None and mine == normal_form(kind, b)
            for kind, a, b in (
                ("email", self.email, other.email),
                ("username", self.username, other.username),
            )
        )

    def looks_like(self, other: Person, kind: str = "email") -> bool:
        """Whether ``other``'s address (or user name) is this person's with whitespace or
        invisible characters around it (a look-alike ``verify`` reports)."""
        mine = IdentifierMatch.of(kind, getattr(self, kind))
        return mine is not None and mine.looks_like(getattr(other, kind))


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
    Person("ada+news@example.org", "ada_b+news", "Plus Tag"),  # a plus-tag is another address
    Person("\u0430da@example.org", "\u0430da_b", "Cyrillic A"),  # looks Latin, is not
    Person("\uff41da@example.org", "\uff41da_b", "Fullwidth A"),  # NFKC would make it 'a'
    Person("lovelace@example.org", "ADA_B", "Ada Upper Name"),  # her user name, capitalised
)

#: The subject's address with whitespace or invisible characters around it: not her address,
#: perhaps her data. Left unchanged, and reported by ``verify``.
LOOKALIKES: tuple[Person, ...] = (
    Person(" Ada@Example.org", "ada_b_lead", "Leading Space"),
    Person("ada@example.org\n", "ada_b_nl", "Trailing Newline"),
    Person("\tADA@example.org\r\n", "ada_b_tab", "Tab and CRLF"),
    Person("ada@example.org\u200b", "ada_b_zw", "Zero Width"),
)

#: Stored decomposed (``e`` + U+0308) and capitalised; the request carries the address in
#: NFC, lower-cased: "zoë.kovač@example.org". Only the policy finds her and spares them.
ZOE = Person(unicodedata.normalize("NFD", "Zoë.Kovač@Example.ORG"), "zoe_k", "Zoë Kovač")
ZOE_BYSTANDERS: tuple[Person, ...] = (
    Person("ZOË.KOVAČ@example.org", "zoe_k_upper", "Unicode Capitals"),  # only lower() folds Ë
    Person("zoë.\u212aovač@example.org", "zoe_k_kelvin", "Kelvin Sign"),  # lower() makes it k
    Person("z\u043eë.kovač@example.org", "zoe_k_cyrillic", "Cyrillic O"),
    Person("zoë.kovač@\uff45xample.org", "zoe_k_fullwidth", "Fullwidth E"),
    Person("zoe.kovac@example.org", "zoe_k_plain", "No Accents"),  # lax collations: equal
    Person("zoë.kovač+x@example.org", "zoe_k_tag", "Plus Tag"),
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

#: ``k`` meets the KELVIN SIGN; dotless i, ``İ``, ``ß``, ``Σ`` fold differently in each database.
_LETTERS = "adnbkAD"
_TRICKY = "%_*?[]\\'.+-:"
_ACCENTED = "åäéëøßıİσΣ"
_DOMAINS = ("example.org", "example.org.uk", "exämple.org", "EXAMPLE.ORG", "x.io", "kk.io")

#: Latin letters and the Cyrillic ones that look the same.
_CONFUSABLE = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440"}
#: Characters and compatibility characters NFKC would turn into them.
_COMPATIBLE = {"k": "\u212a", "K": "\u212a", ".": "\u2024", "s": "\u017f", "-": "\u2011"}
_AROUND = (" ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u200b", "\ufeff", "\u2028")


def _respell(draw: st.DrawFn, text: str) -> str:
    """The same identifier under the email policy: letters A-Z in either case, each accented
    letter precomposed or decomposed."""
    out = []
    for ch in text:
        if ch.isascii() and ch.isalpha() and draw(st.booleans()):
            out.append(ch.swapcase())
        elif not ch.isascii() and draw(st.booleans()):
            out.append(unicodedata.normalize("NFD", ch))
        else:
            out.append(ch)
    return "".join(out)


def _at(draw: st.DrawFn, text: str, wanted: dict[str, str] | None = None) -> int | None:
    """A position in ``text`` (one whose character is in ``wanted``, if given)."""
    spots = [i for i, ch in enumerate(text) if wanted is None or ch in wanted]
    return draw(st.sampled_from(spots)) if spots else None


def _lookalike(draw: st.DrawFn, text: str) -> str:
    """Someone else whose identifier looks like ``text``."""
    how = draw(
        st.sampled_from(
            [
                "unicode_case",
                "confusable",
                "compatible",
                "around",
                "plus_tag",
                "shorter",
                "longer",
                "mutate",
            ]
        )
    )
    if how == "unicode_case":
        i = _at(draw, text, {ch: "" for ch in text if not ch.isascii() and ch.swapcase() != ch})
        if i is not None:
            return text[:i] + text[i].swapcase() + text[i + 1 :]
    if how == "confusable":
        i = _at(draw, text, _CONFUSABLE)
        if i is not None:
            return text[:i] + _CONFUSABLE[text[i]] + text[i + 1 :]
    if how == "compatible":
        i = _at(draw, text)
        if i is not None:
            ch = text[i]
            other = _COMPATIBLE.get(ch) or (
                chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch + "\u00a0"
            )
            return text[:i] + other + text[i + 1 :]
    if how == "around":
        before = draw(st.sampled_from(("", *_AROUND)))
        after = draw(st.sampled_from(_AROUND if not before else ("", *_AROUND)))
        return before + text + after
    if how == "plus_tag" and "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local}+{draw(st.sampled_from(['news', 'x', '']))}@{domain}"
    if how == "shorter" and len(text) > 1:
        return text[1:] if draw(st.booleans()) else text[:-1]
    if how == "longer":
        extra = draw(st.sampled_from(["n", "x", ".uk", "%", "*", ":1", "_", "é"]))
        return extra + text if draw(st.booleans()) else text + extra
    return _mutate(draw, text)


def _mutate(draw: st.DrawFn, text: str) -> str:
    """A near-duplicate of ``text``: one character added, removed, replaced or re-cased."""
    chars = st.sampled_from(_LETTERS + _TRICKY + _ACCENTED)
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
    return draw(st.text(chars, min_size=1, max_size=8))


@st.composite
def people(draw: st.DrawFn, max_bystanders: int = 4) -> tuple[Person, list[Person]]:
    """A subject (stored in another spelling of their address) and look-alike bystanders."""
    alphabet = st.sampled_from(_LETTERS + _TRICKY + _ACCENTED)
    local = draw(st.text(alphabet, min_size=1, max_size=8))
    email = normal_form("email", f"{local}@{draw(st.sampled_from(_DOMAINS))}")
    assert email is not None
    username = draw(st.text(alphabet, min_size=1, max_size=8))
    if not username.strip():
        username = "u" + username
    subject = Person(_respell(draw, email), username, "Subject")
    bystanders: list[Person] = []
    for i in range(draw(st.integers(min_value=1, max_value=max_bystanders))):
        other = _lookalike(draw, email)
        candidate = Person(
            _respell(draw, other) if draw(st.booleans()) else other,
            _lookalike(draw, username) if draw(st.booleans()) else _mutate(draw, username),
            f"Bystander {i}",
        )
        if not candidate.email.strip() or not candidate.username.strip():
            continue
        if any(candidate.same_as(p) for p in (subject, *bystanders)):
            continue
        bystanders.append(candidate)
    return subject, bystanders
