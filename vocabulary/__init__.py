"""The words Lethe's records are written in, and the one rule made of them alone.

Every package may import this one (connectors, the ledger, activities, the workflow sandbox,
the command line); it imports nothing of Lethe's and nothing outside the standard library.

    RequestStatus       where a request stands         OPEN_STATUSES, UNVERIFIED_STATUSES,
                                                       FINAL_STATUSES, REFUSALS
    OutcomeKind         what a system did              FINAL_OUTCOMES, NOT_SETTLED, NOT_DONE, GONE
    request_status      the rule: each system's latest outcome ⇒ the request's status
    VerificationMethod  how the requester's identity is established
    Jurisdiction        the law a request is made under
    LegalBasis          why data may be kept           LEGAL_BASES, describe_basis, basis_fits
    AlertEvent          what the operators are alerted to
    iso, when, stamp_when  how a moment is written: ISO 8601 for machines, minutes in UTC for
                        people

The enumerations are ``StrEnum``: each member *is* its string (``RequestStatus.COMPLETED ==
"completed"``, and it hashes, sorts, formats and encodes to JSON as ``"completed"``). The
ledger's columns, receipts, certificates, alerts and Temporal payloads hold the plain words,
as they always have; code compares against members so that a misspelt word is a type error,
not a branch that is never taken.
"""

from ._alert_event import ALERT_EVENTS, AlertEvent
from ._jurisdiction import JURISDICTIONS, Jurisdiction
from ._legal_basis import LEGAL_BASES, LegalBasis, basis_fits, describe_basis
from ._moments import iso, stamp_when, when
from ._outcome_kind import FINAL_OUTCOMES, GONE, NOT_DONE, NOT_SETTLED, OutcomeKind
from ._request_status import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    REFUSALS,
    UNVERIFIED_STATUSES,
    RequestStatus,
)
from ._status_rule import request_status
from ._verification_method import VERIFICATION_METHODS, VerificationMethod

__all__ = [
    "ALERT_EVENTS",
    "FINAL_OUTCOMES",
    "FINAL_STATUSES",
    "GONE",
    "JURISDICTIONS",
    "LEGAL_BASES",
    "NOT_DONE",
    "NOT_SETTLED",
    "OPEN_STATUSES",
    "REFUSALS",
    "UNVERIFIED_STATUSES",
    "VERIFICATION_METHODS",
    "AlertEvent",
    "Jurisdiction",
    "LegalBasis",
    "OutcomeKind",
    "RequestStatus",
    "VerificationMethod",
    "basis_fits",
    "describe_basis",
    "iso",
    "request_status",
    "stamp_when",
    "when",
]
