"""The manual connector: its systems are worked by a person, so it has no conformance suite
(tests/connectors/test_every_connector_has_a_suite.py leaves it out by this very flag); what
it does have is held here: it claims nothing but erase, and its erase changes nothing and says
why. Its tasks: tests/workflows/test_manual_tasks.py, tests/lethe/test_task_cli.py."""

from __future__ import annotations

import pytest

from connectors import (
    Capability,
    ConnectorConfigError,
    ConnectorRegistry,
    PermanentError,
    TransientError,
)
from connectors.manual import ManualConnector
from connectors.testing import SUBJECT

GOOD = {
    "instructions": "Shred the paper application in cabinet B.",
    "assignee": "records team",
}


async def test_it_is_worked_by_a_person_and_its_erase_changes_nothing() -> None:
    connector = ConnectorRegistry.from_entry_points().build("paper", "manual", GOOD)
    assert isinstance(connector, ManualConnector)
    assert ManualConnector.worked_by_a_person is True
    assert connector.capabilities == frozenset({Capability.ERASE})
    with pytest.raises(PermanentError) as err:
        await connector.erase(SUBJECT.subject(), "er-1")
    assert not isinstance(err.value, TransientError)
    assert "lethe task" in str(err.value) and "nothing was changed" in str(err.value)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"instructions": "Call ada@example.org"}, "address or phone number"),
        ({"instructions": "Ring +44 20 7946 0958 first"}, "address or phone number"),
        ({"instructions": "short"}, "instructions"),
        ({"assignee": ""}, "assignee"),
        ({"due_within_days": 0}, "due_within_days"),
    ],
)
def test_a_bad_configuration_is_refused_in_one_line(given: dict[str, object], says: str) -> None:
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build("paper", "manual", {**GOOD, **given})
    assert says in str(err.value) and "\n" not in str(err.value)
