"""Sealing: a finished request's receipts go into the proof log under a new signed tree head.

Idempotent: a retried or repeated call appends only receipts the log does not hold yet, so a
later round (the retention sweeper, ``lethe retry``) is sealed by calling it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ledger import LedgerError, ProofLog, ProofLogError

__all__ = ["SealResult", "SealingActivities"]

log = structlog.get_logger("lethe.activities")


@dataclass(frozen=True)
class SealResult:
    request_id: str
    appended: int = 0
    tree_size: int = 0
    root_hash: str | None = None


class SealingActivities:
    def __init__(self, proof_log: ProofLog) -> None:
        self._proof_log = proof_log

    @activity.defn(name="seal_request")
    async def seal_request(self, request_id: str) -> SealResult:
        try:
            sealed = await self._proof_log.seal(request_id, at=datetime.now(UTC))
        except ProofLogError as exc:
            # The log is inconsistent: retrying is right (an operator can repair and the
            # request then seals), but say why on every attempt.
            log.error("seal.refused", request_id=request_id, error=str(exc))
            raise ApplicationError(str(exc), type="ProofLogInconsistent") from None
        except LedgerError as exc:
            raise ApplicationError(str(exc), type="UnknownRequest", non_retryable=True) from None
        head = sealed.head
        log.info(
            "request.sealed",
            request_id=request_id,
            appended=len(sealed.leaf_indices),
            tree_size=head.tree_size if head else 0,
        )
        return SealResult(
            request_id,
            appended=len(sealed.leaf_indices),
            tree_size=head.tree_size if head else 0,
            root_hash=head.root_hash.hex() if head else None,
        )
