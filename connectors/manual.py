"""A system no API reaches (paper files, a vendor's portal): a person erases it.

    [systems.paper_files]
    connector = "manual"
    instructions = "Shred the member's paper application in cabinet B; note the folder number."
    assignee = "records team (records@example.org)"
    due_within_days = 5

Lethe does not call this connector to erase: the plan step sees that the system is worked by a
person (:attr:`ManualConnector.worked_by_a_person`), and the system's workflow opens a **task**
instead. The task (instructions, assignee, when it is due) is recorded in the request's events,
with no identifier of the person: the assignee reads who it is with ``lethe task show``, from
the vault, when doing it. The operators are alerted (``manual_task_opened``); the workflow
waits, durably, for ``lethe task done REQUEST --system S --evidence '…'`` (then ``erased``) or
``lethe task retain REQUEST --system S --basis CODE --until DATE --reason '…'`` (then
``retained``). A task not done ``due_within_days`` after it was opened, or
``escalate_days_before_deadline`` before the request's answer deadline, whichever comes first,
is escalated (``manual_task_overdue``) and the wait goes on.

:meth:`ManualConnector.erase` is there for the connector contract; called (by a script, or a
worker whose plan step did not know the system), it changes nothing and raises a
:class:`PermanentError` saying so.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from ._errors import PermanentError
from ._outcomes import Outcome
from ._protocol import BaseConnector, Capability, ConnectorOptions
from ._subject import Subject, redact

__all__ = ["ManualConnector", "ManualOptions"]


class ManualOptions(ConnectorOptions):
    instructions: str = Field(
        min_length=10, description="What the assignee does (no one's personal data)"
    )
    assignee: str = Field(min_length=1, description="Who does it (a team, a role, a name)")
    due_within_days: float = Field(default=7.0, gt=0, description="Overdue after this long")
    escalate_days_before_deadline: float = Field(
        default=3.0,
        ge=0,
        description="Escalate at the latest this long before the request's answer deadline",
    )

    @field_validator("instructions")
    @classmethod
    def _no_addresses(cls, v: str) -> str:
        if redact(v) != v:
            raise ValueError(
                "instructions must not hold an address or phone number (they are recorded with"
                " every request)"
            )
        return v.strip()


class ManualConnector(BaseConnector[ManualOptions]):
    kind: ClassVar[str] = "manual"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE})
    #: The plan step gives this system to a person (a task), not to :meth:`erase`.
    worked_by_a_person: ClassVar[bool] = True

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        raise PermanentError(
            f"{self.name}: a manual system is erased by a person: Lethe opens a task for it"
            " (lethe task done / lethe task retain); nothing was changed"
        )
