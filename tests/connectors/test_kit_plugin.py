"""The kit's pytest plugin leaves out tests that cannot apply, instead of skipping them."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors import Capability
from connectors.backup_files import BackupFilesConnector
from connectors.testing import ConformanceSuite, FaultInjector
from connectors.testing import _suite as suite_module
from connectors.testing._gate import unclaimed_requirement
from connectors.testing.plugin import not_applicable

ROOT = Path(__file__).resolve().parents[2]


class Item:
    """Just enough of a pytest item for the rule."""

    def __init__(
        self,
        fixtures: tuple[str, ...] = (),
        capability: Capability | None = None,
        *,
        identifiers: bool = False,
    ):
        self.fixturenames = fixtures
        self._markers = {
            "lethe_capability": pytest.mark.lethe_capability(capability).mark
            if capability
            else None,
            "lethe_identifiers": pytest.mark.lethe_identifiers.mark if identifiers else None,
        }

    def get_closest_marker(self, name: str) -> Any:
        return self._markers.get(name)


class Backups(ConformanceSuite):
    kind = "backup_files"


class BackupsWithFaults(Backups):
    @pytest.fixture
    def transient_fault(self) -> FaultInjector:
        raise AssertionError("never called here")


class Declared(ConformanceSuite):
    kind = "not-installed-anywhere"
    connector_class = BackupFilesConnector


class Unknown(ConformanceSuite):
    kind = "not-installed-anywhere"


class ByAddress(Backups):
    identifier_kinds = frozenset({"email"})


class ByUsernameToo(Backups):
    identifier_kinds = frozenset({"email", "username"})


def test_capabilities_come_from_the_installed_kind_or_the_declared_class() -> None:
    assert Backups.claimed_capabilities() == BackupFilesConnector.capabilities
    assert Declared.claimed_capabilities() == BackupFilesConnector.capabilities
    assert Unknown.claimed_capabilities() is None


def test_unclaimed_capabilities_and_missing_fault_fixtures_do_not_apply() -> None:
    assert not_applicable(Backups, Item(capability=Capability.ASYNC)) == (
        "'backup_files' does not claim the async capability"
    )
    assert not_applicable(Backups, Item(capability=Capability.ERASE)) is None
    assert (
        not_applicable(Backups, Item(("transient_fault",))) == "no transient_fault fixture provided"
    )
    assert not_applicable(BackupsWithFaults, Item(("transient_fault",))) is None
    # Nothing known about the connector: the test runs, and fails if the connector does not
    # claim the capability (below), never skips.
    assert not_applicable(Unknown, Item(capability=Capability.ASYNC)) is None


def test_what_the_collection_could_not_know_fails_and_says_how_to_declare_it(
    tmp_path: Path,
) -> None:
    backups = BackupFilesConnector(
        "b",
        BackupFilesConnector.Options.model_validate({"path": str(tmp_path), "retention_days": 30}),
    )
    why = unclaimed_requirement(Item(capability=Capability.ASYNC), backups)
    assert why is not None and "does not claim the async capability" in why
    assert "set connector_class" in why
    assert unclaimed_requirement(Item(capability=Capability.ERASE), backups) is None
    assert unclaimed_requirement(Item(), backups) is None


def test_the_kit_decides_what_applies_once_when_tests_are_collected() -> None:
    # No test of the kit asks again at run time, and none skips for a capability.
    source = inspect.getsource(suite_module)
    assert "requires(" not in source
    assert not re.search(r"pytest\.skip\([^)]*(capabilit|fixture)", source)


def test_the_not_searched_test_is_left_out_where_only_the_address_is_needed() -> None:
    assert not_applicable(ByAddress, Item(identifiers=True)) == (
        "its configuration looks people up by the address only"
    )
    assert not_applicable(ByUsernameToo, Item(identifiers=True)) is None
    # Not declared: the test runs and finds out (see tests/connectors/test_kit.py).
    assert not_applicable(Backups, Item(identifiers=True)) is None


@pytest.mark.slow  # a few seconds
def test_a_real_suite_runs_without_skips_and_says_what_it_left_out() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/connectors/test_backup_files_conformance.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out[-2000:]
    assert "skipped" not in out and "SKIPPED" not in out
    assert (
        "conformance kit:" in out and "'backup_files' does not claim the verify capability" in out
    )
    assert "deselected" in out
