"""The registry: entry points, module:Class references, and clear errors."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from connectors import ConnectorConfigError, ConnectorRegistry, Subject, redact
from connectors.backup_files import BackupFilesConnector
from connectors.sql import SqlConnector


def test_installed_connectors_are_registered() -> None:
    kinds = ConnectorRegistry.from_entry_points().kinds()
    assert kinds["sql"] is SqlConnector
    assert kinds["backup_files"] is BackupFilesConnector


def test_duplicate_plugins_are_refused() -> None:
    eps = [
        EntryPoint("sql", "connectors.sql:SqlConnector", "lethe.connectors"),
        EntryPoint("sql", "connectors.backup_files:BackupFilesConnector", "lethe.connectors"),
    ]
    with pytest.raises(ConnectorConfigError, match="two plugins register the connector 'sql'"):
        ConnectorRegistry.from_entries(eps)


def test_the_same_plugin_seen_twice_is_fine() -> None:
    ep = EntryPoint("sql", "connectors.sql:SqlConnector", "lethe.connectors")
    assert ConnectorRegistry.from_entries([ep, ep]).kinds() == {"sql": SqlConnector}


def test_broken_plugin_names_itself() -> None:
    eps = [EntryPoint("acme", "no_such_module_xyz:Thing", "lethe.connectors")]
    with pytest.raises(ConnectorConfigError, match=r"connector plugin 'acme'.*failed to import"):
        ConnectorRegistry.from_entries(eps)


def test_not_a_connector_is_refused() -> None:
    eps = [EntryPoint("acme", "connectors:Subject", "lethe.connectors")]
    with pytest.raises(ConnectorConfigError, match="lacks"):
        ConnectorRegistry.from_entries(eps)


def test_module_reference_and_unknown_kind() -> None:
    reg = ConnectorRegistry()
    assert reg.resolve("connectors.sql:SqlConnector") is SqlConnector
    with pytest.raises(ConnectorConfigError, match=r"unknown connector 'nope'"):
        reg.build("crm", "nope", {})
    with pytest.raises(ConnectorConfigError, match=r"system 'crm'.*cannot import"):
        reg.build("crm", "nowhere.at_all:X", {})


def test_validation_errors_do_not_echo_values() -> None:
    reg = ConnectorRegistry({"sql": SqlConnector})
    with pytest.raises(ConnectorConfigError) as err:
        reg.build("crm", "sql", {"url": "sqlite://", "tables": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(err.value)


def test_subject_repr_and_redaction_hide_identifiers() -> None:
    s = Subject(ref="ps_1", email="ada@example.org", identifiers={"name": "Ada Byron"})
    assert "ada@" not in repr(s) and "Byron" not in str(s)
    text = "failed for ADA@example.org (Ada Byron); also bob@example.net"
    assert redact(text, s) == "failed for [redacted] ([redacted]); also [email redacted]"


def test_redaction_finds_identifiers_as_systems_quote_them() -> None:
    """Error texts come from databases and HTTP APIs: URLs, JSON bodies, parts of a name."""
    s = Subject(ref="ps_1", email="zoe@example.org", identifiers={"name": "Zoë Kanarie"})
    said = {
        "url": "GET /users?email=zoe%40example.org failed: 404",
        "url, +": "GET /search?q=Zo%C3%AB+Kanarie failed",
        "json": 'HTTP 409 {"error": "exists", "name": "Zo\\u00eb Kanarie"}',
        "surname": "no contact called KANARIE",
        "first name": "Zoë asked for this",
    }
    for what, text in said.items():
        out = redact(text, s)
        assert "kanarie" not in out.lower() and "zo" not in out.lower().replace("[", ""), what
        assert "[redacted]" in out or "[email redacted]" in out, what
    # Without the subject, an address is still found, URL-encoded or not.
    assert redact("POST /u/ada%40example.org: 500") == "POST /u/[email redacted]: 500"
    # Words of a name are matched as words: a longer word that contains one is left alone.
    assert redact("Zoë's ticket in zoetrope", s) == "[redacted]'s ticket in zoetrope"
    # An address's local part names the person too, word by word.
    ada = Subject(ref="ps_2", email="ada.lovelace@example.org")
    assert redact("Lovelace called; Ada's ticket 4411", ada) == (
        "[redacted] called; [redacted]'s ticket 4411"
    )


def test_a_claimed_capability_needs_its_method() -> None:
    from typing import ClassVar

    from connectors import BaseConnector, Capability, NotFound, Outcome

    class ClaimsPlan(BaseConnector):
        kind: ClassVar[str] = "claims_plan"
        capabilities: ClassVar[frozenset[Capability]] = frozenset(
            {Capability.ERASE, Capability.PLAN}
        )

    with pytest.raises(ConnectorConfigError, match=r"claims 'erase' but does not implement"):
        ConnectorRegistry.validate_class("claims_plan", ClaimsPlan)

    async def erase(self: BaseConnector, subject: Subject, request_id: str) -> Outcome:
        return NotFound()

    ClaimsPlan.erase = erase  # type: ignore[method-assign]
    with pytest.raises(ConnectorConfigError, match=r"claims 'plan' but does not implement plan"):
        ConnectorRegistry.validate_class("claims_plan", ClaimsPlan)


def test_entry_point_name_must_match_the_kind() -> None:
    eps = [EntryPoint("crm", "connectors.sql:SqlConnector", "lethe.connectors")]
    with pytest.raises(ConnectorConfigError, match="declares kind 'sql'"):
        ConnectorRegistry.from_entries(eps)


def test_max_items_and_max_rows_are_one_limit() -> None:
    reg = ConnectorRegistry({"backup_files": BackupFilesConnector})
    base = {"path": "/tmp", "retention_days": 1}
    assert reg.build("b", "backup_files", {**base, "max_rows": 7}).options.max_items == 7  # type: ignore[attr-defined]
    assert reg.build("b", "backup_files", {**base, "max_items": 8}).options.max_rows == 8  # type: ignore[attr-defined]
    with pytest.raises(ConnectorConfigError, match="not both"):
        reg.build("b", "backup_files", {**base, "max_items": 8, "max_rows": 9})


def test_redaction_removes_phone_numbers_as_the_command_line_does() -> None:
    """One scrubber: what an operator's reason loses (``lethe/free_text.py``) is what a
    system's error or evidence loses in an activity: anyone's address and phone number."""
    said = "rang +1 (555) 010-0199 and +44 20 7946 0958; wrote kim@corp.example; ticket 4411"
    assert redact(said) == (
        "rang [phone redacted] and [phone redacted]; wrote [email redacted]; ticket 4411"
    )
    # The person's own number, written with other separators or none, and without its +.
    s = Subject(ref="ps_1", email="ada@example.org", identifiers={"phone": "+44 20 7946 0958"})
    for written in ("442079460958", "44-20-7946-0958", "+44 (20) 7946 0958"):
        assert redact(f"no contact {written} found", s) == "no contact [redacted] found", written
    # Numbers that are not phone numbers stay: dates, counts, times with an offset.
    kept = "2026-07-01T09:30:00+01:00: 1200 rows, case 2026-17"
    assert redact(kept, s) == kept
    # An operator's name keeps their own contact details; only the person's go.
    assert redact("kim +1 555 010 0199", s, any_address=False) == "kim +1 555 010 0199"
