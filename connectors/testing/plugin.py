"""The conformance kit's pytest plugin (loaded by the ``pytest11`` entry point): the gate of
``connectors.testing._gate`` applied when tests are collected.

A kit test that cannot apply to the connector under test — a capability it does not claim,
identifiers its configuration does not use, an optional fault fixture its suite does not
provide — is left out when tests are collected, and the run ends with one line saying how many
and why. They are not reported as skipped: a skip should mean "could not run here" (a server
down), never "does not apply".
"""

from __future__ import annotations

from collections import Counter

import pytest

from ._gate import not_applicable
from ._suite import ConnectorKit

__all__ = ["not_applicable"]

_LEFT_OUT = pytest.StashKey[Counter[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lethe_capability(capability): a kit test of one connector capability (left out for a"
        " connector that does not claim it)",
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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its count to the controller, which prints the line."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        left_out: Counter[str] = session.config.stash[_LEFT_OUT]
        output["lethe_kit_left_out"] = dict(left_out)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    # Every worker collects the whole suite, so they all count the same tests: take one.
    counts = getattr(node, "workeroutput", {}).get("lethe_kit_left_out")
    config = getattr(node, "config", None)
    if counts and isinstance(config, pytest.Config):
        left_out = config.stash[_LEFT_OUT]
        if not left_out:
            left_out.update(Counter(counts))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = terminalreporter.config.stash.get(_LEFT_OUT, Counter())
    if counts:
        reasons = "; ".join(f"{why} ({n})" for why, n in sorted(counts.items()))
        terminalreporter.write_line(
            f"conformance kit: {sum(counts.values())} tests do not apply and were left out: "
            f"{reasons}"
        )
