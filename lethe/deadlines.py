"""Statutory deadlines, as data. The clock starts at receipt, not at verification.

    rule    acknowledge            answer              extension (once, announced in time)
    gdpr    —                      one month           two further months (Art. 12(3))
    ccpa    10 business days       45 calendar days    45 more days, 90 at most (§7021)
    policy  24 hours               45 days             none, unless the policy says so

A request is bound by its jurisdiction's statute *and* the organisation's own promise (the
policy); for every deadline the strictest (earliest) of them wins. An extension is possible
only when every rule that applies allows a later answer, and only if announced before the
current deadline passes.

Calendar periods (months, days, business days) are counted on the wall clock of the
controller's time zone (``[deadlines] timezone``, UTC by default): a GDPR request received on
31 January is due on the last day of February, whatever the zone. Hours are exact. Business
days are Monday to Friday; public holidays are NOT skipped (a stricter reading: a holiday is
counted as a business day, so the deadline can only come earlier, never later).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vocabulary import JURISDICTIONS, Jurisdiction

__all__ = [
    "JURISDICTIONS",
    "POLICY",
    "STATUTES",
    "DeadlinePlan",
    "ExtensionRefused",
    "Period",
    "Rule",
    "add_business_days",
    "add_months",
    "answer_due",
    "decide_extension",
    "extension_until",
    "parse_duration",
    "plan_deadlines",
    "policy_rule",
    "zone",
]

Unit = Literal["hours", "days", "business_days", "months"]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the last day of that month if it is shorter."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def add_business_days(start: date, days: int) -> date:
    """The ``days``-th weekday (Monday to Friday) after ``start``; ``start`` itself never counts."""
    current, counted = start, 0
    while counted < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            counted += 1
    return current


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or ValueError naming the bad one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


def _on_the_wall(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``tz`` as a UTC instant (a time skipped by DST moves on)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    amount: int
    unit: Unit

    def after(self, start: datetime, tz: ZoneInfo) -> datetime:
        """The instant this period ends, counted from ``start`` (an aware datetime)."""
        if self.unit == "hours":
            return start.astimezone(UTC) + timedelta(hours=self.amount)
        local = start.astimezone(tz).replace(tzinfo=None)
        if self.unit == "months":
            return _on_the_wall(add_months(local, self.amount), tz)
        if self.unit == "days":
            return _on_the_wall(local + timedelta(days=self.amount), tz)
        # Business days: by the end of the last one, on the controller's wall clock.
        last = add_business_days(local.date(), self.amount)
        return _on_the_wall(datetime.combine(last, time(23, 59, 59)), tz)

    def describe(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


@dataclass(frozen=True)
class Rule:
    """One source of deadlines: a statute, or the organisation's own promise."""

    name: str
    title: str
    answer: Period
    acknowledge: Period | None = None
    #: Added once to the answer period, if announced (with reasons) before that period ends.
    extension: Period | None = None
    #: The longest an answer may take from receipt, extension included.
    longest: Period | None = None

    def extended_answer(self, received_at: datetime, tz: ZoneInfo) -> datetime:
        """The latest answer this rule allows, with its extension if it has one."""
        due = self.answer.after(received_at, tz)
        if self.extension is None:
            return due
        extended = self.extension.after(due, tz)
        if self.longest is not None:
            extended = min(extended, self.longest.after(received_at, tz))
        return extended


#: Each jurisdiction's statute (``vocabulary.JURISDICTIONS``: every one has its rule here).
STATUTES: dict[str, Rule] = {
    Jurisdiction.GDPR: Rule(
        name=Jurisdiction.GDPR,
        title="GDPR Art. 12(3)",
        answer=Period(1, "months"),
        extension=Period(2, "months"),
    ),
    Jurisdiction.CCPA: Rule(
        name=Jurisdiction.CCPA,
        title="CCPA regulations §7021",
        acknowledge=Period(10, "business_days"),
        answer=Period(45, "days"),
        extension=Period(45, "days"),
        longest=Period(90, "days"),
    ),
}

#: The policy's words: acknowledged within 24 hours, answered within 45 days; no extension.
POLICY = Rule(
    name="policy",
    title="the privacy policy's promise",
    acknowledge=Period(24, "hours"),
    answer=Period(45, "days"),
)


def policy_rule(
    acknowledge_hours: int = 24, answer_days: int = 45, extension_days: int = 0
) -> Rule:
    """The organisation's own promise, as configured in ``[deadlines]``."""
    return Rule(
        name="policy",
        title="the privacy policy's promise",
        acknowledge=Period(acknowledge_hours, "hours") if acknowledge_hours else None,
        answer=Period(answer_days, "days"),
        extension=Period(extension_days, "days") if extension_days else None,
    )


