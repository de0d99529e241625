"""Values that cross the Temporal boundary between workflows and activities.

They carry request ids, system names, counts and legal bases: never identifiers. Dates are
ISO strings because Temporal's JSON converter has no ``date``. Fields may be added with
defaults; never removed or renamed while workflows that use them are running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ProcessorOverdue",
    "RequestAnswer",
    "StatusChange",
    "SystemFailure",
    "SystemOutcome",
    "SystemTask",
    "Verification",
    "system_activity_id",
    "system_of_activity_id",
]


def system_activity_id(step: str, system: str, round_: int) -> str:
    """The id of a system's activity run by the request's own workflow (``erase/crm/0``), so
    that ``lethe status`` can name the system whose call is being retried. A system's own
    child workflow needs none: its workflow id names it."""
    return f"{step}/{system}/{round_}"


def system_of_activity_id(activity_id: str) -> str | None:
    """``crm`` of ``erase/crm/0``; None for Temporal's own ids (``1``, ``2``…)."""
    parts = activity_id.split("/")
    return parts[1] if len(parts) == 3 and parts[2].isdigit() else None


@dataclass(frozen=True)
class SystemTask:
    request_id: str
    system: str
    round: int = 0


@dataclass(frozen=True)
class SystemOutcome:
    system: str
    outcome: str  # a vocabulary.OutcomeKind (its plain string on the wire)
    counts: dict[str, int] = field(default_factory=dict)
    retained_counts: dict[str, int] = field(default_factory=dict)
    legal_basis: str | None = None
    retained_until: str | None = None
    review_on: str | None = None
    note: str | None = None
    ticket: str | None = None
    poll_after_seconds: float | None = None
    #: A pending system: when its processor promised to answer (ISO), if it said.
    answer_by: str | None = None
    controller: str | None = None
    error: str | None = None
    verifiable: bool = False
    replayed: bool = False


@dataclass(frozen=True)
class Verification:
    system: str
    clean: bool
    remaining: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessorOverdue:
    """A pending system whose processor did not answer by the time it promised."""

    request_id: str
    system: str
    round: int
    ticket: str
    answer_by: str


@dataclass(frozen=True)
class SystemFailure:
    request_id: str
    system: str
    round: int
    error: str


@dataclass(frozen=True)
class StatusChange:
    request_id: str
    status: str
    actor: str
    reason: str | None = None
    event: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestAnswer:
    """The request's fan-out is over: record its final status. The activity computes it from
    the ledger's latest outcome of each system (a later round of a system may have ended while
    the request was still open), not from the workflow's view; ``detail`` goes to the event."""

    request_id: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)
