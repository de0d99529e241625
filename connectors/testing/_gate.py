"""The kit's one gate: a test of something the connector under test does not have is left out.

Capabilities are declared once, on the connector's class (``capabilities``); the kit reads
them before any test runs (``ConnectorKit.claimed_capabilities``: ``connector_class``, else the
installed ``kind``). Tests say what they require, with a marker:

    @pytest.mark.lethe_capability(Capability.PLAN)   a capability the connector must claim
    @pytest.mark.lethe_identifiers                   identifiers beyond the address
    a fault fixture among its arguments              (``transient_fault``…) the suite provides

The plugin (``connectors.testing.plugin``) asks :func:`not_applicable` of every kit test when
tests are collected, deselects those that do not apply and ends the run with one line saying
how many and why: not failed, and not skipped (a skip means "could not run here", never "does
not apply"). Nothing decides it again at run time. What the collection could not know (a suite
with neither ``connector_class`` nor an installed ``kind``) fails the test that needs the
capability, saying how to declare it (:func:`unclaimed_requirement`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .._protocol import Capability, Connector

if TYPE_CHECKING:
    from ._suite import ConnectorKit

__all__ = ["OPTIONAL_FIXTURES", "not_applicable", "unclaimed_requirement"]

#: Fixtures a suite may provide; a test that needs one it does not provide does not apply.
OPTIONAL_FIXTURES = ("transient_fault", "permanent_fault", "rate_limit_fault")


def required_capability(item: pytest.Item) -> Capability | None:
    marker = item.get_closest_marker("lethe_capability")
    return None if marker is None else Capability(marker.args[0])


def not_applicable(kit: type[ConnectorKit], item: pytest.Item) -> str | None:
    """Why ``item`` (a test of ``kit``) does not apply to its connector, or None."""
    from ._suite import ConnectorKit  # the kit's own defaults are what "not provided" means

    if item.get_closest_marker("lethe_identifiers") is not None:
        kinds = kit.identifier_kinds
        if kinds is not None and kinds <= {"email"}:
            return "its configuration looks people up by the address only"
    capability = required_capability(item)
    if capability is not None:
        claimed = kit.claimed_capabilities()
        if claimed is not None and capability not in claimed:
            return f"{kit.kind!r} does not claim the {capability.value} capability"
    for name in OPTIONAL_FIXTURES:
        if name in getattr(item, "fixturenames", ()) and _defined_by(kit, name) is ConnectorKit:
            return f"no {name} fixture provided"
    return None


def unclaimed_requirement(item: pytest.Item, connector: Connector) -> str | None:
    """What ``item`` requires that ``connector`` does not claim, as a failure message; None
    when nothing. Reached only when the collection could not tell (see the module)."""
    capability = required_capability(item)
    if capability is None or capability in connector.capabilities:
        return None
    return (
        f"{connector.kind!r} does not claim the {capability.value} capability, and the kit could"
        " not tell when tests were collected: set connector_class on the suite (or install"
        " the connector's entry point), and tests of capabilities it does not claim are left"
        " out; if it is set, the kit's plugin (connectors.testing.plugin) is not loaded"
    )


def _defined_by(kit: type, name: str) -> type | None:
    """The class in ``kit``'s MRO whose body defines ``name`` (the override that wins)."""
    return next((c for c in kit.__mro__ if name in vars(c)), None)
