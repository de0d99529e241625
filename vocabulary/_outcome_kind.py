"""What one system did for one request in one round: the outcome kinds, and how they group.

    erased         the person's data was deleted or anonymised there
    not_found      the system holds nothing of the person
    not_searched   the request lacks an identifier a rule of the system needs: what the
                   identifiers present found was erased, the rest was not looked for
    retained       some data is kept under a legal basis, until a date or a review
    pending        the system accepted the erasure and answers later (a ticket, polled)
    referred       the system holds the data for a controller, who decides
    failed         retries are spent, or the error is permanent (decided by Lethe, never by
                   a connector)
    in_progress    the round has started and has no answer yet

A connector answers with the first six (``connectors.Erased`` …); the ledger adds ``failed``
and ``in_progress``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_OUTCOMES", "GONE", "NOT_DONE", "NOT_SETTLED", "OutcomeKind"]


class OutcomeKind(StrEnum):
    """A system's outcome. Each member is its own string (``OutcomeKind.ERASED ==
    "erased"``), so what is stored, sealed and sent is the plain word."""

    ERASED = "erased"
    NOT_FOUND = "not_found"
    NOT_SEARCHED = "not_searched"
    RETAINED = "retained"
    PENDING = "pending"
    REFERRED = "referred"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"


#: Not a system's answer yet: a round, or the request's own first pass, is under way.
NOT_SETTLED = frozenset({OutcomeKind.IN_PROGRESS, OutcomeKind.PENDING})

#: A system's round ended with one of these; these, and only these, are sealed into the
#: proof log (a receipt is never written for an answer still to come).
FINAL_OUTCOMES = frozenset(OutcomeKind) - NOT_SETTLED

#: Answers that leave the request's erasure undone in that system until an operator acts
#: (``lethe retry``): it failed, or it could not be searched for want of an identifier.
NOT_DONE = frozenset({OutcomeKind.FAILED, OutcomeKind.NOT_SEARCHED})

#: Nothing of the person is left in the system: it was erased, or it never held them.
GONE = frozenset({OutcomeKind.ERASED, OutcomeKind.NOT_FOUND})
