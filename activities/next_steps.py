"""What a request waits for, and the command for whoever must act: the ``Next:`` lines of
``lethe status`` and of the operators' alerts (``activities/alerts.py``).

A pure function of ledger records, kept here (below ``lethe/``) so that activities can use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger import ControllerReferral, ErasureRequestRecord, SystemOutcomeRecord

__all__ = ["next_steps"]

_OPEN = {"received", "awaiting_verification", "erasing", "escalated"}


def next_steps(
    rec: ErasureRequestRecord,
    latest: Mapping[str, SystemOutcomeRecord],
    referrals: Sequence[ControllerReferral],
) -> list[str]:
    """What the request waits for, and the command for whoever must act (empty: nothing)."""
    rid = rec.request_id
    steps: list[str] = []
    if rec.status in {"received", "awaiting_verification"}:
        if rec.verification_method == "operator":
            steps.append(
                f"an operator confirms who asks: lethe approve {rid} --reason '…'"
                f" (or lethe cancel {rid} --reason '…')"
            )
        elif rec.verification_method == "email":
            steps.append(
                f"the requester's emailed code: lethe verify {rid} --code …"
                f" (or lethe cancel {rid} --reason '…')"
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
        if outcome.outcome != "failed":
            continue
        # Open or answered: a failed system is retried now (its status counts the retry).
        steps.append(f"{system} failed: lethe retry {rid} --system {system} --reason '…'")
    if not steps and rec.status in _OPEN and rec.status != "escalated":
        steps.append("nothing from you: the systems are being erased")
    return steps
