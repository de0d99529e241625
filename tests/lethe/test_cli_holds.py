"""``lethe hold …`` and the checks of the other new verbs: each mistake one line on stderr, a
non-zero exit, nothing written. (The verbs that need a cluster run in test_lifecycle_cli.)"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import lethe, one_line_error

CONFIG = """
[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"

[systems.forum]
connector = "sql"
url = "sqlite:///forum.db"
[[systems.forum.tables]]
table = "users"
key = "email"
identifier = "email"
action = "delete"
"""


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    return lethe_home


def test_a_hold_is_placed_by_pseudonym_listed_and_released(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        lethe(
            "hold",
            "add",
            "--subject",
            "Ada@Example.org",
            "--systems",
            "crm",
            "--until",
            "2099-01-31",
            "--reason",
            "case 17: ada@example.org's claim",
            "--json",
        )
        == 0
    )
    placed = json.loads(capsys.readouterr().out)
    assert placed["subject_ref"].startswith("ps_") and placed["systems"] == ["crm"]
    assert (placed["legal_basis"], placed["retained_until"], placed["review_on"]) == (
        "legal-hold",
        "2099-01-31",
        None,
    )
    assert placed["placed_by"] == "operator:kim" and placed["state"] == "active"
    assert "ada@example.org" not in placed["reason"].lower()
    # Same person, same pseudonym: a hold by pseudonym lands on the same subject.
    assert (
        lethe(
            "hold",
            "add",
            "--pseudonym",
            placed["subject_ref"],
            "--basis",
            "gdpr-17-3-e",
            "--reason",
            "claim",
            "--json",
        )
        == 0
    )
    second = json.loads(capsys.readouterr().out)
    review = datetime.now(UTC).date() + timedelta(days=90)
    assert second["systems"] is None and second["review_on"] == review.isoformat()

    assert lethe("hold", "list", "--json") == 0
    assert [h["hold_id"] for h in json.loads(capsys.readouterr().out)] == [
        placed["hold_id"],
        second["hold_id"],
    ]
    assert lethe("hold", "release", placed["hold_id"], "--reason", "settled", "--json") == 0
    released = json.loads(capsys.readouterr().out)
    assert released["state"] == "released" and released["now_due"] == []
    assert lethe("hold", "list", "--json") == 0
    assert [h["hold_id"] for h in json.loads(capsys.readouterr().out)] == [second["hold_id"]]
    assert lethe("hold", "release", placed["hold_id"], "--reason", "again") == 1
    assert "already released" in one_line_error(capsys)
    assert b"ada@example.org" not in (configured / "lethe.db").read_bytes().lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hold", "add", "--reason", "r"), "one of --subject EMAIL or --pseudonym"),
        (
            (
                "hold",
                "add",
                "--subject",
                "a@b.org",
                "--pseudonym",
                "ps_" + "0" * 32,
                "--reason",
                "r",
            ),
            "one of --subject EMAIL or --pseudonym",
        ),
        (("hold", "add", "--subject", "not-an-email", "--reason", "r"), "invalid email address"),
        (("hold", "add", "--pseudonym", "ps_xyz", "--reason", "r"), "32 hex digits"),
        (("hold", "add", "--subject", "a@b.org", "--reason", "r", "--basis", "vibes"), "vibes"),
        (("hold", "add", "--subject", "a@b.org", "--reason", "  "), "--reason must say why"),
        (("hold", "add", "--subject", "a@b.org", "--reason", "x" * 501), "at most 500"),
        (("hold", "add", "--subject", "a@b.org"), "Missing option '--reason'"),
        (
            ("hold", "add", "--subject", "a@b.org", "--reason", "r", "--systems", "crm,erp"),
            "unknown system 'erp'",
        ),
        (
            ("hold", "add", "--subject", "a@b.org", "--reason", "r", "--until", "31/01/2027"),
            "--until must be a date like 2027-01-31",
        ),
        (
            ("hold", "add", "--subject", "a@b.org", "--reason", "r", "--until", "2001-01-01"),
            "is in the past",
        ),
        (
            (
                "hold",
                "add",
                "--subject",
                "a@b.org",
                "--reason",
                "r",
                "--until",
                "2099-01-01",
                "--review-on",
                "2098-01-01",
            ),
            "not both",
        ),
        (("hold", "release", "lh-nope", "--reason", "r"), "no legal hold with id 'lh-nope'"),
        (("hold", "release", "lh-nope"), "Missing option '--reason'"),
        (("retry", "er-nope", "--system", "crm", "--reason", "r"), "no erasure request"),
        (("retry", "er-nope", "--system", "crm"), "Missing option '--reason'"),
        (
            ("controller-instruction", "er-1", "--system", "lms", "--reason", "r"),
            "exactly one of --erase or --retain",
        ),
        (
            (
                "controller-instruction",
                "er-1",
                "--system",
                "lms",
                "--erase",
                "--retain",
                "--reason",
                "r",
            ),
            "exactly one of --erase or --retain",
        ),
        (
            ("controller-instruction", "er-1", "--system", "lms", "--retain", "--reason", "r"),
            "--retain needs --basis",
        ),
        (
            (
                "controller-instruction",
                "er-1",
                "--system",
                "lms",
                "--retain",
                "--reason",
                "r",
                "--basis",
                "contract",
            ),
            "--retain needs --until DATE or --review-on DATE",
        ),
        (
            (
                "controller-instruction",
                "er-1",
                "--system",
                "lms",
                "--erase",
                "--reason",
                "r",
                "--basis",
                "contract",
            ),
            "go with --retain",
        ),
        (
            ("controller-instruction", "er-1", "--system", "lms", "--erase", "--reason", "r"),
            "no erasure request with id 'er-1'",
        ),
        (("backups", "replay", "--reason", "r"), "one of --pseudonym ps_… or --request ID"),
        (("backups", "replay", "--pseudonym", "ada", "--reason", "r"), "32 hex digits"),
        (("backups", "replay", "--request", "er-1", "--reason", "r"), "no erasure request"),
        (
            ("backups", "replay", "--pseudonym", "ps_" + "a" * 32, "--reason", "r"),
            "no erasure request for pseudonym",
        ),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert lethe(*args) != 0
    assert message in one_line_error(capsys)
    if (configured / "lethe.db").exists():
        assert lethe("hold", "list", "--all", "--json") == 0
        assert json.loads(capsys.readouterr().out) == []


def test_help_lists_the_new_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("--help") == 0
    out = capsys.readouterr().out
    for verb in ("hold", "retry", "sweeper", "backups", "controller-instruction"):
        assert verb in out


def test_an_address_can_come_from_stdin_instead_of_the_command_line(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command line is in every user's ``ps`` and in shell histories; stdin is not."""
    monkeypatch.setattr("sys.stdin", io.StringIO("Ada@Example.org\n"))
    assert lethe("hold", "add", "--subject", "-", "--reason", "case 17", "--json") == 0
    by_stdin = json.loads(capsys.readouterr().out)["subject_ref"]
    assert lethe("hold", "add", "--subject", "ada@example.org", "--reason", "r", "--json") == 0
    assert json.loads(capsys.readouterr().out)["subject_ref"] == by_stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("not an address\n"))
    assert lethe("submit", "-") == 1
    assert "invalid email address" in one_line_error(capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert lethe("dev-assertion", "-") == 1
    assert "stdin gave none" in one_line_error(capsys)
    assert lethe("submit", "-", "--assertion-file", "-") == 1
    assert "cannot both come from stdin" in one_line_error(capsys)
