"""Statutory answer deadlines. The clock starts at receipt, not at verification.

    gdpr    Art. 12(3): one month from receipt
    ccpa    §7021: 45 calendar days from receipt
    policy  the organisation's own promise: 45 days

The strictest rule that applies wins: every request also carries the policy's promise.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

__all__ = ["JURISDICTIONS", "add_months", "answer_due"]

JURISDICTIONS = ("gdpr", "ccpa")
_POLICY_DAYS = 45


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the last day of that month if it is shorter."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def answer_due(jurisdiction: str, received_at: datetime) -> datetime:
    if jurisdiction == "gdpr":
        statutory = add_months(received_at, 1)
    elif jurisdiction == "ccpa":
        statutory = received_at + timedelta(days=45)
    else:
        raise ValueError(f"unknown jurisdiction {jurisdiction!r}")
    return min(statutory, received_at + timedelta(days=_POLICY_DAYS))
