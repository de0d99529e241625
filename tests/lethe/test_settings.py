from __future__ import annotations

from pathlib import Path

import pytest

from lethe.errors import ConfigError
from lethe.runtime import load_registry
from lethe.settings import build_connectors, load_settings


def test_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings({}, cwd=tmp_path)
    assert s.home == tmp_path / ".lethe"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / '.lethe' / 'lethe.db'}"
    assert (s.temporal.address, s.temporal.namespace, s.temporal.task_queue) == (
        "127.0.0.1:7233",
        "default",
        "lethe",
    )
    assert not s.temporal.tls and s.systems == {}


def test_environment_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[temporal]\naddress = "file:7233"\nnamespace = "prod"\n'
        '[ledger]\ndatabase_url = "sqlite+aiosqlite:///file.db"\n'
        "[erasure]\nverification_timeout_hours = 24\n"
    )
    env = {"LETHE_TEMPORAL_ADDRESS": "env:7233", "LETHE_TEMPORAL_API_KEY": "tk-9f8e7d"}
    s = load_settings(env, cwd=tmp_path)
    assert s.temporal.address == "env:7233" and s.temporal.namespace == "prod"
    assert s.temporal.tls and s.temporal.api_key == "tk-9f8e7d"  # an API key implies TLS
    assert "tk-9f8e7d" not in repr(s.temporal)
    assert s.database_url.endswith("file.db")
    assert s.erasure.verification_timeout_hours == 24


def test_secrets_come_from_named_variables(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[systems.crm]\nconnector = "sql"\nurl_env = "CRM_URL"\n'
        '[systems.crm.auth]\npassword_env = "CRM_PW"\n'
    )
    env = {"CRM_URL": "postgresql://u:p@h/db", "CRM_PW": "pw"}
    s = load_settings(env, cwd=tmp_path)
    crm = s.systems["crm"]
    assert crm.options == {"url_env": "CRM_URL", "auth": {"password_env": "CRM_PW"}}  # as written
    assert crm.resolved_options(env) == {"url": "postgresql://u:p@h/db", "auth": {"password": "pw"}}
    assert crm.resolved_options(s.environ) == crm.resolved_options(env)
    assert "pw" not in repr(s)


def test_secrets_are_read_where_they_are_used(tmp_path: Path) -> None:
    """A machine without the systems' secrets can still load the settings (list, status,
    audit, submit); building the connectors names the system and the missing variable."""
    (tmp_path / "lethe.toml").write_text(
        '[systems.crm]\nconnector = "sql"\n[systems.crm.auth]\npassword_env = "CRM_PW"\n'
    )
    s = load_settings({}, cwd=tmp_path)
    with pytest.raises(ConfigError) as err:
        build_connectors(s.systems, load_registry(), {})
    assert str(err.value) == "system 'crm': option 'password_env' names $CRM_PW, which is not set"


@pytest.mark.parametrize("name", ["", "NOT A NAME", "1X", "$X"])
def test_a_secret_reference_must_name_a_variable(tmp_path: Path, name: str) -> None:
    (tmp_path / "lethe.toml").write_text(f'[systems.crm]\nconnector = "sql"\nurl_env = "{name}"\n')
    with pytest.raises(ConfigError, match="expected the name of an environment variable"):
        load_settings({}, cwd=tmp_path)


def test_both_inline_and_env_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text('[systems.crm]\nconnector="sql"\nurl="x"\nurl_env="X"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_settings({"X": "y"}, cwd=tmp_path)


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"LETHE_CONFIG": str(tmp_path / "nope.toml")}, cwd=tmp_path)


def test_half_a_client_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both a certificate and a key"):
        load_settings({"LETHE_TEMPORAL_TLS_CERT": "c.pem"}, cwd=tmp_path)


# -- [alerts] ---------------------------------------------------------------------------------


def test_alerts_default_to_every_event_and_read_the_webhook_where_used(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[mail]\nsmtp_host = "mail.example.org"\n'
        '[alerts]\nmail_to = ["privacy-team@example.org", "dpo@example.org"]\n'
        'webhook_url_env = "ALERT_URL"\nsecret_env = "ALERT_SECRET"\n'
    )
    s = load_settings({}, cwd=tmp_path)  # the variables are not needed to load
    assert s.alerts.on == (
        "acknowledgement_overdue",
        "deadline_reminder",
        "deadline_overdue",
        "referral_escalated",
        "system_failed",
        "system_unserved",
        "request_stalled",
        "payload_refused",
        "manual_task_opened",
        "manual_task_overdue",
        "processor_overdue",
    )
    assert s.alerts.mail_to == ("privacy-team@example.org", "dpo@example.org")
    with pytest.raises(ConfigError, match=r"\[alerts\] webhook_url_env names \$ALERT_URL"):
        s.alerts.webhook(s.environ)
    env = {"ALERT_URL": "https://ops.example.org/hook", "ALERT_SECRET": "s3cret"}
    assert s.alerts.webhook(env) == ("https://ops.example.org/hook", "s3cret")
    with pytest.raises(ConfigError, match="not an http"):
        s.alerts.webhook({**env, "ALERT_URL": "ftp://ops"})


def test_alerts_choose_their_events(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[alerts]\nwebhook_url_env = "U"\nsecret_env = "S"\non = ["deadline_overdue"]\n'
    )
    assert load_settings({}, cwd=tmp_path).alerts.on == ("deadline_overdue",)


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[alerts]\nwebhook_url_env = "U"\nsecret_env = "S"\non = ["overdue"]\n',
            {},
            "[alerts] on: unknown event 'overdue' (known: acknowledgement_overdue, "
            "deadline_reminder, deadline_overdue, referral_escalated, system_failed, "
            "system_unserved, request_stalled, payload_refused, manual_task_opened,"
            " manual_task_overdue, processor_overdue)",
        ),
        (
            '[alerts]\nmail_to = ["ops@example.org"]\n',
            {},
            "[alerts] mail_to needs a mail server: set [mail] smtp_host (or LETHE_SMTP_HOST)",
        ),
        (
            '[mail]\nsmtp_host = "mail"\n[alerts]\nmail_to = ["privacy team"]\n',
            {},
            "[alerts] mail_to: 'privacy team' is not an email address",
        ),
        (
            '[alerts]\nwebhook_url_env = "U"\n',
            {},
            "[alerts] webhook_url_env and secret_env go together: give both",
        ),
        (
            '[alerts]\nwebhook_url_env = "https://ops"\nsecret_env = "S"\n',
            {},
            "[alerts] webhook_url_env: expected the name of an environment variable",
        ),
        ('[alerts]\nmail = ["ops@example.org"]\n', {}, "alerts.mail"),
    ],
)
def test_bad_alerts_are_one_line_errors(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "lethe.toml").write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(env, cwd=tmp_path)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_alerts_mail_may_use_the_environments_mail_server(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text('[alerts]\nmail_to = ["ops@example.org"]\n')
    s = load_settings({"LETHE_SMTP_HOST": "127.0.0.1"}, cwd=tmp_path)
    assert s.alerts.mail_to == ("ops@example.org",) and s.alerts.webhook() is None
