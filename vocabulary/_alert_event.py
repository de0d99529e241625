"""Events that tell the operators a request needs a person, not only the log."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ALERT_EVENTS", "AlertEvent"]


class AlertEvent(StrEnum):
    """What an operator alert is about (``[alerts] on`` chooses among them).

    ``acknowledgement_overdue``: the receipt was not acknowledged by its deadline.
    ``deadline_reminder``: the answer deadline is near.
    ``deadline_overdue``: the answer deadline has passed.
    ``referral_escalated``: a controller did not answer a referral in time (or could not be
    told).
    ``system_failed``: a system failed for good (retries spent, or a permanent error).
    ``system_unserved``: no worker that has a system configured took its task (a rolling
    deploy, or a system removed from one worker's lethe.toml).
    ``request_stalled``: an open request is not progressing (its workflow task keeps failing,
    its workflow is gone, or a system has been retried long).
    ``processor_overdue``: a processor (``webhook``) did not answer an erasure by the time it
    promised.
    ``payload_refused``: a signal to a request was refused: not encrypted under the payload
    key (someone reached Temporal without Lethe's keys).
    ``manual_task_opened``: a system no API reaches (``manual``) needs a person: the task,
    its assignee and its instructions.
    ``manual_task_overdue``: such a task was not done in time (escalated before the request's
    answer deadline).
    """

    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement_overdue"
    DEADLINE_REMINDER = "deadline_reminder"
    DEADLINE_OVERDUE = "deadline_overdue"
    REFERRAL_ESCALATED = "referral_escalated"
    SYSTEM_FAILED = "system_failed"
    SYSTEM_UNSERVED = "system_unserved"
    REQUEST_STALLED = "request_stalled"
    PAYLOAD_REFUSED = "payload_refused"
    MANUAL_TASK_OPENED = "manual_task_opened"
    MANUAL_TASK_OVERDUE = "manual_task_overdue"
    PROCESSOR_OVERDUE = "processor_overdue"


#: Every event, in the order the documentation and messages list them (the default of
#: ``[alerts] on``: alert on all of them).
ALERT_EVENTS = tuple(AlertEvent)
