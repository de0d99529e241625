from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lethe.deadlines import add_months, answer_due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2026, 1, 31, 9, tzinfo=UTC), datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, tzinfo=UTC), datetime(2028, 2, 29, 9, tzinfo=UTC)),
        (datetime(2026, 3, 15, 9, tzinfo=UTC), datetime(2026, 4, 15, 9, tzinfo=UTC)),
        (datetime(2026, 12, 31, 9, tzinfo=UTC), datetime(2027, 1, 31, 9, tzinfo=UTC)),
    ],
)
def test_gdpr_is_one_calendar_month(received: datetime, due: datetime) -> None:
    assert answer_due("gdpr", received) == due


def test_ccpa_is_45_days() -> None:
    received = datetime(2026, 5, 1, tzinfo=UTC)
    assert answer_due("ccpa", received) == received + timedelta(days=45)


def test_add_months_across_years() -> None:
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


def test_unknown_jurisdiction() -> None:
    with pytest.raises(ValueError):
        answer_due("mars", datetime(2026, 1, 1, tzinfo=UTC))
