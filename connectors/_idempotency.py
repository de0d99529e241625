"""The rule for erasing twice, written down once so that connectors and the kit agree.

Lethe may call ``erase(subject, request_id)`` again with the same request id: a worker that
crashed after the system finished but before the ledger recorded it retries the call. The
activity layer replays outcomes the ledger already holds, so a connector only meets a repeat in
that window. The rule a connector keeps is:

1. **A repeat changes nothing.** Not the subject's remaining (retained) data, not anyone
   else's. It may write its own bookkeeping (a receipt keyed by the request id).
2. **A repeat reports the state the first call left.** Exactly:

   ============  =============================================================================
   first call    acceptable repeat
   ============  =============================================================================
   Erased        ``NotFound`` (nothing left to erase), or the same ``Erased`` replayed from a
                 receipt (equal counts)
   NotFound      ``NotFound``
   Retained      ``Retained`` with the same legal basis, dates and retained counts; its erase
                 counts are either all zero (a stateless connector found only the kept part)
                 or equal to the first call's (replayed from a receipt)
   Pending       ``Pending`` with the same ticket (no second job is opened), or, once that
                 job has finished, the outcome ``status(ticket)`` reports
   Referred      ``Referred`` to the same controller
   ============  =============================================================================

A stateless connector (``sql``) meets the rule by construction: what it erased no longer
matches, what it keeps still does. A connector whose retained part lives outside what it can
see afterwards (``redis``: copies in snapshot files) keeps a small receipt keyed by the request
id and replays it.
"""

from __future__ import annotations

from ._outcomes import Erased, NotFound, Outcome, Pending, Referred, Retained

__all__ = ["repeat_problem"]


def _nonzero(counts: object) -> dict[str, int]:
    assert hasattr(counts, "items")
    return {k: int(v) for k, v in counts.items() if v}


def repeat_problem(first: Outcome, repeat: Outcome) -> str | None:
    """Why ``repeat`` is not an acceptable answer to erasing again after ``first``, or None."""
    if isinstance(first, NotFound):
        return None if isinstance(repeat, NotFound) else f"expected not_found, got {repeat.kind}"
    if isinstance(first, Erased):
        if isinstance(repeat, NotFound):
            return None
        if isinstance(repeat, Erased) and _nonzero(repeat.counts) == _nonzero(first.counts):
            return None
        return (
            f"after erased, a repeat must be not_found or the same erased counts; "
            f"got {repeat.kind} {_nonzero(getattr(repeat, 'counts', {}))}"
        )
    if isinstance(first, Retained):
        if not isinstance(repeat, Retained):
            return f"after retained, a repeat must be retained again; got {repeat.kind}"
        same_exception = (
            repeat.legal_basis == first.legal_basis
            and repeat.retained_until == first.retained_until
            and repeat.review_on == first.review_on
            and _nonzero(repeat.retained_counts) == _nonzero(first.retained_counts)
        )
        if not same_exception:
            return "a repeated retained outcome must keep the same basis, dates and counts"
        counts = _nonzero(repeat.counts)
        if counts and counts != _nonzero(first.counts):
            return f"a repeat erased something again: {counts}"
        return None
    if isinstance(first, Pending):
        if isinstance(repeat, Pending):
            if repeat.ticket == first.ticket:
                return None
            return "after pending, a repeat must return the same ticket (no second job)"
        if isinstance(repeat, Erased | Retained | NotFound):
            return None  # the job finished: what status(ticket) reports (checked by the caller)
        return f"after pending, a repeat must be the same ticket or its end; got {repeat.kind}"
    if isinstance(first, Referred):
        if isinstance(repeat, Referred) and repeat.controller == first.controller:
            return None
        return "after referred, a repeat must refer to the same controller"
    return f"{type(first).__name__} is not an outcome"
