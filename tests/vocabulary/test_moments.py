"""How a moment is written: ISO for machines, minutes in UTC for people."""

from __future__ import annotations

from datetime import UTC, date, datetime

from vocabulary import iso, stamp_when, when

AT = datetime(2026, 1, 31, 12, 5, 9, 123000, tzinfo=UTC)


def test_iso_is_null_when_there_is_no_moment() -> None:
    assert iso(AT) == "2026-01-31T12:05:09.123000+00:00"
    assert iso(date(2026, 1, 31)) == "2026-01-31"
    assert iso(None) is None


def test_people_read_minutes_in_utc() -> None:
    assert when(AT) == "2026-01-31 12:05 UTC"
    assert when(None) == "—"
    assert when(None, missing="never") == "never"


def test_a_stamp_from_a_certificate_reads_the_same() -> None:
    stamp = "2026-01-31T12:05:09.123000Z"
    assert stamp_when(stamp) == "2026-01-31 12:05 UTC"
    assert stamp_when(stamp, seconds=True) == "2026-01-31 12:05:09 UTC"
    assert stamp_when("2026-01-31") == "2026-01-31"  # a date stays a date
    assert stamp_when(None) == "—" and stamp_when("", missing="at an unknown time") == (
        "at an unknown time"
    )
