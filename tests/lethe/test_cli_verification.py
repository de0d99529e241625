"""verify, extend, dev-assertion, submit --assertion, list --overdue/--due-within: what goes
wrong is one line and writes nothing. (The happy paths run in test_verification_end_to_end.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lethe.errors import ConfigError
from lethe.settings import load_settings
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG


@pytest.fixture
def configured(lethe_home: Path) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    return lethe_home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("submit", "a@example.org", "--verification", "preverified"), "signed assertion"),
        (("submit", "a@example.org", "--assertion", "a.b.c"), "no portal public key is trusted"),
        (("submit", "a@example.org", "--assertion", " "), "--assertion is empty"),
        (
            ("submit", "a@example.org", "--verification", "email", "--assertion", "a.b.c"),
            "only goes with --verification preverified",
        ),
        (
            ("submit", "a@example.org", "--assertion", "x", "--assertion-file", "y"),
            "not both",
        ),
        (("submit", "a@example.org", "--assertion-file", "missing.jwt"), "cannot read"),
        (("verify", "er-1"), "give the requester's --code (or --resend"),
        (("verify", "er-1", "--code", "12345678", "--resend"), "not both"),
        (("verify", "er-1", "--resend", "--reason", " "), "--reason must say why"),
        (("verify", "er-1", "--code", "12345678", "--reason", "x"), "goes with --resend"),
        (("acknowledge", "er-1", "--reason", "x"), "--channel is missing"),
        (("acknowledge", "er-1", "--channel", "fax", "--reason", "x"), "'fax' is not one of"),
        (("acknowledge", "er-1", "--channel", "phone", "--reason", " "), "--reason must say"),
        (("extend", "er-1"), "Missing option '--reason'"),
        (("extend", "er-1", "--reason", "  "), "--reason must say why"),
        (("list", "--due-within", "7x"), "--due-within: cannot read '7x' as a duration"),
        (("list", "--due-within", "0d"), "longer than zero"),
        (("dev-assertion",), "give the EMAIL"),
        (("dev-assertion", "not-an-email"), "invalid email address"),
        (("dev-assertion", "a@example.org", "--lifetime", "2h"), "one hour at most"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert lethe(*args) != 0
    assert message in one_line_error(capsys)
    assert written(configured) == {}


def test_unknown_requests_are_not_found(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("verify", "er-nope", "--code", "12345678") == 4
    assert "no erasure request with id 'er-nope'" in one_line_error(capsys)
    assert lethe("verify", "er-nope", "--resend") == 4
    assert "no erasure request with id 'er-nope'" in one_line_error(capsys)
    assert lethe("acknowledge", "er-nope", "--channel", "phone", "--reason", "called") == 4
    assert "no erasure request with id 'er-nope'" in one_line_error(capsys)
    assert lethe("extend", "er-nope", "--reason", "complex") == 4
    assert "no erasure request with id 'er-nope'" in one_line_error(capsys)


def test_a_forged_assertion_writes_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust the dev portal, then present a token whose payload was swapped.
    assert lethe("dev-assertion", "--public-key") == 0
    monkeypatch.setenv("LETHE_PORTAL_PUBLIC_KEYS", capsys.readouterr().out.strip())
    assert lethe("dev-assertion", "ada@example.org") == 0
    token = capsys.readouterr().out.strip()
    assert lethe("dev-assertion", "eve@example.org") == 0
    other = capsys.readouterr().out.strip()
    forged = ".".join([*token.split(".")[:1], other.split(".")[1], token.split(".")[2]])
    assert lethe("submit", "eve@example.org", "--assertion", forged) == 1
    assert "signature does not verify" in one_line_error(capsys)
    assert lethe("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_dev_assertion_says_when_its_key_is_not_trusted(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("dev-assertion", "ada@example.org", "--json") == 0
    out = capsys.readouterr()
    printed = json.loads(out.out)
    assert printed["assertion"].count(".") == 2 and "ada@example.org" not in printed["assertion"]
    assert f"LETHE_PORTAL_PUBLIC_KEYS={printed['public_key']}" in out.err
    trusted = load_settings({"LETHE_PORTAL_PUBLIC_KEYS": printed["public_key"]})
    assert trusted.verification.portal_public_keys == (printed["public_key"],)


def test_list_filters_on_an_empty_ledger(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("list", "--overdue") == 0
    assert "No request matches" in capsys.readouterr().out
    assert lethe("list", "--due-within", "7d", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_help_lists_the_new_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("--help") == 0
    out = capsys.readouterr().out
    for verb in ("verify", "extend", "dev-assertion", "acknowledge"):
        assert verb in out


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ('[deadlines]\ntimezone = "Mars/Olympus"\n', {}, "unknown time zone"),
        ('[mail]\nsmtp_security = "ssl3"\n', {}, "'starttls', 'tls' or 'none'"),
        ('[mail]\nsmtp_password_env = "NOT A NAME"\n', {}, "name of an environment variable"),
        ('[mail]\nsender = "nobody"\n', {}, r"\[mail\] sender: must be an email address"),
        ('[verification]\nportal_public_keys = ["bm9wZQ=="]\n', {}, "not base64 of 32"),
        ("[verification]\ncode_attempts = 0\n", {}, "code_attempts"),
        ("[verification]\ncode_resends = 11\n", {}, "code_resends"),
        ("", {"LETHE_SMTP_PORT": "abc"}, "LETHE_SMTP_PORT"),
    ],
)
def test_bad_settings(tmp_path: Path, config: str, env: dict[str, str], message: str) -> None:
    (tmp_path / "lethe.toml").write_text(config)
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        load_settings(env, cwd=tmp_path)


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    s = load_settings({}, cwd=tmp_path)
    assert (s.verification.code_ttl_hours, s.verification.code_attempts) == (72.0, 5)
    assert s.verification.code_resends == 3
    assert s.mail.smtp_host is None and s.deadlines.timezone == "UTC"
    assert s.deadlines.policy().acknowledge is not None
    (tmp_path / "lethe.toml").write_text(
        '[mail]\nsmtp_host = "mail.example.com"\nsmtp_password_env = "PW"\n'
        '[deadlines]\ntimezone = "Europe/Berlin"\nreminder_days = 0\npolicy_extension_days = 45\n'
        "[verification]\ncode_ttl_hours = 24\ncode_attempts = 3\n"
    )
    s = load_settings({"PW": "hunter2", "LETHE_SMTP_PORT": "2525"}, cwd=tmp_path)
    assert (s.mail.smtp_host, s.mail.smtp_port, s.mail.smtp_password(s.environ)) == (
        "mail.example.com",
        2525,
        "hunter2",
    )
    assert "hunter2" not in repr(s)
    with pytest.raises(ConfigError, match=r"\$PW, which is not set"):  # read when mail is built
        load_settings({}, cwd=tmp_path).mail.smtp_password({})
    assert s.deadlines.reminder_days == 0 and s.deadlines.policy_extension_days == 45
    assert (s.verification.code_ttl_hours, s.verification.code_attempts) == (24, 3)
