"""Values crossing the Temporal boundary for the plan step, controller referrals and later
rounds (sweeper, retry, backup replay).

Like ``types.py``: request ids, system names, pseudonyms, legal-basis codes; never an
identifier. Dates and times are ISO strings. Add fields only with defaults.
"""

# No ``from __future__ import annotations``: the workflow sandbox resolves string annotations
# against its own module table, where this module may be missing; real types need no lookup.
from dataclasses import dataclass

from .types import SystemOutcome

__all__ = [
    "DueQuery",
    "DueRound",
    "DueRounds",
    "ErasurePlan",
    "InstructionRecord",
    "PlanInput",
    "ReferralEscalation",
    "ReferralOpened",
    "ReferralTask",
    "RoundClosed",
    "RoundStatus",
    "RoundTask",
    "ShredQuery",
    "ShredReport",
    "SystemPlan",
]


@dataclass(frozen=True)
class PlanInput:
    """Plan these systems of a request for ``round``: holds and roles decide before connectors."""

    request_id: str
    systems: tuple[str, ...]
    round: int = 0


@dataclass(frozen=True)
class SystemPlan:
    """``erase`` (call the connector), ``refer`` (processor-held: ask ``controller``),
    ``manual`` (a person erases it: a task is opened), or ``hold`` (``outcome`` is the
    ``Retained`` already recorded; no connector is called)."""

    system: str
    action: str
    controller: str | None = None
    hold_id: str | None = None
    outcome: SystemOutcome | None = None


@dataclass(frozen=True)
class ErasurePlan:
    systems: tuple[SystemPlan, ...] = ()


@dataclass(frozen=True)
class ReferralTask:
    request_id: str
    system: str
    round: int
    controller: str
    connector_called: bool = False


@dataclass(frozen=True)
class ReferralOpened:
    """How long the controller has to answer before an operator is asked instead."""

    answer_within_seconds: float
    notifiable: bool
    why_not: str | None = None


@dataclass(frozen=True)
class ReferralEscalation:
    request_id: str
    system: str
    round: int
    reason: str


@dataclass(frozen=True)
class InstructionRecord:
    """The controller's instruction for a referral of ``round``; carried out in ``round + 1``."""

    request_id: str
    system: str
    round: int
    instruction: str  # erase | retain
    operator: str
    reason: str
    legal_basis: str | None = None
    retained_until: str | None = None
    review_on: str | None = None


@dataclass(frozen=True)
class RoundTask:
    """One later round of one system (its ledger row is opened and closed with this)."""

    request_id: str
    system: str
    round: int
    trigger: str
    actor: str
    reason: str
    exception_id: int | None = None


@dataclass(frozen=True)
class RoundClosed:
    """Every system's latest outcome after the round."""

    latest: dict[str, str]


@dataclass(frozen=True)
class RoundStatus:
    """A round has closed: settle the request's status. ``status`` is not read: the activity
    computes the status from the ledger (it stays for the payloads of rounds under way)."""

    request_id: str
    status: str
    system: str
    round: int
    trigger: str


@dataclass(frozen=True)
class DueQuery:
    as_of: str  # ISO datetime: the sweep's ``workflow.now()``
    limit: int = 200


@dataclass(frozen=True)
class DueRound:
    request_id: str
    system: str
    round: int
    trigger: str
    reason: str
    exception_id: int | None = None


@dataclass(frozen=True)
class DueRounds:
    rounds: tuple[DueRound, ...] = ()


@dataclass(frozen=True)
class ShredQuery:
    as_of: str
    limit: int = 500


@dataclass(frozen=True)
class ShredReport:
    shredded: tuple[str, ...] = ()
