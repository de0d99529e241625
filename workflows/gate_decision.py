"""What an identity gate decides: verified or not, who says so, and why.

Every gate of ``ErasureWorkflow`` (email code, portal assertion, operator approval) answers
with one. ``actor`` and ``reason`` go into the ledger with the status that follows (``erasing``
or ``rejected``): who verified (``operator:kim``, ``requester:email-code``, ``portal:ISSUER``)
or ``lethe`` when nobody did.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GateDecision"]


@dataclass(frozen=True)
class GateDecision:
    verified: bool
    actor: str
    reason: str | None

    @classmethod
    def refused(cls, reason: str) -> GateDecision:
        """Not verified, decided by Lethe (a timeout, a lock, missing evidence)."""
        return cls(False, "lethe", reason)
