"""`lethe submit` refuses a configuration the worker would refuse, before writing anything,
without reading a single secret (only the worker reads them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe.errors import ConfigError
from lethe.preflight import check_systems
from lethe.runtime import load_registry
from lethe.settings import load_settings
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

CRM = """
[systems.crm]
connector = "{connector}"
url_env = "CRM_DATABASE_URL"     # never set here: submit must not need it
{extra}
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
{rule}
"""

INVOICES_GDPR_ONLY = """
[[systems.crm.tables]]
table = "invoices"
key = "customer_email"
identifier = "email"
action = "retain"
legal_basis = { gdpr = "gdpr-17-3-b" }
retain_days = 3650
"""

HASHED = """
[[systems.crm.tables]]
table = "members"
key = "email"
identifier = "email"
action = "anonymize"
hash = { email = "email" }
"""


def config(tmp_path: Path, connector: str = "sql", extra: str = "", rule: str = "") -> None:
    text = CRM.format(connector=connector, extra=extra, rule=rule)
    (tmp_path / "lethe.toml").write_text(text)


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")  # never reached
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    return lethe_home


@pytest.mark.parametrize(
    ("connector", "extra", "rule", "message"),
    [
        ("sqll", "", "", "system 'crm': unknown connector 'sqll' (known: "),
        ("sql", "max_rows = 0", "", "system 'crm' (sql): max_rows: Input should be greater"),
        ("sql", "chunk_size = 'big'", "", "chunk_size: Input should be a valid integer"),
        ("sql", "colour = 'blue'", "", "colour: Extra inputs are not permitted"),
        # A model-level check, decided whatever the secret turns out to be.
        ("sql", "", HASHED, "a rule hashes columns: give hash_secret"),
    ],
)
def test_what_the_worker_would_refuse_is_refused_before_anything_is_written(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    connector: str,
    extra: str,
    rule: str,
    message: str,
) -> None:
    config(configured.parent, connector, extra, rule)
    assert lethe("submit", "ada@example.org") == 78
    err = one_line_error(capsys)
    assert message in err and "(the worker would not start)" in err
    assert written(configured) == {}


def test_a_good_configuration_passes_without_its_secrets(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The secret is not set: submit gets past the configuration, to Temporal (unreachable)."""
    config(configured.parent, rule=INVOICES_GDPR_ONLY)
    assert lethe("submit", "ada@example.org") == 69
    assert "cannot reach Temporal" in one_line_error(capsys)
    assert written(configured) == {}


def test_a_retain_rule_without_a_basis_for_the_request_s_law_is_refused(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(configured.parent, rule=INVOICES_GDPR_ONLY)
    assert lethe("submit", "ada@example.org", "--jurisdiction", "ccpa") == 78
    err = one_line_error(capsys)
    assert "system 'crm': retain rule invoices names no legal basis for a ccpa request" in err
    assert "leave crm out with --systems" in err
    assert written(configured) == {}


def test_only_the_secret_s_own_problems_are_left_to_the_worker(
    configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A problem that a stand-in could cause (the URL's form) is not refused: the secret
    decides it, and only the worker reads it. The hash key is a secret too: a rule that
    hashes passes when hash_secret_env names it."""
    config(configured.parent, extra='hash_secret_env = "CRM_HASH_KEY"', rule=HASHED)
    settings = load_settings()
    check_systems(settings, load_registry(), jurisdiction="gdpr", systems=("crm",))
    # The worker, with the secrets, still decides what only they can: a short key.
    monkeypatch.setenv("CRM_DATABASE_URL", "sqlite+aiosqlite:///crm.db")
    monkeypatch.setenv("CRM_HASH_KEY", "short")
    from lethe.settings import build_connectors

    with pytest.raises(ConfigError, match="at least 16 characters"):
        build_connectors(settings.systems, load_registry())
