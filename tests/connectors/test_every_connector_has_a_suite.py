"""Every connector registered in the ``lethe.connectors`` entry-point group runs the kit.

A test module under ``tests/`` that mentions ``connectors.testing`` is imported, and every
``Test…`` subclass of ``ConformanceSuite`` in it counts as a suite for its ``kind``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path

from connectors import ConnectorRegistry
from connectors.testing import ConformanceSuite

TESTS = Path(__file__).resolve().parent.parent


def conformance_suites(root: Path = TESTS) -> dict[str, list[type[ConformanceSuite]]]:
    """Collected suites (classes named ``Test…``) by the kind they test."""
    suites: dict[str, list[type[ConformanceSuite]]] = {}
    for path in sorted(root.rglob("test_*.py")):
        if "connectors.testing" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, ConformanceSuite) and obj.__name__.startswith("Test") and obj.kind:
                suites.setdefault(obj.kind, []).append(obj)
    return suites


def kinds_without_suite(
    registered: Iterable[str], suites: Mapping[str, list[type[ConformanceSuite]]]
) -> list[str]:
    return sorted(kind for kind in registered if not suites.get(kind))


def worked_by_a_person(registered: Mapping[str, type]) -> set[str]:
    """Kinds whose systems a person erases (``connectors.manual``): Lethe never calls their
    ``erase`` (the plan step opens a task); tests/connectors/test_manual.py holds them to that."""
    return {k for k, cls in registered.items() if getattr(cls, "worked_by_a_person", False)}


def test_every_registered_connector_has_a_conformance_suite() -> None:
    registered = ConnectorRegistry.from_entry_points().kinds()
    assert {"sql", "phpbb", "redis", "backup_files", "s3", "crypto_shred", "webhook"} <= set(
        registered
    )
    assert worked_by_a_person(registered) == {"manual"}
    missing = kinds_without_suite(
        set(registered) - worked_by_a_person(registered), conformance_suites()
    )
    assert not missing, (
        f"registered connectors without a conformance suite: {missing}; add a "
        "`class Test…(connectors.testing.ConformanceSuite)` with kind = '<kind>' under tests/"
    )


def test_a_connector_without_a_suite_is_reported() -> None:
    suites = conformance_suites()
    assert kinds_without_suite(["sql", "acme"], suites) == ["acme"]
    # A part of the kit is not a suite: only the whole ConformanceSuite counts.
    assert all(issubclass(s, ConformanceSuite) for found in suites.values() for s in found)


def test_the_sql_connectors_run_on_three_databases() -> None:
    suites = conformance_suites()
    for kind in ("sql", "phpbb"):
        backends = {getattr(s, "backend", "") for s in suites[kind]}
        assert backends == {"sqlite", "postgresql", "mariadb"}, (kind, backends)
