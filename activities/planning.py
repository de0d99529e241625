"""The plan step: before any connector is called, decide what each system gets.

    held by a legal hold       → ``Retained`` under the hold's basis and date, recorded here;
                                 the system's connector is never called
    processor-held (lethe.toml) → referred to its controller (no erase until instructed)
    worked by a person (manual) → a task for a person (no connector is called)
    otherwise                  → erased through its connector

Holds are looked up by the request's pseudonym as recorded in the ledger, so a hold placed
on a person catches every later request and every later round for them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import structlog
from temporalio import activity

from ledger import Ledger, LegalHolds, choose_hold

from .erasure import outcome_from_record
from .round_types import ErasurePlan, PlanInput, SystemPlan

__all__ = ["PlanningActivities"]

log = structlog.get_logger("lethe.activities")


class PlanningActivities:
    """``processors`` maps each processor-held system to the controller it holds data for;
    ``manual`` names the systems a person erases (``connectors.manual``)."""

    def __init__(
        self,
        ledger: Ledger,
        processors: Mapping[str, str] | None = None,
        manual: Collection[str] = (),
    ) -> None:
        self._ledger = ledger
        self._holds = LegalHolds(ledger)
        self._processors = dict(processors or {})
        self._manual = frozenset(manual)

    @activity.defn(name="plan_erasure")
    async def plan_erasure(self, plan: PlanInput) -> ErasurePlan:
        now = datetime.now(UTC)
        request = await self._ledger.require_request(plan.request_id)
        holds = await self._holds.active_for(request.subject_ref, now.date())
        steps = []
        for system in plan.systems:
            hold = choose_hold(holds, system, now.date())
            if hold is not None:
                rec = await self._holds.apply(plan.request_id, system, plan.round, hold, at=now)
                log.info(
                    "plan.held",
                    request_id=plan.request_id,
                    system=system,
                    round=plan.round,
                    hold_id=hold.hold_id,
                )
                steps.append(
                    SystemPlan(
                        system, "hold", hold_id=hold.hold_id, outcome=outcome_from_record(rec)
                    )
                )
            elif system in self._processors:
                steps.append(SystemPlan(system, "refer", controller=self._processors[system]))
            elif system in self._manual:
                steps.append(SystemPlan(system, "manual"))
            else:
                steps.append(SystemPlan(system, "erase"))
        return ErasurePlan(tuple(steps))
