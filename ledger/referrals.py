"""Controller referrals: data we hold as a processor is erased on the controller's word.

For a processor-held system the outcome is ``referred``: the controller (the institution that
submitted the data) is notified and the request waits for its instruction, ``erase`` or
``retain``, entered by an operator with ``lethe controller-instruction``. If no instruction
comes in time the referral is ``escalated``: the request's status says so until an operator
decides. The instruction is carried out in the next round of the same system.

    awaiting ──▶ instructed
       └──────▶ escalated ──▶ instructed
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from vocabulary import AlertEvent, OutcomeKind, RequestStatus

from .store import Ledger, LedgerError, OutcomeEntry
from .tables import ControllerReferral, ErasureRequestRecord, RequestEvent, SystemOutcomeRecord
from .write_keys import lock_request, replaying

__all__ = ["INSTRUCTIONS", "ControllerReferrals"]

INSTRUCTIONS = ("erase", "retain")
WAITING = ("awaiting", "escalated")


class ControllerReferrals:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @staticmethod
    def _key(request_id: str, system: str, round_: int) -> sa.Select[Any]:
        return sa.select(ControllerReferral).where(
            ControllerReferral.request_id == request_id,
            ControllerReferral.system == system,
            ControllerReferral.round == round_,
        )

    async def get(self, request_id: str, system: str, round_: int) -> ControllerReferral | None:
        async with self._ledger.session() as s:
            found: ControllerReferral | None = (
                await s.scalars(self._key(request_id, system, round_))
            ).one_or_none()
            return found

    async def waiting(self, request_id: str, system: str) -> ControllerReferral | None:
        """The referral of that system still waiting for an instruction, if any."""
        q = (
            sa.select(ControllerReferral)
            .where(
                ControllerReferral.request_id == request_id,
                ControllerReferral.system == system,
                ControllerReferral.state.in_(WAITING),
            )
            .order_by(ControllerReferral.round.desc())
            .limit(1)
        )
        async with self._ledger.session() as s:
            return (await s.scalars(q)).first()

    async def for_request(self, request_id: str) -> list[ControllerReferral]:
        q = sa.select(ControllerReferral).where(ControllerReferral.request_id == request_id)
        async with self._ledger.session() as s:
            return list((await s.scalars(q.order_by(ControllerReferral.id))).all())

    async def open(
        self,
        *,
        request_id: str,
        system: str,
        round_: int,
        controller: str,
        workflow_id: str,
        answer_by: datetime,
        connector_called: bool,
        at: datetime,
    ) -> ControllerReferral:
        """Record the ``referred`` outcome (unless the connector's call already did) and the
        referral. Idempotent: a retried call returns the referral recorded the first time."""
        existing = await self.get(request_id, system, round_)
        if existing is not None:
            return existing
        async with self._ledger.session() as s:
            row = (
                await s.scalars(
                    sa.select(SystemOutcomeRecord).where(
                        SystemOutcomeRecord.request_id == request_id,
                        SystemOutcomeRecord.system == system,
                        SystemOutcomeRecord.round == round_,
                    )
                )
            ).one_or_none()
        if row is None:
            await self._ledger.finish_system(
                request_id,
                system,
                round_,
                OutcomeEntry(
                    OutcomeKind.REFERRED,
                    controller=controller,
                    evidence={"connector_called": connector_called, "processor_for": controller},
                ),
                at=at,
            )
        referral = ControllerReferral(
            request_id=request_id,
            system=system,
            round=round_,
            controller=controller,
            workflow_id=workflow_id,
            state="awaiting",
            opened_at=at,
            answer_by=answer_by,
            delivery={},
        )
        try:
            async with self._ledger.session() as s, s.begin():
                s.add(referral)
        except IntegrityError:
            found = await self.get(request_id, system, round_)
            if found is None:
                raise
            return found
        return referral

    async def record_delivery(
        self, request_id: str, system: str, round_: int, delivery: dict[str, Any], *, at: datetime
    ) -> None:
        await replaying(lambda: self._record_delivery(request_id, system, round_, delivery, at))

    async def _record_delivery(
        self, request_id: str, system: str, round_: int, delivery: dict[str, Any], at: datetime
    ) -> None:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            ref: ControllerReferral = (await s.scalars(self._key(request_id, system, round_))).one()
            if ref.notified_at is not None:
                return
            ref.notified_at = at
            ref.delivery = dict(delivery)
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="controller_notified",
                    write_key=f"controller_notified/{system}/{round_}",
                    actor="lethe",
                    detail={
                        "system": system,
                        "round": round_,
                        "controller": ref.controller,
                        **delivery,
                    },
                )
            )

    async def escalate(
        self, request_id: str, system: str, round_: int, *, reason: str, at: datetime
    ) -> ControllerReferral:
        """No instruction in time (or the controller cannot be told): an operator decides."""
        return await replaying(lambda: self._escalate(request_id, system, round_, reason, at))

    async def _escalate(
        self, request_id: str, system: str, round_: int, reason: str, at: datetime
    ) -> ControllerReferral:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            ref: ControllerReferral = (await s.scalars(self._key(request_id, system, round_))).one()
            if ref.state != "awaiting":
                return ref
            ref.state = "escalated"
            ref.escalated_at = at
            ref.escalation_reason = reason[:1000]
            req = await s.get(ErasureRequestRecord, request_id)
            assert req is not None
            req.status = RequestStatus.ESCALATED
            req.status_reason = (
                f"{system}: {reason}; decide with: lethe controller-instruction {request_id} "
                f"--system {system} --erase|--retain --reason …"
            )[:500]
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind=AlertEvent.REFERRAL_ESCALATED,
                    write_key=f"referral_escalated/{system}/{round_}",
                    actor="lethe",
                    detail={
                        "system": system,
                        "round": round_,
                        "controller": ref.controller,
                        "reason": reason[:1000],
                    },
                )
            )
            return ref

    async def instruct(
        self,
        request_id: str,
        system: str,
        round_: int,
        *,
        instruction: str,
        instructed_by: str,
        reason: str,
        at: datetime,
        detail: dict[str, Any] | None = None,
    ) -> ControllerReferral:
        """Record the controller's instruction (as entered by an operator). First one wins."""
        if instruction not in INSTRUCTIONS:
            raise LedgerError(f"unknown instruction {instruction!r}: use erase or retain")
        return await replaying(
            lambda: self._instruct(
                request_id, system, round_, instruction, instructed_by, reason, at, detail
            )
        )

    async def _instruct(
        self,
        request_id: str,
        system: str,
        round_: int,
        instruction: str,
        instructed_by: str,
        reason: str,
        at: datetime,
        detail: dict[str, Any] | None,
    ) -> ControllerReferral:
        async with self._ledger.session() as s, s.begin():
            await lock_request(s, request_id)
            ref: ControllerReferral = (await s.scalars(self._key(request_id, system, round_))).one()
            if ref.state == "instructed":
                return ref
            ref.state = "instructed"
            ref.instruction = instruction
            ref.instructed_by = instructed_by
            ref.instruction_reason = reason[:1000]
            ref.instructed_at = at
            req = await s.get(ErasureRequestRecord, request_id)
            assert req is not None
            still_escalated = await s.scalar(
                sa.select(sa.func.count(ControllerReferral.id)).where(
                    ControllerReferral.request_id == request_id,
                    ControllerReferral.state == "escalated",
                    ControllerReferral.id != ref.id,
                )
            )
            if req.status == RequestStatus.ESCALATED and not still_escalated:
                req.status = RequestStatus.ERASING
                req.status_reason = None
            s.add(
                RequestEvent(
                    request_id=request_id,
                    at=at,
                    kind="controller_instruction",
                    write_key=f"controller_instruction/{system}/{round_}",
                    actor=instructed_by,
                    detail={
                        "system": system,
                        "round": round_,
                        "controller": ref.controller,
                        "instruction": instruction,
                        "reason": reason[:1000],
                        **(detail or {}),
                    },
                )
            )
            return ref
