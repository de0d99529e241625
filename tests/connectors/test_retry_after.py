"""``parse_retry_after``: what an HTTP connector hands to ``TransientError(retry_after=…)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors import parse_retry_after

NOW = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "delay"),
    [
        ("120", timedelta(seconds=120)),
        (" 7 ", timedelta(seconds=7)),
        ("0", timedelta(0)),
        ("Wed, 21 Oct 2026 07:28:00 GMT", timedelta(minutes=1)),  # an HTTP date
        ("Wed, 21 Oct 2026 07:00:00 GMT", timedelta(0)),  # already past: now
        ("Wednesday, 21-Oct-26 07:29:00 GMT", timedelta(minutes=2)),  # RFC 850, still allowed
    ],
)
def test_seconds_and_http_dates_become_a_delay(header: str, delay: timedelta) -> None:
    assert parse_retry_after(header, now=NOW) == delay


@pytest.mark.parametrize("header", [None, "", "  ", "-5", "1.5", "soon", "\u0663", "Wed, 99 Foo"])
def test_anything_else_leaves_the_delay_to_lethe(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_without_now_it_counts_from_the_clock() -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    delay = parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert delay is not None and timedelta(minutes=58) < delay <= timedelta(hours=1)
