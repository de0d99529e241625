"""The rule from each system's latest outcome to the request's status, for every case."""

from __future__ import annotations

import pytest

from vocabulary import FINAL_STATUSES, OutcomeKind, RequestStatus, request_status


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["erased", "not_found"], "completed"),
        (["erased", "retained"], "completed_with_exceptions"),
        (["erased", "referred"], "completed_with_exceptions"),
        (["erased", "in_progress"], "completed_with_exceptions"),  # a round under way
        (["retained", "failed"], "partially_failed"),
        # A system the request lacked an identifier for is not done, like a failed one.
        (["erased", "not_searched"], "partially_failed"),
        (["retained", "not_searched"], "partially_failed"),
        # No system erased as asked: the request failed, not "partially".
        (["failed"], "failed"),
        (["failed", "failed"], "failed"),
        (["failed", "not_searched"], "failed"),
        (["not_searched"], "failed"),
    ],
)
def test_the_rule(outcomes: list[str], status: str) -> None:
    assert request_status(outcomes) == status


def test_no_system_at_all_is_completed() -> None:
    assert request_status([]) == RequestStatus.COMPLETED


def test_every_answer_is_a_final_status_and_a_member() -> None:
    for a in OutcomeKind:
        for b in OutcomeKind:
            status = request_status([a, b])
            assert isinstance(status, RequestStatus)
            assert status in FINAL_STATUSES
