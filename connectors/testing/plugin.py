"""The conformance kit's pytest plugin (loaded by the ``pytest11`` entry point).

A kit test that cannot apply to the connector under test — a capability it does not claim,
an optional fault fixture its suite does not provide — is left out when tests are collected,
and the run ends with one line saying how many and why. They are not reported as skipped:
a skip should mean "could not run here" (a server down), never "does not apply".
"""

from __future__ import annotations

from collections import Counter

import pytest

from ._suite import ConnectorKit

__all__ = ["not_applicable"]

_OPTIONAL_FIXTURES = ("transient_fault", "permanent_fault", "rate_limit_fault")
_LEFT_OUT = pytest.StashKey[Counter[str]]()


def not_applicable(kit: type[ConnectorKit], item: pytest.Item) -> str | None:
    """Why ``item`` (a test of ``kit``) does not apply to its connector, or None."""
    if item.get_closest_marker("lethe_identifiers") is not None:
        kinds = kit.identifier_kinds
        if kinds is not None and kinds <= {"email"}:
            return "its configuration looks people up by the address only"
    marker = item.get_closest_marker("lethe_capability")
    if marker is not None:
        claimed = kit.claimed_capabilities()
        capability = marker.args[0]
        if claimed is not None and capability not in claimed:
            return f"{kit.kind!r} does not claim the {capability.value} capability"
    for name in _OPTIONAL_FIXTURES:
        if name in getattr(item, "fixturenames", ()) and _defined_by(kit, name) is ConnectorKit:
            return f"no {name} fixture provided"
    return None


def _defined_by(kit: type, name: str) -> type | None:
    """The class in ``kit``'s MRO whose body defines ``name`` (the override that wins)."""
    return next((c for c in kit.__mro__ if name in vars(c)), None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lethe_capability(capability): a kit test of one connector capability"
    )
    config.addinivalue_line(
        "markers",
        "lethe_identifiers: a kit test of identifiers beyond the address (left out for a"
        " suite whose identifier_kinds is only the email)",
    )
    config.stash[_LEFT_OUT] = Counter()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        kit = getattr(item, "cls", None)
        why = (
            not_applicable(kit, item)
            if isinstance(kit, type) and issubclass(kit, ConnectorKit)
            else None
        )
        if why is None:
            keep.append(item)
        else:
            left_out.append(item)
            config.stash[_LEFT_OUT][why] += 1
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = terminalreporter.config.stash.get(_LEFT_OUT, Counter())
    if counts:
        reasons = "; ".join(f"{why} ({n})" for why, n in sorted(counts.items()))
        terminalreporter.write_line(
            f"conformance kit: {sum(counts.values())} tests do not apply and were left out: "
            f"{reasons}"
        )
