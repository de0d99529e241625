"""Workflow inputs, signals and results. No personal data: a request id and a pseudonym.

Add fields only with defaults; running workflows decode old payloads with these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from activities.types import SystemOutcome

__all__ = [
    "ACKNOWLEDGEMENT_CHANNELS",
    "AcknowledgementRecorded",
    "CancelOrder",
    "CodeCheck",
    "CodeResendOrder",
    "CodeResent",
    "CodeSubmission",
    "DeadlineExtension",
    "ErasurePolicy",
    "ErasureRequest",
    "ErasureResult",
    "OperatorApproval",
    "Progress",
    "ReceiptAcknowledgement",
    "SystemErasure",
]

#: How an operator told the requester we have their request, when Lethe's mail did not:
#: the words of ``lethe submit --channel`` where they fit (``mail``: a letter by post).
ACKNOWLEDGEMENT_CHANNELS = ("phone", "mail", "email", "in-person", "portal", "other")


@dataclass(frozen=True)
class ErasurePolicy:
    """How patient a request is. Set at intake from settings; fixed for the request's life."""

    verification_timeout_seconds: int = 72 * 3600
    attempt_limit: int = 6
    erase_timeout_seconds: int = 15 * 60
    heartbeat_timeout_seconds: int = 60
    retry_initial_seconds: float = 5.0
    retry_max_interval_seconds: float = 600.0
    #: An emailed code is good this long; then the request is rejected as unverified.
    code_ttl_seconds: int = 72 * 3600
    #: Wrong codes allowed before the request is locked (and rejected). A resent code
    #: counts on from the same number.
    code_attempts: int = 5
    #: New codes an operator may have mailed (``lethe verify --resend``); 0: none.
    code_resends: int = 3
    #: How long before the answer deadline the reminder goes out.
    reminder_lead_seconds: int = 7 * 86400
    #: How often a system that answered Pending is asked for its ticket's status before the
    #: system is recorded as failed (an operator's ``lethe retry`` asks again).
    pending_poll_limit: int = 1000


@dataclass(frozen=True)
class ErasureRequest:
    request_id: str
    subject_ref: str
    jurisdiction: str
    verification_method: str
    systems: tuple[str, ...]
    received_at: datetime
    due_at: datetime
    policy: ErasurePolicy = field(default_factory=ErasurePolicy)
    #: When receipt must be acknowledged (the strictest rule); None if no rule asks.
    acknowledge_by: datetime | None = None
    #: The namespace has Lethe's search attributes: the workflow keeps them current
    #: (``workflows.search_attributes``). False for requests started before they existed.
    search_attributes: bool = False


@dataclass(frozen=True)
class SystemErasure:
    """Input of the per-system child workflow.

    ``refer_to``: the system is processor-held for that controller; it is referred without
    calling its connector, and erased only on the controller's instruction.
    ``manual``: a person erases the system (``connectors.manual``): a task is opened and the
    workflow waits for an operator's answer (``lethe task done`` / ``lethe task retain``).
    ``answered``: the connector's answer to this round's erase when the request's workflow
    already asked (``pending`` or ``referred``: ``erase_at_once``); the child carries on from
    it (polls, or refers) instead of asking again.
    """

    request_id: str
    system: str
    round: int = 0
    policy: ErasurePolicy = field(default_factory=ErasurePolicy)
    refer_to: str | None = None
    manual: bool = False
    answered: SystemOutcome | None = None


@dataclass(frozen=True)
class OperatorApproval:
    """Signal: a named operator vouches for the requester's identity, with a reason."""

    operator: str
    reason: str


@dataclass(frozen=True)
class CancelOrder:
    """Update: a named operator withdraws a request before its identity gate has decided
    (the requester changed their mind, or it was filed twice). After that, erasure may be
    under way, and what is erased cannot be called back."""

    operator: str
    reason: str


@dataclass(frozen=True)
class CodeSubmission:
    """Update: a code the requester gave, passed on by whoever typed it (``actor``)."""

    code: str
    actor: str


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a code submission. ``outcome`` is one of accepted, wrong_code, locked,
    expired, used, no_code."""

    accepted: bool
    outcome: str
    message: str
    attempts_left: int = 0


@dataclass(frozen=True)
class CodeResendOrder:
    """Update: mail a new code to the address on file; the current code stops working.
    ``actor`` is who asked for it, ``reason`` why (scrubbed at the command line; may be
    empty)."""

    actor: str
    reason: str = ""


@dataclass(frozen=True)
class CodeResent:
    """The answer to a resend: the new code's expiry, and how many more resends remain."""

    expires_at: datetime
    resends_left: int
    attempts_left: int


@dataclass(frozen=True)
class ReceiptAcknowledgement:
    """Update: an operator acknowledged receipt to the requester by other means
    (``channel``, one of ACKNOWLEDGEMENT_CHANNELS), with a reference (``reason``)."""

    channel: str
    reason: str
    actor: str


@dataclass(frozen=True)
class AcknowledgementRecorded:
    at: datetime
    on_time: bool
    acknowledge_by: datetime | None = None


@dataclass(frozen=True)
class DeadlineExtension:
    """Update: move the answer deadline to ``answer_by`` (decided by the rules at the CLI,
    checked again by the workflow), with the reason the requester is told."""

    answer_by: datetime
    reason: str
    actor: str


@dataclass(frozen=True)
class ErasureResult:
    request_id: str
    status: str
    reason: str | None = None
    systems: tuple[SystemOutcome, ...] = ()


@dataclass(frozen=True)
class Progress:
    """Query answer: where the request stands right now."""

    stage: str
    systems: dict[str, str] = field(default_factory=dict)
    answer_by: datetime | None = None
    extended: bool = False
    acknowledged: bool = False
    #: For the email method: the code went out, and codes are now accepted for checking.
    code_sent: bool = False
    #: For the email method: when the current code expires, and how many were resent.
    code_expires_at: datetime | None = None
    code_resends: int = 0
    #: Signals refused since this run started (not encrypted under the payload key, or
    #: malformed); the first few are recorded in the ledger as ``payload_refused`` events.
    refused_signals: int = 0
