"""The command line: bad input is one line on stderr, a non-zero exit, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

CONFIG = """
[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""


@pytest.fixture
def configured(lethe_home: Path) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    return lethe_home


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.org", "a b@example.org", ""])
def test_submit_rejects_bad_email(
    configured: Path, capsys: pytest.CaptureFixture[str], email: str
) -> None:
    assert lethe("submit", email) == 1
    assert "invalid email address" in one_line_error(capsys)
    assert written(configured) == {}  # nothing written


def test_status_of_unknown_request(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("status", "no-such-id") == 4
    assert "no erasure request with id 'no-such-id'" in one_line_error(capsys)


def test_json_errors_are_json(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("status", "no-such-id", "--json") == 4
    out = capsys.readouterr()
    assert json.loads(out.out) == {"error": "no erasure request with id 'no-such-id'"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("submit", "a@example.org", "--systems", "crm,nope"), "unknown system 'nope'"),
        (("submit", "a@example.org", "-j", "mars"), "unknown jurisdiction 'mars'"),
        (("submit", "a@example.org", "--verification", "vibes"), "unknown verification method"),
        (("submit",), "Missing argument"),
        (("approve", "er-1"), "Missing option '--reason'"),
        (("list", "--limit", "0"), "--limit"),
        (("frobnicate",), "No such command"),
    ],
)
def test_usage_errors(
    configured: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert lethe(*args) != 0
    assert message in one_line_error(capsys)


def test_unreachable_server_writes_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    assert lethe("submit", "ada@example.org") == 69
    assert "cannot reach Temporal at 127.0.0.1:9" in one_line_error(capsys)
    assert lethe("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_no_systems_configured(lethe_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("submit", "ada@example.org") == 1
    assert "no systems are configured" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[systems.crm\n", "not valid TOML"),
        ("[sytems.crm]\nconnector='sql'\n", "sytems"),
        ("[systems.crm]\nurl='sqlite://'\n", "missing connector"),
        (
            "[systems.crm]\nconnector='sql'\nurl='postgresql://u:hunter2@db/x'\ntables=[]\n",
            "holds a password",
        ),
        ("[systems.crm]\nconnector='sql'\napi_token='hunter2'\n", "is a secret"),
        ("[systems.crm]\nconnector='sql'\nurl_env='not a variable'\n", "name of an environment"),
        ("[systems.CRM]\nconnector='sql'\n", "lower-case"),
    ],
)
def test_bad_configuration_is_one_line(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    (lethe_home.parent / "lethe.toml").write_text(config)
    assert lethe("submit", "ada@example.org") != 0
    err = one_line_error(capsys)
    assert message in err
    assert "hunter2" not in err


SECRET_SYSTEM = """
[systems.crm]
connector = "sql"
url_env = "LETHE_TEST_CRM_URL_UNSET"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""


def test_only_the_worker_needs_the_systems_secrets(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lethe_home.parent / "lethe.toml").write_text(SECRET_SYSTEM)
    assert lethe("list") == 0  # reading the ledger needs no system's secret
    capsys.readouterr()
    assert lethe("worker") == 78  # the worker stops before it connects to anything
    assert one_line_error(capsys) == (
        "lethe: error: system 'crm': option 'url_env' names $LETHE_TEST_CRM_URL_UNSET,"
        " which is not set"
    )
    assert lethe("connectors", "check") == 78
    assert "$LETHE_TEST_CRM_URL_UNSET, which is not set" in one_line_error(capsys)


def test_list_and_status_on_an_empty_ledger(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("list") == 0
    assert "No requests yet" in capsys.readouterr().out


def test_help_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("--help") == 0
    out = capsys.readouterr().out
    for verb in ("submit", "approve", "cancel", "status", "list", "dev", "worker", "demo"):
        assert verb in out


@pytest.mark.parametrize("debug", ["", "1"])
def test_a_bug_does_not_print_the_address_it_failed_on(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    debug: str,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("no entry for ada@example.org")

    monkeypatch.setattr("lethe.cli.requests.validate_request", broken)
    monkeypatch.setenv("LETHE_DEBUG", debug)
    assert lethe("submit", "ada@example.org") == 70
    err = capsys.readouterr().err
    assert "internal error: KeyError: 'no entry for [email redacted]'" in err
    assert "ada@example.org" not in err and ("Traceback" in err) == bool(debug)
