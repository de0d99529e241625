"""Intake takes an identifier only in a form the matching policy can compare: no control,
invisible or compatibility characters; decomposed accents composed (NFC); an address's letters
A-Z lower-cased and nothing else folded. A refusal is one line that does not repeat the value,
exit 1, nothing written."""

from __future__ import annotations

import secrets
import unicodedata
from pathlib import Path

import pytest

from connectors._subject import normalise_email
from lethe.intake import validate_request
from lethe.pseudonym import Pseudonymizer
from lethe.settings import Settings, SystemConfig
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG

SECRET = "zqsecret"  # in every refused value; never echoed

REFUSED_ADDRESSES = [
    (f"{SECRET}@exam\nple.org", "control character"),
    (f"{SECRET}@example.org\x00", "control character"),
    (f"{SECRET}\u200b@example.org", "invisible character"),  # ZERO WIDTH SPACE
    (f"\ufeff{SECRET}@example.org", "invisible character"),  # BOM before the address
    (f"{SECRET}@example.org\u202e", "invisible character"),  # RIGHT-TO-LEFT OVERRIDE
    (f"{SECRET}\u00ad@example.org", "invisible character"),  # SOFT HYPHEN
    (f"{SECRET}@\uff45xample.org", "compatibility character"),  # FULLWIDTH e
    (f"\u212a{SECRET}@example.org", "compatibility character"),  # KELVIN SIGN
    (f"{SECRET}@\ufb01nance.org", "compatibility character"),  # the ligature fi
    (f"{SECRET}@example.org\U000e01ef", "invisible character"),  # VARIATION SELECTOR-256
    (f"{SECRET}\u0378@example.org", "does not assign"),  # unassigned (a later Unicode might)
]


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    # Temporal is never reached: a refusal comes before any server is contacted.
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    return lethe_home


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url="", systems={"crm": SystemConfig("crm", "sql", {})})


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
def test_addresses_the_policy_cannot_compare_are_refused_in_one_line(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    address: str,
    why: str,
) -> None:
    assert lethe("submit", address) == 1
    err = one_line_error(capsys)
    assert "invalid email address" in err and why in err
    assert SECRET not in err
    assert written(configured) == {}  # no receipt, no vault row, no workflow


@pytest.mark.parametrize(
    ("identifier", "why"),
    [
        (f"username={SECRET}\u200b", "invisible character"),
        (f"customer_id=C-{SECRET}\t1", "control character"),
        (f"user_id=\uff11{SECRET}", "compatibility character"),  # FULLWIDTH 1
        (f"name=Ada\u2028{SECRET}", "control character"),  # LINE SEPARATOR
        (f"phone=+44 {SECRET}", "not a phone number"),
    ],
)
def test_identifiers_the_policy_cannot_compare_are_refused_in_one_line(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    identifier: str,
    why: str,
) -> None:
    assert lethe("submit", "ada@example.org", "--identifier", identifier) == 1
    err = one_line_error(capsys)
    kind = identifier.partition("=")[0]
    assert f"--identifier {kind} is refused" in err and why in err
    assert SECRET not in err
    assert written(configured) == {}


def test_an_address_is_kept_in_its_normal_form(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    typed = unicodedata.normalize("NFD", "  Zoë.Kovač@Example.ORG \n")  # decomposed, capitals
    draft = validate_request(settings, email=typed, verification="operator")
    # Composed, trimmed, A-Z lower-cased; the capital of a non-ASCII letter is kept as typed.
    assert draft.email == "zoë.kovač@example.org"
    assert unicodedata.is_normalized("NFC", draft.email)
    capital = validate_request(settings, email="ZOË@example.org", verification="operator")
    assert capital.email == "zoË@example.org"


def test_extra_identifiers_are_composed_and_trimmed_not_folded(tmp_path: Path) -> None:
    draft = validate_request(
        _settings(tmp_path),
        email="ada@example.org",
        verification="operator",
        extra_identifiers={
            "username": unicodedata.normalize("NFD", " Zoë_K "),
            "customer_id": "C-1815",
            "phone": "+44 (20) 7946-0958",
        },
    )
    assert dict(draft.extra_identifiers) == {
        "username": "Zoë_K",  # an id keeps its capitals: C-1815 is not c-1815
        "customer_id": "C-1815",
        "phone": "+44 (20) 7946-0958",  # as typed; connectors compare its digits
    }


def test_one_person_one_pseudonym_whatever_the_spelling() -> None:
    p = Pseudonymizer(secrets.token_bytes(32))
    nfc = normalise_email("Zoë@Example.org")
    nfd = normalise_email(unicodedata.normalize("NFD", "zoë@EXAMPLE.org "))
    assert nfc == nfd and p.subject_ref(nfc) == p.subject_ref(nfd)
    # Another address, another pseudonym: only A-Z fold.
    assert p.subject_ref(normalise_email("ZOË@example.org")) != p.subject_ref(nfc)
    # An address not in its normal form is refused, never given a second pseudonym.
    with pytest.raises(ValueError, match="normal form"):
        p.subject_ref("Zoë@Example.org")


def test_a_refused_address_never_reaches_the_pseudonym() -> None:
    with pytest.raises(ValueError, match="compatibility character") as err:
        normalise_email(f"\u212a{SECRET}@example.org")
    assert SECRET not in str(err.value)
