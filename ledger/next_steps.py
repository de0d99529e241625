"""What a request waits for, and the command for whoever must act: the ``Next:`` lines of
``lethe status`` and of the operators' alerts (``activities/alerts.py``).

A pure function of ledger records, kept with them: activities use it for the alerts, and
``lethe status`` reads it without loading the activities (and the Temporal SDK they import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from vocabulary import (
    OPEN_STATUSES,
    UNVERIFIED_STATUSES,
    OutcomeKind,
    RequestStatus,
    VerificationMethod,
    when,
)

from .proof import missing_identifiers
from .tables import ControllerReferral, ErasureRequestRecord, RequestClock, SystemOutcomeRecord

__all__ = ["ACKNOWLEDGE_SOON", "next_steps"]

#: How close to its acknowledge-by date an unacknowledged request gets the hint to acknowledge
#: it by other means (Lethe's own mail goes out within minutes of receipt, when it can).
ACKNOWLEDGE_SOON = timedelta(hours=12)


def next_steps(
    rec: ErasureRequestRecord,
    latest: Mapping[str, SystemOutcomeRecord],
    referrals: Sequence[ControllerReferral],
    clock: RequestClock | None = None,
    now: datetime | None = None,
    *,
    fixes: Sequence[str] | None = None,
) -> list[str]:
    """What the request waits for, and the command for whoever must act (empty: nothing).
    Given the clock and the time: an open request not acknowledged by (or within
    ACKNOWLEDGE_SOON of) its acknowledge-by date is acknowledged by other means.

    ``fixes``: what would get a request moving that is not (``activities/progress.py``);
    ``None`` when nobody asked Temporal (an alert, a status that could not reach it): then
    "nothing from you" is never said, since nobody knows."""
    rid = rec.request_id
    steps: list[str] = []
    if (
        clock is not None
        and now is not None
        and rec.completed_at is None
        and clock.acknowledge_by is not None
        and clock.acknowledged_at is None
        and now >= clock.acknowledge_by - ACKNOWLEDGE_SOON
    ):
        tense = "was" if now >= clock.acknowledge_by else "is"
        steps.append(
            f"receipt is not acknowledged and {tense} due by {when(clock.acknowledge_by)}:"
            f" tell the requester, then lethe acknowledge {rid} --channel phone|mail|…"
            " --reason '…'"
        )
    if rec.status in UNVERIFIED_STATUSES:
        if rec.verification_method == VerificationMethod.OPERATOR:
            steps.append(
                f"an operator confirms who asks: lethe approve {rid} --reason '…'"
                f" (or lethe cancel {rid} --reason '…')"
            )
        elif rec.verification_method == VerificationMethod.EMAIL:
            steps.append(
                f"the requester's emailed code: lethe verify {rid} --code …"
                f" (lost or expired in spam: lethe verify {rid} --resend;"
                f" withdrawn: lethe cancel {rid} --reason '…')"
            )
    for ref in referrals:
        if ref.state == "awaiting":
            steps.append(
                f"{ref.system}: {ref.controller}'s instruction (asked until "
                f"{ref.answer_by:%Y-%m-%d}): lethe controller-instruction {rid} --system "
                f"{ref.system} --erase | --retain --basis … --until …"
            )
        elif ref.state == "escalated":
            steps.append(
                f"{ref.system}: {ref.controller} did not answer in time or could not be told;"
                " an operator decides: "
                f"lethe controller-instruction {rid} --system {ref.system} --erase | --retain "
                "--basis … --until …"
            )
    for system, outcome in sorted(latest.items()):
        # Open or answered: a failed system is retried now (its status counts the retry).
        if outcome.outcome == OutcomeKind.FAILED:
            steps.append(f"{system} failed: lethe retry {rid} --system {system} --reason '…'")
        elif outcome.outcome == OutcomeKind.NOT_SEARCHED:
            # The request lacked an identifier a rule of the system needs: add it, retry.
            kinds = missing_identifiers(outcome.evidence) or ["KIND"]
            adds = " ".join(f"--identifier {kind}=-" for kind in kinds)
            steps.append(
                f"{system} was not searched: the request has no {', '.join(kinds)}; find it"
                f" out, then lethe retry {rid} --system {system} {adds} --reason '…'"
                f" (each value on its own line of stdin)"
            )
    steps += list(dict.fromkeys(fixes or ()))
    waiting = rec.status in OPEN_STATUSES and rec.status != RequestStatus.ESCALATED
    if not steps and waiting and fixes is not None:
        steps.append("nothing from you: the systems are being erased")
    return steps
