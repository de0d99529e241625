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
   NotSearched   ``NotSearched`` naming the same missing kinds, keeping what the first kept
                 (same basis, dates, retained counts); its erase counts all zero or equal to
                 the first call's, as for ``Retained``
   ============  =============================================================================

A stateless connector (``sql``) meets the rule by construction: what it erased no longer
matches, what it keeps still does. A connector whose retained part lives outside what it can
see afterwards (``redis``: copies in snapshot files) keeps a small receipt keyed by the request
id and replays it.
"""

from __future__ import annotations

from ._outcomes import Erased, NotFound, NotSearched, Outcome, Pending, Referred, Retained

__all__ = ["repeat_problem"]


def _nonzero(counts: object) -> dict[str, int]:
    assert hasattr(counts, "items")
    return {k: int(v) for k, v in counts.items() if v}


def _same_exception(first: Retained, repeat: Retained) -> bool:
    return (
        repeat.legal_basis == first.legal_basis
        and repeat.retained_until == first.retained_until
        and repeat.review_on == first.review_on
        and _nonzero(repeat.retained_counts) == _nonzero(first.retained_counts)
    )


def _erased_again(first: Retained | NotSearched, repeat: Retained | NotSearched) -> str | None:
    """A repeat's erase counts: all zero (found only what stays), or the first's (replayed)."""
    counts = _nonzero(repeat.counts)
    if counts and counts != _nonzero(first.counts):
        return f"a repeat erased something again: {counts}"
    return None


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
        if not _same_exception(first, repeat):
            return "a repeated retained outcome must keep the same basis, dates and counts"
        return _erased_again(first, repeat)
    if isinstance(first, NotSearched):
        if not isinstance(repeat, NotSearched) or repeat.missing != first.missing:
            return (
                f"after not_searched (missing {', '.join(first.missing)}), a repeat must be"
                f" not_searched for the same kinds; got {repeat.kind}"
                + (
                    f" missing {', '.join(repeat.missing)}"
                    if isinstance(repeat, NotSearched)
                    else ""
                )
            )
        if (first.kept is None) != (repeat.kept is None) or (
            first.kept is not None
            and repeat.kept is not None
            and not _same_exception(first.kept, repeat.kept)
        ):
            return "a repeated not_searched outcome must keep what the first kept, as it kept it"
        return _erased_again(first, repeat)
    if isinstance(first, Pending):
        if isinstance(repeat, Pending):
            if repeat.ticket == first.ticket:
                return None
            return "after pending, a repeat must return the same ticket (no second job)"
        if isinstance(repeat, Erased | Retained | NotFound | NotSearched):
            return None  # the job finished: what status(ticket) reports (checked by the caller)
        return f"after pending, a repeat must be the same ticket or its end; got {repeat.kind}"
    if isinstance(first, Referred):
        if isinstance(repeat, Referred) and repeat.controller == first.controller:
            return None
        return "after referred, a repeat must refer to the same controller"
    return f"{type(first).__name__} is not an outcome"
