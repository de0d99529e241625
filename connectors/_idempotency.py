"""The rule for erasing twice, written down once so that connectors and the kit agree.

**What a connector receives.** ``erase(subject, request_id)``'s second argument is the erase's
idempotency key (:func:`erase_key`): the request id (``er-…``) in a request's first round,
``er-…/round-N`` in a later round of the same request (a retry, a backup replay, a
retention that ran out, an identifier added). Treat it as opaque and use it whole: a receipt
keyed by it answers a repeat of the same erase, and never a later round, which must look
again (a restored backup brought the data back; the identifier the first round lacked is
here now).

**When a repeat comes.** Lethe replays outcomes its ledger already holds, so a connector meets
a repeat only when an attempt changed the system and no outcome reached the ledger: the
worker died between the system's commit and the ledger write, or the attempt failed after
part of the work. The ledger then holds nothing, and only the connector knows what the first
attempt did. So a connector keeps a **receipt**: its counts and evidence, keyed by the
idempotency key, written in the same transaction as the change (``sql``: a row of its
receipts table; ``redis``: a key set in the same ``MULTI``), or, for a system without
transactions, in the receipt journal (``connectors._journal``), written before the change
(what it is about to do) and after it (what it did). A repeat replays the receipt.

The rule a connector keeps (:func:`repeat_problem`):

1. **A repeat changes nothing.** Not the subject's remaining (retained) data, not anyone
   else's. It may write its own bookkeeping (the receipt).
2. **A repeat reports what the first call did, not what is left.** Exactly:

   ============  =============================================================================
   first call    acceptable repeat
   ============  =============================================================================
   Erased        the same ``Erased``, replayed from the receipt: equal counts (``NotFound``
                 only if the first counted nothing)
   NotFound      ``NotFound``
   Retained      ``Retained`` with the same legal basis, dates and retained counts, and the
                 first call's erase counts (replayed)
   Pending       ``Pending`` with the same ticket (no second job is opened), or, once that
                 job has finished, the outcome ``status(ticket)`` reports
   Referred      ``Referred`` to the same controller
   NotSearched   ``NotSearched`` naming the same missing kinds, keeping what the first kept
                 (same basis, dates, retained counts), with the first call's erase counts
   ============  =============================================================================

3. **A replay says so.** A repeat of an erase that changed something carries
   ``evidence[REPLAYED_FROM_RECEIPT] = True``: Lethe records ``earlier_attempt_interrupted``
   from it, and only from it (an attempt that was refused before it changed anything was
   not interrupted in any way that matters to the record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ._outcomes import Erased, NotFound, NotSearched, Outcome, Pending, Referred, Retained

__all__ = ["REPLAYED_FROM_RECEIPT", "erase_key", "repeat_problem"]

#: The evidence key by which an outcome says it was replayed from a receipt: an earlier
#: attempt of the same erase changed the system, and this is what it did.
REPLAYED_FROM_RECEIPT = "replayed_from_receipt"


def erase_key(request_id: str, round_: int = 0) -> str:
    """The idempotency key of one round's erase of a request: the request id in round 0 (as
    it always was, so receipts written before rounds were told apart still answer), and
    ``<request id>/round-<n>`` after."""
    if round_ < 0:
        raise ValueError("a round is 0 or more")
    return request_id if round_ == 0 else f"{request_id}/round-{round_}"


def _nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(v) for k, v in counts.items() if v}


def _same_exception(first: Retained, repeat: Retained) -> bool:
    return (
        repeat.legal_basis == first.legal_basis
        and repeat.retained_until == first.retained_until
        and repeat.review_on == first.review_on
        and _nonzero(repeat.retained_counts) == _nonzero(first.retained_counts)
    )


def _same_counts(
    first: Erased | Retained | NotSearched, repeat: Erased | Retained | NotSearched, marked: bool
) -> str | None:
    """The repeat reports the first's erase counts, replayed (and says so)."""
    done, again = _nonzero(first.counts), _nonzero(repeat.counts)
    if again != done:
        if not again:
            return (
                f"a repeat reported nothing erased, but the first call erased {done}: keep a"
                " receipt with the counts, written with the change, and replay it"
            )
        return f"a repeat reported other erase counts: {again}, the first call {done}"
    if done and marked and repeat.evidence.get(REPLAYED_FROM_RECEIPT) is not True:
        return (
            f"a repeat of an erase that changed something must say it was replayed"
            f" (evidence[{REPLAYED_FROM_RECEIPT!r}] = True)"
        )
    return None


def repeat_problem(
    first: Outcome, repeat: Outcome, *, asked: Literal["erase", "status"] = "erase"
) -> str | None:
    """Why ``repeat`` is not an acceptable answer to erasing again after ``first``, or None.

    ``asked="status"``: ``repeat`` is ``status(ticket)`` asked again after the job finished,
    the same answer again; it need not say it was replayed.
    """
    marked = asked == "erase"
    if isinstance(first, NotFound):
        return None if isinstance(repeat, NotFound) else f"expected not_found, got {repeat.kind}"
    if isinstance(first, Erased):
        if isinstance(repeat, NotFound) and not _nonzero(first.counts):
            return None
        if not isinstance(repeat, Erased):
            return (
                f"after erased {_nonzero(first.counts)}, a repeat must replay the same erased"
                f" counts; got {repeat.kind}"
                + (
                    " (what is left, not what the first call did: keep a receipt)"
                    if isinstance(repeat, NotFound)
                    else ""
                )
            )
        return _same_counts(first, repeat, marked)
    if isinstance(first, Retained):
        if not isinstance(repeat, Retained):
            return f"after retained, a repeat must be retained again; got {repeat.kind}"
        if not _same_exception(first, repeat):
            return "a repeated retained outcome must keep the same basis, dates and counts"
        return _same_counts(first, repeat, marked)
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
        return _same_counts(first, repeat, marked)
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
