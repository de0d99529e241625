"""``submit --identifier`` and ``submit --received-at``: what an operator gets wrong is one line
on stderr, a non-zero exit and nothing written; no error line repeats an identifier's value.
(The happy paths, with a worker, run in tests/test_backdated_and_identifiers.py.)"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lethe.errors import LetheError
from lethe.intake import parse_identifiers, parse_received_at, validate_request
from lethe.settings import Settings, SystemConfig
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG

SECRET = "zq-secret-handle-77"  # a value that must never be echoed


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    # Temporal is never reached: a refusal comes before any server is contacted.
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    return lethe_home


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--identifier", "shoe_size=44"), "unknown identifier kind 'shoe_size'"),
        (("--identifier", f"username{SECRET}"), "--identifier #1 is not KIND=VALUE"),
        (("--identifier", f"={SECRET}"), "--identifier #1 is not KIND=VALUE"),
        (("--identifier", "username="), "--identifier username has an empty value"),
        (("--identifier", "username=   "), "--identifier username has an empty value"),
        (("--identifier", f"email={SECRET}@example.org"), "the address is the request's EMAIL"),
        (
            ("--identifier", f"phone={SECRET}", "--identifier", "phone=+44 20 7946 0000"),
            "--identifier phone is given twice, with different values",
        ),
        (("--identifier", "username=" + "x" * 255), "longer than 254 characters"),
        (("--received-at", _ago(minutes=-30)), "is in the future"),
        (("--received-at", _ago(days=61)), "more than 60 days ago"),
        (("--received-at", "last tuesday"), "is not a date (2026-03-02) or a time with its zone"),
        (("--received-at", "2026-02-30"), "is not a date"),
        (("--received-at", "2026-03-02T09:30:00"), "has no time zone"),
        (("--received-at", ""), "--received-at is empty"),
        (("--operator", "kim"), "--operator names who enters a request received earlier"),
        (("--received-at", _ago(days=1), "--operator", " "), "--operator is empty"),
    ],
)
def test_bad_identifiers_and_receipt_times_are_one_line_and_write_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert lethe("submit", "ada@example.org", *args) == 1
    err = one_line_error(capsys)
    assert message in err
    assert SECRET not in err
    assert written(configured) == {}  # no receipt, no vault row, no workflow


def test_stdin_gives_the_address_then_each_identifier(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the address on stdin: the identifier that should come next finds none.
    monkeypatch.setattr("sys.stdin", io.StringIO("ada@example.org\n"))
    assert lethe("submit", "-", "--identifier", "username=-") == 1
    assert "--identifier username=- reads the value from stdin" in one_line_error(capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert lethe("submit", "a@example.org", "--identifier", "username=-", "--assertion-file", "-")
    assert "--identifier username and --assertion-file cannot both" in one_line_error(capsys)
    assert written(configured) == {}
    # Both from stdin, and then the unreachable server is what stops it (it got that far).
    monkeypatch.setattr("sys.stdin", io.StringIO(f"ada@example.org\n{SECRET}\n"))
    assert lethe("submit", "-", "--identifier", "username=-") == 69
    assert SECRET not in capsys.readouterr().err
    assert lethe("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_help_documents_both_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("submit", "--help") == 0
    out = capsys.readouterr().out
    assert "--identifier KIND=VALUE" in out and "customer_id" in out and "username" in out
    assert "--received-at TIME" in out and "[deadlines] timezone" in out


def test_identifier_pairs() -> None:
    assert parse_identifiers(["Username= ada_l ", "phone=+44 1", "username=ada_l"]) == {
        "username": "ada_l",
        "phone": "+44 1",
    }
    with pytest.raises(LetheError, match="#2 is not KIND=VALUE"):
        parse_identifiers(["name=Ada", "Ada Lovelace"])


def test_validation_refuses_what_the_vault_must_not_hold(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, database_url="", systems={"crm": SystemConfig("crm", "sql", {})}
    )

    def draft(**kwargs: object) -> object:
        return validate_request(
            settings,
            email="ada@example.org",
            verification="operator",
            **kwargs,  # type: ignore[arg-type]
        )

    with pytest.raises(LetheError, match="unknown identifier kind 'ssn'"):
        draft(extra_identifiers={"ssn": "1"})
    with pytest.raises(LetheError, match="empty value"):
        draft(extra_identifiers={"name": " "})
    with pytest.raises(LetheError, match="request's EMAIL argument"):
        draft(extra_identifiers={"email": "other@example.org"})
    with pytest.raises(LetheError, match="must carry a time zone"):
        draft(received_at=datetime(2026, 3, 2, 9, 30))
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    with pytest.raises(LetheError, match="in the future"):
        draft(received_at=now + timedelta(minutes=6), now=now)
    with pytest.raises(LetheError, match="more than 60 days ago"):
        draft(received_at=now - timedelta(days=60, seconds=1), now=now)
    # Within the clock skew and at the limit: accepted, as given.
    ok = validate_request(
        settings,
        email="ada@example.org",
        verification="operator",
        extra_identifiers={"username": " ada_l ", "customer_id": "C-1"},
        received_at=now - timedelta(days=60),
        now=now,
    )
    assert ok.received_at == now - timedelta(days=60)
    assert ok.extra_identifiers == (("customer_id", "C-1"), ("username", "ada_l"))
    assert "ada_l" not in repr(ok) and "C-1" not in repr(ok)
    skewed = validate_request(
        settings,
        email="ada@example.org",
        verification="operator",
        received_at=now + timedelta(minutes=4),
        now=now,
    )
    assert skewed.received_at == now + timedelta(minutes=4)  # submit clamps it to entry time


def test_receipt_times_with_zones_and_dates() -> None:
    # A date is midnight at its start on the controller's wall clock (CET in March).
    assert parse_received_at("2026-03-02", timezone="Europe/Berlin") == datetime(
        2026, 3, 1, 23, 0, tzinfo=UTC
    )
    assert parse_received_at("2026-07-02", timezone="Europe/Berlin") == datetime(
        2026, 7, 1, 22, 0, tzinfo=UTC
    )
    assert parse_received_at("2026-03-02", timezone="UTC") == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_received_at("2026-03-02T09:30:00Z", timezone="Europe/Berlin") == datetime(
        2026, 3, 2, 9, 30, tzinfo=UTC
    )
    assert parse_received_at(" 2026-03-02T09:30+05:30 ", timezone="UTC") == datetime(
        2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Asia/Kolkata")
    )