@dataclass(frozen=True)
class DeadlinePlan:
    """Every deadline of one request, decided at receipt. Rule names say which rule won."""

    received_at: datetime
    answer_by: datetime
    answer_rule: str
    acknowledge_by: datetime | None
    acknowledge_rule: str | None
    #: The latest answer an extension could reach; None when the rules allow none.
    extension_limit: datetime | None
    #: Why no extension is possible (when extension_limit is None).
    no_extension_because: str | None


def _earliest(candidates: list[tuple[datetime, Rule]]) -> tuple[datetime, Rule]:
    return min(candidates, key=lambda c: c[0])


def plan_deadlines(
    jurisdiction: str,
    received_at: datetime,
    *,
    policy: Rule = POLICY,
    timezone: str = "UTC",
) -> DeadlinePlan:
    """The request's deadlines: for each, the strictest rule that applies wins."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    try:
        statute = STATUTES[jurisdiction]
    except KeyError:
        raise ValueError(f"unknown jurisdiction {jurisdiction!r}") from None
    tz = zone(timezone)
    rules = [statute, policy]
    answer_by, answer_rule = _earliest([(r.answer.after(received_at, tz), r) for r in rules])
    acks = [(r.acknowledge.after(received_at, tz), r) for r in rules if r.acknowledge]
    ack_by, ack_rule = _earliest(acks) if acks else (None, None)
    limit, limit_rule = _earliest([(r.extended_answer(received_at, tz), r) for r in rules])
    extendable = limit > answer_by
    return DeadlinePlan(
        received_at=received_at,
        answer_by=answer_by,
        answer_rule=answer_rule.name,
        acknowledge_by=ack_by,
        acknowledge_rule=ack_rule.name if ack_rule else None,
        extension_limit=limit if extendable else None,
        no_extension_because=(
            None
            if extendable
            else f"{limit_rule.title} allows no answer later than {limit_rule.answer.describe()}"
        ),
    )


def answer_due(
    jurisdiction: str, received_at: datetime, *, policy: Rule = POLICY, timezone: str = "UTC"
) -> datetime:
    """When the answer is due: the strictest of the statute and the policy."""
    return plan_deadlines(jurisdiction, received_at, policy=policy, timezone=timezone).answer_by


class ExtensionRefused(ValueError):
    """An extension the rules do not allow; the message says why, in one line."""


def decide_extension(
    *,
    answer_by: datetime,
    extension_limit: datetime | None,
    no_extension_because: str | None,
    extended_at: datetime | None,
    now: datetime,
    until: datetime | None = None,
) -> datetime:
    """The new answer date of an extension announced at ``now``, or ExtensionRefused.

    One extension per request; announced before the current deadline passes; no later than
    the strictest rule allows. ``until`` asks for less than the most the rules allow.
    """
    if extended_at is not None:
        raise ExtensionRefused(
            f"already extended on {extended_at:%Y-%m-%d}; the rules allow one extension"
        )
    if extension_limit is None:
        raise ExtensionRefused(f"no extension is possible: {no_extension_because or 'no rule'}")
    if now >= answer_by:
        raise ExtensionRefused(
            f"too late: an extension had to be announced before {answer_by:%Y-%m-%d %H:%M} UTC"
        )
    new = extension_limit if until is None else until
    if new <= answer_by:
        raise ExtensionRefused(
            f"the new date must be after the current deadline {answer_by:%Y-%m-%d %H:%M} UTC"
        )
    if new > extension_limit:
        raise ExtensionRefused(
            f"the rules allow an answer no later than {extension_limit:%Y-%m-%d %H:%M} UTC"
        )
    return new


def extension_until(value: date | datetime, timezone: str) -> datetime:
    """The moment an operator's ``--until`` names, in UTC: a date is the end of that day in
    the controller's time zone, and so is a time given without a zone."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(23, 59, 59), zone(timezone)).astimezone(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(timezone))
    return value.astimezone(UTC)


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LONGEST = 100 * 366 * 86400


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``36h``, ``7d``, ``2w`` or sums like ``1d12h``; ValueError otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not compact or _DURATION.sub("", compact).strip():
        raise ValueError(f"cannot read {text!r} as a duration: use e.g. 7d, 36h, 2w or 1d12h")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"the duration {text!r} must be longer than zero")
    if seconds > _LONGEST:
        # No deadline or lifetime is that far off; past year 9999 the date arithmetic overflows.
        raise ValueError(f"the duration {text!r} is longer than 100 years")
    return timedelta(seconds=seconds)
