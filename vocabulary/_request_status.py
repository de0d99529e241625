"""Where a request stands: its status, as the ledger, receipts and certificates record it.

    received                   intake recorded it; the statutory clock runs from here
    awaiting_verification      waiting for the requester's identity to be confirmed
    erasing                    identity confirmed; its systems are being erased
    escalated                  a controller did not answer a referral in time (or could not
                               be told): an operator must decide
    completed                  every system erased the person, or never held them
    completed_with_exceptions  some data is kept under a legal basis, referred to its
                               controller, or not answered yet; the rest is gone
    partially_failed           some systems failed, or could not be searched for want of an
                               identifier; they wait for ``lethe retry``
    failed                     no system was erased as asked: each failed or could not be
                               searched
    rejected                   the requester's identity was not verified: nothing erased
    cancelled                  withdrawn before verification: nothing erased

The first four are open (the request is still being worked on); the other six answer it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "REFUSALS",
    "UNVERIFIED_STATUSES",
    "RequestStatus",
]


class RequestStatus(StrEnum):
    """A request's status. Each member is its own string (``RequestStatus.COMPLETED ==
    "completed"``), so what is stored, signed and sent is the plain word."""

    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    ERASING = "erasing"
    ESCALATED = "escalated"
    COMPLETED = "completed"
    COMPLETED_WITH_EXCEPTIONS = "completed_with_exceptions"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


#: A request in one of these is still being worked on: it holds its person's claim, its
#: deadline runs, and it can be steered (approved, extended, cancelled before verification).
OPEN_STATUSES = frozenset(
    {
        RequestStatus.RECEIVED,
        RequestStatus.AWAITING_VERIFICATION,
        RequestStatus.ERASING,
        RequestStatus.ESCALATED,
    }
)

#: Open, and the requester's identity not verified yet: nothing has been erased, and the
#: request can still be approved, verified by its code, or cancelled.
UNVERIFIED_STATUSES = frozenset({RequestStatus.RECEIVED, RequestStatus.AWAITING_VERIFICATION})

#: A request in one of these has been answered: its answer is sealed, and no update or signal
#: changes it any more (a later round of one system may still move it between the first four).
FINAL_STATUSES = frozenset(RequestStatus) - OPEN_STATUSES

#: Answers no system's outcome decides: the request was refused or withdrawn before any
#: system was asked to erase anything, so nothing was erased and nothing will be.
REFUSALS = frozenset({RequestStatus.REJECTED, RequestStatus.CANCELLED})
