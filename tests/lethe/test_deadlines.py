"""Deadlines: the acceptance cases, properties over many receipt dates, extensions, durations.

The properties check each rule against an independent reading of it (calendar arithmetic
done here with ``date``, weekdays counted one by one), in several time zones, across month
ends, leap years and daylight-saving changes.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lethe.deadlines import (
    POLICY,
    STATUTES,
    ExtensionRefused,
    Period,
    add_months,
    answer_due,
    decide_extension,
    extension_until,
    parse_duration,
    plan_deadlines,
    policy_rule,
)
from tests.support.examples import examples

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/Dublin",
    "America/Los_Angeles",
    "America/Santiago",  # DST changes at midnight
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Kiritimati",  # UTC+14
    "Asia/Kolkata",
]

instants = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2095, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


@st.composite
def month_ends(draw: st.DrawFn) -> datetime:
    """Receipts on the 28th to 31st, where month arithmetic goes wrong."""
    year = draw(st.integers(1996, 2096))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(28, calendar.monthrange(year, month)[1]))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


receipts = st.one_of(instants, month_ends())


def wall(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def near(a: datetime, b: datetime) -> bool:
    """Equal wall-clock times, up to a daylight-saving shift (at most an hour)."""
    return abs(a - b) <= timedelta(hours=1)


# -- the acceptance cases --------------------------------------------------------------------


@pytest.mark.parametrize(("year", "last"), [(2026, 28), (2027, 28), (2028, 29), (2100, 28)])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/Los_Angeles"])
def test_gdpr_received_31_january_is_due_on_the_last_day_of_february(
    year: int, last: int, tz: str
) -> None:
    received = datetime(year, 1, 31, 10, 0, tzinfo=ZoneInfo(tz))
    plan = plan_deadlines("gdpr", received, timezone=tz)
    assert wall(plan.answer_by, tz) == datetime(year, 2, last, 10, 0)
    assert plan.answer_rule == "gdpr"  # one month beats the policy's 45 days


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "America/New_York"])
def test_ccpa_received_on_a_friday_is_acknowledged_by_the_tenth_business_day(tz: str) -> None:
    # Friday 6 March 2026, late afternoon; US daylight saving starts on Sunday 8 March.
    received = datetime(2026, 3, 6, 17, 30, tzinfo=ZoneInfo(tz))
    assert received.weekday() == 4
    ccpa = STATUTES["ccpa"]
    assert ccpa.acknowledge is not None
    by = ccpa.acknowledge.after(received, ZoneInfo(tz))
    # Mon 9 to Fri 13 are days 1 to 5, Mon 16 to Fri 20 are days 6 to 10.
    assert wall(by, tz) == datetime(2026, 3, 20, 23, 59, 59)
    # The policy's 24 hours are stricter, and win for the request as a whole …
    plan = plan_deadlines("ccpa", received, timezone=tz)
    assert plan.acknowledge_by == received + timedelta(hours=24)
    assert plan.acknowledge_rule == "policy"
    # … unless the policy promises nothing: then the tenth business day it is.
    bare = plan_deadlines("ccpa", received, timezone=tz, policy=policy_rule(0, 45, 0))
    assert bare.acknowledge_by == by and bare.acknowledge_rule == "ccpa"


def test_the_existing_answer_due_cases() -> None:
    assert answer_due("gdpr", datetime(2026, 3, 15, 9, tzinfo=UTC)) == datetime(
        2026, 4, 15, 9, tzinfo=UTC
    )
    assert answer_due("gdpr", datetime(2026, 12, 31, 9, tzinfo=UTC)) == datetime(
        2027, 1, 31, 9, tzinfo=UTC
    )
    received = datetime(2026, 5, 1, tzinfo=UTC)
    assert answer_due("ccpa", received) == received + timedelta(days=45)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown jurisdiction"):
        answer_due("mars", received)
    with pytest.raises(ValueError, match="timezone-aware"):
        answer_due("gdpr", datetime(2026, 1, 1))


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=examples(400), deadline=None)
@given(received=receipts, tz=zones)
def test_gdpr_is_one_calendar_month_on_the_controllers_wall_clock(
    received: datetime, tz: str
) -> None:
    due = plan_deadlines("gdpr", received, timezone=tz).answer_by
    local = wall(received, tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    expected_day = min(local.day, calendar.monthrange(year, month)[1])
    got = wall(due, tz)
    assert got.date() == date(year, month, expected_day)
    assert near(got, datetime.combine(got.date(), local.time()))
    assert timedelta(days=28) - timedelta(hours=1) <= due - received <= timedelta(days=31, hours=1)


@settings(max_examples=examples(400), deadline=None)
@given(received=receipts, tz=zones, days=st.integers(1, 12))
def test_business_days_skip_weekends_and_end_the_day(
    received: datetime, tz: str, days: int
) -> None:
    by = Period(days, "business_days").after(received, ZoneInfo(tz))
    local_received, local_by = wall(received, tz), wall(by, tz)
    assert local_by.weekday() < 5
    assert local_by.time().isoformat() == "23:59:59"
    counted, d = 0, local_received.date()
    while d < local_by.date():
        d += timedelta(days=1)
        counted += d.weekday() < 5
    assert counted == days
    # Never more than two weeks of weekends in the way: days + 2 per full week + 2.
    assert (local_by.date() - local_received.date()).days <= days + 2 * (days // 5) + 2


@settings(max_examples=examples(400), deadline=None)
@given(
    received=receipts,
    tz=zones,
    jurisdiction=st.sampled_from(sorted(STATUTES)),
    ack=st.sampled_from([0, 24, 72]),
    answer=st.sampled_from([30, 45, 60]),
    extension=st.sampled_from([0, 30, 45]),
)
def test_the_strictest_rule_wins(
    received: datetime, tz: str, jurisdiction: str, ack: int, answer: int, extension: int
) -> None:
    policy = policy_rule(ack, answer, extension)
    plan = plan_deadlines(jurisdiction, received, timezone=tz, policy=policy)
    rules, z = [STATUTES[jurisdiction], policy], ZoneInfo(tz)
    answers = [r.answer.after(received, z) for r in rules]
    assert plan.answer_by == min(answers) and plan.answer_by > received
    assert plan.answer_rule in {
        r.name for r, a in zip(rules, answers, strict=True) if a == min(answers)
    }
    acks = [r.acknowledge.after(received, z) for r in rules if r.acknowledge]
    assert plan.acknowledge_by == (min(acks) if acks else None)
    assert plan.acknowledge_by is None or plan.acknowledge_by > received
    limits = [r.extended_answer(received, z) for r in rules]
    if min(limits) > plan.answer_by:
        assert plan.extension_limit == min(limits) and plan.no_extension_because is None
    else:
        assert plan.extension_limit is None and plan.no_extension_because
    if plan.extension_limit is not None and jurisdiction == "ccpa":
        assert plan.extension_limit <= Period(90, "days").after(received, z)  # 90 days at most
    if plan.extension_limit is not None and jurisdiction == "gdpr":
        assert wall(plan.extension_limit, tz) <= add_months(wall(received, tz), 3) + timedelta(
            hours=1
        )


# -- extensions ------------------------------------------------------------------------------


def test_gdpr_under_the_default_policy_extends_to_45_days_ccpa_not_at_all() -> None:
    received = datetime(2026, 1, 31, 10, tzinfo=UTC)
    gdpr = plan_deadlines("gdpr", received)
    assert gdpr.extension_limit == received + timedelta(days=45)
    ccpa = plan_deadlines("ccpa", received)
    assert ccpa.extension_limit is None
    assert ccpa.no_extension_because == (
        "the privacy policy's promise allows no answer later than 45 days"
    )


def test_when_the_policy_allows_more_the_statute_caps_the_extension() -> None:
    received = datetime(2026, 1, 31, 10, tzinfo=UTC)
    generous = policy_rule(24, 45, 365)
    ccpa = plan_deadlines("ccpa", received, policy=generous)
    assert ccpa.extension_limit == received + timedelta(days=90)
    gdpr = plan_deadlines("gdpr", received, policy=generous)
    # Two further months from 28 February: 28 April (not 30 April, three months on).
    assert gdpr.extension_limit == datetime(2026, 4, 28, 10, tzinfo=UTC)


def decide(plan_received: datetime, **kw: object) -> datetime:
    plan = plan_deadlines("gdpr", plan_received)
    args: dict[str, object] = {
        "answer_by": plan.answer_by,
        "extension_limit": plan.extension_limit,
        "no_extension_because": plan.no_extension_because,
        "extended_at": None,
        "now": plan_received + timedelta(days=3),
    }
    args.update(kw)
    return decide_extension(**args)  # type: ignore[arg-type]


def test_extension_decisions() -> None:
    r = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert decide(r) == r + timedelta(days=45)
    assert decide(r, until=r + timedelta(days=40)) == r + timedelta(days=40)
    refusals = [
        ({"extended_at": r + timedelta(days=1)}, "already extended on 2026-03-03"),
        ({"now": datetime(2026, 4, 2, 9, tzinfo=UTC)}, "too late"),
        ({"until": r + timedelta(days=60)}, "no later than"),
        ({"until": r + timedelta(days=20)}, "must be after the current deadline"),
        ({"extension_limit": None, "no_extension_because": "CCPA says no"}, "CCPA says no"),
    ]
    for kw, message in refusals:
        with pytest.raises(ExtensionRefused, match=message):
            decide(r, **kw)


def test_the_policy_rule_is_the_one_in_the_policy() -> None:
    assert POLICY.acknowledge == Period(24, "hours") and POLICY.answer == Period(45, "days")
    assert POLICY.extension is None and policy_rule() == POLICY


# -- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 90 m ", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-7d", "7d!", "seven days", "0d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_an_until_names_the_end_of_that_day_in_the_controller_s_zone() -> None:
    assert extension_until(date(2026, 3, 15), "Europe/Berlin") == datetime(
        2026, 3, 15, 22, 59, 59, tzinfo=UTC
    )
    # A time without a zone is the controller's; one with a zone is that moment.
    assert extension_until(datetime(2026, 3, 15, 9, 0), "America/Los_Angeles") == datetime(
        2026, 3, 15, 16, 0, tzinfo=UTC
    )
    moment = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
    assert extension_until(moment, "Europe/Berlin") == moment
