"""The rule that turns each system's latest outcome into the request's status.

    every system failed or could not be searched       ⇒ failed
    some system failed or could not be searched         ⇒ partially_failed
    any kept data, was referred, or has no answer yet   ⇒ completed_with_exceptions
    otherwise (erased, or never held the person)        ⇒ completed

Pure and deterministic: the ledger applies it when a request is answered and after every
later round (``ledger.RequestStatuses``), and the erasure workflow applies it when it replays
a history recorded before the ledger did (patch ``status-from-ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ._outcome_kind import NOT_DONE, NOT_SETTLED, OutcomeKind
from ._request_status import RequestStatus

__all__ = ["request_status"]

#: Outcomes that leave an exception on the record: something is kept, someone else decides,
#: or the answer is still to come (a request must not end ``completed`` on a promise).
_EXCEPTIONS = frozenset({OutcomeKind.RETAINED, OutcomeKind.REFERRED, *NOT_SETTLED})


def request_status(outcomes: Iterable[str]) -> RequestStatus:
    """The request's status from ``outcomes``, each system's latest outcome (see the module
    docstring for the rule). No outcome at all (no system) is ``completed``."""
    kinds = set(outcomes)
    if kinds and kinds <= NOT_DONE:
        return RequestStatus.FAILED
    if kinds & NOT_DONE:
        return RequestStatus.PARTIALLY_FAILED
    if kinds & _EXCEPTIONS:
        return RequestStatus.COMPLETED_WITH_EXCEPTIONS
    return RequestStatus.COMPLETED
