"""Inputs, signals and results of later rounds, the retention sweep and controller referrals.

No personal data: request ids, system names, legal-basis codes, ISO dates. Add fields only
with defaults; running workflows decode old payloads with these classes.
"""

# No ``from __future__ import annotations``: the workflow sandbox resolves string annotations
# against its own module table, where this module may be missing; real types need no lookup.
from dataclasses import dataclass, field

from .types import ErasurePolicy

__all__ = [
    "ControllerInstruction",
    "EscalationChange",
    "StartedRound",
    "Sweep",
    "SweepResult",
    "SystemRound",
]


@dataclass(frozen=True)
class ControllerInstruction:
    """Signal to a referred system: the controller's answer, entered by a named operator.

    ``erase``: erase now through the connector. ``retain``: keep, under ``legal_basis`` and
    with exactly one of ``retained_until`` / ``review_on`` (ISO dates).
    """

    action: str
    operator: str
    reason: str
    legal_basis: str | None = None
    retained_until: str | None = None
    review_on: str | None = None


@dataclass(frozen=True)
class EscalationChange:
    """Signal from a system's child workflow to its request's: the system's referral was
    escalated to an operator (``escalated``), or the instruction it waited for came."""

    system: str
    escalated: bool


@dataclass(frozen=True)
class SystemRound:
    """Input of a later round of one system of a request (sweeper, retry, backup replay)."""

    request_id: str
    system: str
    round: int
    trigger: str
    actor: str
    reason: str
    exception_id: int | None = None
    policy: ErasurePolicy = field(default_factory=ErasurePolicy)


@dataclass(frozen=True)
class Sweep:
    """Input of one retention sweep (what the Schedule starts)."""

    policy: ErasurePolicy = field(default_factory=ErasurePolicy)
    limit: int = 200
    shred: bool = True


@dataclass(frozen=True)
class StartedRound:
    request_id: str
    system: str
    round: int
    trigger: str
    workflow_id: str


@dataclass(frozen=True)
class SweepResult:
    started: tuple[StartedRound, ...] = ()
    already_running: tuple[str, ...] = ()
    shredded: tuple[str, ...] = ()
