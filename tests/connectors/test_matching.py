"""The matching policy by fixed examples, so that the kit's property test (whose oracle is the
policy) is not a tautology: each line below is a decision a reviewer can check."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import Phase, find, settings

from connectors import IDENTIFIER_KINDS, IDENTIFYING_KINDS, IdentifierMatch, normal_form
from connectors._matching import (
    POLICIES,
    IdentifierRefused,
    _invisible,
    check_identifier,
    invisible_class,
)
from connectors.testing import people

NFD = "NFD"


def same(kind: str, stored: str, requested: str, match: str | None = None) -> bool:
    m = IdentifierMatch.of(kind, requested, match)
    return m is not None and m.equals(stored)


@pytest.mark.parametrize(
    ("stored", "requested", "equal"),
    [
        ("Ada@Example.ORG", "ada@example.org", True),  # A-Z in either case
        (unicodedata.normalize(NFD, "zoë@example.org"), "zoë@example.org", True),  # NFD = NFC
        (unicodedata.normalize(NFD, "Zoë@Example.org"), "ZOË@example.org", False),  # Ë is not ë
        ("ZOË@example.org", "zoë@example.org", False),  # only A-Z fold; PostgreSQL's lower() not
        ("\u212aate@example.org", "kate@example.org", False),  # KELVIN SIGN: lower() says k
        ("KATE@example.org", "kate@example.org", True),
        ("\uff41da@example.org", "ada@example.org", False),  # fullwidth a
        ("\u0430da@example.org", "ada@example.org", False),  # Cyrillic a
        ("ada+news@example.org", "ada@example.org", False),  # a plus-tag is another address
        ("nada@example.org", "ada@example.org", False),  # a superstring
        ("ada@example.or", "ada@example.org", False),  # a substring
        ("ada@example.org ", "ada@example.org", False),  # stored values are never trimmed
        ("\u0130da@example.org", "ida@example.org", False),  # dotted capital I
        ("\u0131da@example.org", "ida@example.org", False),  # dotless i
        ("stra\u00dfe@example.org", "strasse@example.org", False),  # sharp s is not ss
        ("ada@exa\u00admple.org", "ada@example.org", False),  # a soft hyphen inside
        ("ada\u00a0@example.org", "ada\u00a0@example.org", False),  # NBSP: no normal form
    ],
)
def test_email_policy(stored: str, requested: str, equal: bool) -> None:
    assert same("email", stored, requested) is equal


def test_opaque_ids_are_exact_unless_a_rule_opts_in() -> None:
    assert not same("customer_id", "c-1815", "C-1815")
    assert same("customer_id", "C-1815", "C-1815")
    assert same("customer_id", "c-1815", "C-1815", "ascii_case_insensitive")
    # The opt-in is A-Z only: a non-ASCII capital is still another id.
    assert not same("username", "ZOË", "zoë", "ascii_case_insensitive")
    assert same("username", unicodedata.normalize(NFD, "Zoë"), "Zoë")
    assert same("user_id", 42, "42") and not same("user_id", 42, "042")
    assert not same("user_id", True, "1") and not same("user_id", 1.0, "1")
    with pytest.raises(ValueError, match="cannot be matched 'exact'"):
        IdentifierMatch.of("email", "ada@example.org", "exact")


def test_phone_numbers_compare_by_their_digits() -> None:
    for stored in ("+44 20 7946 0958", "+44 (20) 7946-0958", "+44.20.7946.0958", "+442079460958"):
        assert same("phone", stored, "+44 20 7946 0958"), stored
    for stored in (
        "0044 20 7946 0958",
        "44 20 7946 0958",
        "+44 20 7946 095",
        "+44 20 7946 0958 x1",
    ):
        assert not same("phone", stored, "+44 20 7946 0958"), stored
    # A column that holds the normal form: exact, and index-friendly.
    m = IdentifierMatch.of("phone", "+44 20 7946 0958", "exact")
    assert m is not None and m.wanted == "+442079460958" and m.pattern() == ("+442079460958",)
    assert m.equals("+442079460958") and not m.equals("+44 20 7946 0958")


def test_lookalikes_are_whitespace_or_invisible_characters_around_the_value() -> None:
    m = IdentifierMatch.of("email", "ada@example.org")
    assert m is not None
    alike = [
        " ada@example.org",
        "ADA@example.org\n",
        "\tada@example.org\r\n",
        "\u200bada@example.org",
        "ada@example.org\u00a0",
        "\ufeffAda@Example.org",
    ]
    for value in alike:
        assert m.looks_like(value) and not m.equals(value), repr(value)
    others: list[object] = [
        "ada@example.org",
        "nada@example.org",
        " nada@example.org",
        "ada @example.org",
        "\uff41da@example.org ",
        "\u0430da@example.org\n",
        None,
        b"ada@example.org",
    ]
    for value in others:
        assert not m.looks_like(value), repr(value)


def test_search_patterns_are_index_friendly_where_they_can_be() -> None:
    def pattern(kind: str, value: str, match: str | None = None) -> tuple[str | None, ...]:
        m = IdentifierMatch.of(kind, value, match)
        assert m is not None
        return m.pattern()

    assert pattern("email", "Ada@Example.org") == ("ada@example.org",)
    assert pattern("email", "Zoë.Kovač@example.org") == ("zo", None, ".kova", None, "@example.org")
    assert pattern("email", "éa@x.io") == (None, "a@x.io")
    assert pattern("customer_id", "C-1815") == ("C-1815",)
    assert pattern("customer_id", "C-1815", "ascii_case_insensitive") == ("c-1815",)
    assert pattern("phone", "+1 555") == (
        None,
        "+",
        None,
        "1",
        None,
        "5",
        None,
        "5",
        None,
        "5",
        None,
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ada@exa\nmple.org", "control character"),
        ("ada@example.org\u200d", "invisible character"),
        ("ada@example.org\u2066", "invisible character"),  # LEFT-TO-RIGHT ISOLATE
        ("ada@example.org\u3000x", "invisible character"),  # IDEOGRAPHIC SPACE
        ("\u212aate@example.org", "compatibility character"),
        ("ada@\u2126.org", "compatibility character"),  # OHM SIGN
        ("a" * 250 + "@x.io", "longer than 254"),
        ("ada.example.org", "expected something like"),
    ],
)
def test_intake_refuses_what_the_policy_cannot_compare(value: str, why: str) -> None:
    with pytest.raises(IdentifierRefused, match=why) as err:
        check_identifier("email", value)
    assert "ada" not in str(err.value) and "kate" not in str(err.value)


def test_intake_normal_forms() -> None:
    assert check_identifier("email", " Ada@Example.ORG\n") == "ada@example.org"
    assert check_identifier("email", unicodedata.normalize(NFD, "ZOË@x.io")) == "zoË@x.io"
    assert check_identifier("username", " Ada_B ") == "Ada_B"
    assert check_identifier("phone", "+44 (20) 7946-0958") == "+44 (20) 7946-0958"
    with pytest.raises(IdentifierRefused, match="not a phone number"):
        check_identifier("phone", "call me")


def test_every_kind_has_one_policy_and_name_does_not_identify() -> None:
    assert set(POLICIES) == IDENTIFIER_KINDS
    assert IDENTIFIER_KINDS - {"name"} == IDENTIFYING_KINDS
    for kind, policy in POLICIES.items():
        assert policy.match in policy.allowed, kind
    assert normal_form("name", "Ada BYRON") == "ada byron"


def test_the_pattern_class_of_invisible_characters_is_the_predicate() -> None:
    # Redis keys are matched by a regex built from this class; Python strips by the predicate.
    cls = re.compile(f"[{invisible_class()}]")
    mismatched = [c for c in range(0x110000) if bool(cls.fullmatch(chr(c))) != _invisible(chr(c))]
    assert mismatched == []


@pytest.mark.parametrize(
    "what",
    ["kelvin", "unicode capital", "cyrillic", "fullwidth", "around", "plus tag", "decomposed"],
)
def test_the_kit_generates_every_kind_of_lookalike(what: str) -> None:
    # The property test can only find what its generator produces.
    checks = {
        "kelvin": lambda s, bs: any("\u212a" in b.email for b in bs),
        "unicode capital": lambda s, bs: any(
            b.email.casefold() == s.email.casefold() and not s.same_as(b) for b in bs
        ),
        "cyrillic": lambda s, bs: any(
            any("\u0400" <= ch <= "\u04ff" for ch in b.email) for b in bs
        ),
        "fullwidth": lambda s, bs: any(
            any("\uff01" <= ch <= "\uff5e" for ch in b.email) for b in bs
        ),
        "around": lambda s, bs: any(s.looks_like(b) for b in bs),
        "plus tag": lambda s, bs: any("+" in b.email and "+" not in s.email for b in bs),
        "decomposed": lambda s, bs: not unicodedata.is_normalized("NFC", s.email),
    }
    # Stop at the first example found (no shrinking): it shows the generator reaches it.
    found = find(
        people(),
        lambda cast: checks[what](*cast),
        settings=settings(phases=[Phase.generate], max_examples=2000, database=None),
    )
    assert found
