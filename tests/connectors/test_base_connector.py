"""``BaseConnector[Options]``: typed options without casts, and ``async with`` closes it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from connectors import (
    BaseConnector,
    ConnectorOptions,
    ConnectorRegistry,
    NotFound,
    Outcome,
    Subject,
)


class LedgerOptions(ConnectorOptions):
    shelf: str


class Ledgers(BaseConnector[LedgerOptions]):
    kind: ClassVar[str] = "ledgers"
    closed = 0

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        return NotFound(evidence={"shelf": self.options.shelf})  # typed: no isinstance

    async def aclose(self) -> None:
        self.closed += 1


class OtherOptions(ConnectorOptions):
    drawer: str


class Preset(Ledgers):
    """A preset validates options of its own and says so."""

    Options: ClassVar[type[ConnectorOptions]] = OtherOptions


def test_the_parameter_is_the_options_model() -> None:
    assert Ledgers.Options is LedgerOptions
    assert Preset.Options is OtherOptions
    assert BaseConnector.Options is ConnectorOptions

    class Inherits(Ledgers):
        pass

    assert Inherits.Options is LedgerOptions


async def test_the_registry_builds_it_with_its_options() -> None:
    built = ConnectorRegistry({"ledgers": Ledgers}).build("a", "ledgers", {"shelf": "top"})
    assert isinstance(built, Ledgers) and built.options == LedgerOptions(shelf="top")
    outcome = await built.erase(Subject(ref="ps_1", email="ada@example.org"), "er-1")
    assert outcome.evidence == {"shelf": "top"}


async def test_async_with_closes_it_once_also_when_the_body_fails() -> None:
    async with Ledgers("a", LedgerOptions(shelf="top")) as ledgers:
        assert ledgers.closed == 0
    assert ledgers.closed == 1
    failing = Ledgers("b", LedgerOptions(shelf="top"))
    with pytest.raises(RuntimeError):
        async with failing:
            raise RuntimeError("the body failed")
    assert failing.closed == 1
