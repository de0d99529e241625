"""One request's record as an auditor reads it (``lethe audit show``), the requests an auditor
selects (``lethe audit list``), and a certificate of erasure (``lethe audit certificate``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger import (
    ErasureRequestRecord,
    LedgerError,
    ProofLeaf,
    ProofLog,
    RequestEvent,
    RetainedException,
    SystemOutcomeRecord,
    TreeHead,
    TreeHeadSigner,
)
from ledger.proof import deadline_state
from ledger.queries import AuditFilter, systems_done_at
from ledger.queries import list_requests as query_requests

from ..errors import ConfigError, LetheError
from ..keys import load_signing_key
from ..runtime import Reading
from .lookups import find_request

__all__ = [
    "IssuedCertificate",
    "RequestRecord",
    "SelectedRequests",
    "issue_certificate",
    "request_record",
    "select_requests",
]


@dataclass(frozen=True)
class RequestRecord:
    """A request, what each system did, what is kept and why, its events, and what of it the
    proof log holds."""

    request: ErasureRequestRecord
    outcomes: list[SystemOutcomeRecord]
    exceptions: list[RetainedException]
    events: list[RequestEvent]
    leaves: list[ProofLeaf]  # its receipts in the proof log
    unsealed: list[SystemOutcomeRecord]  # outcomes the log does not hold yet
    unsealed_events: list[RequestEvent]
    newest_head: TreeHead | None
    sealed: bool  # the log holds the request as it stands (a final status is final)

    @property
    def receipts_sealed(self) -> bool:
        """Something is sealed, and nothing recorded since waits to be."""
        return bool(self.leaves) and not self.unsealed and not self.unsealed_events

    @property
    def systems_done_at(self) -> datetime | None:
        """When the erasure itself was done (every system ended), or None while it is not:
        the answer can be on time while a failed system is erased by a retry weeks later."""
        return systems_done_at(self.outcomes)

    @property
    def erasure_deadline(self) -> str:
        """``met`` or ``missed`` against the due date (``open`` while not done)."""
        return deadline_state(self.request.due_at, self.systems_done_at)


async def request_record(reading: Reading, request_id: str) -> RequestRecord:
    rec = await find_request(reading.ledger, request_id)
    rid = rec.request_id
    log = ProofLog(reading.ledger)
    return RequestRecord(
        rec,
        await reading.ledger.outcomes(rid),
        await reading.ledger.exceptions(rid),
        await reading.ledger.events(rid),
        await log.leaves_of(rid),
        await log.unsealed_outcomes(rid),
        await log.unsealed_events(rid),
        await log.newest_head(),
        rid in await log.sealed_requests([rec]),
    )


@dataclass(frozen=True)
class SelectedRequests:
    requests: list[ErasureRequestRecord]
    sealed: set[str]  # the ids whose state the proof log holds


async def select_requests(reading: Reading, f: AuditFilter, *, limit: int) -> SelectedRequests:
    """Requests, newest first, as the filter selects them."""
    recs = await query_requests(reading.ledger, f, now=datetime.now(UTC), limit=limit)
    return SelectedRequests(recs, await ProofLog(reading.ledger).sealed_requests(recs))


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: dict[str, Any]
    #: What the request recorded since it was last sealed: not in this certificate yet.
    unsealed: Sequence[SystemOutcomeRecord]
    unsealed_events: Sequence[RequestEvent]


def _signer(reading: Reading) -> TreeHeadSigner | None:
    """The local signing key if this machine has one (certificates self-check with it)."""
    try:
        return TreeHeadSigner(load_signing_key(reading.settings.home, create=False))
    except ConfigError:
        return None


async def issue_certificate(reading: Reading, request_id: str) -> IssuedCertificate:
    """A certificate of erasure for a sealed request: its receipts, their inclusion proofs
    and a signed head; it shows the request as last sealed."""
    rec = await find_request(reading.ledger, request_id)
    log = ProofLog(reading.ledger, _signer(reading))
    try:
        cert = await log.certificate(rec.request_id, issued_at=datetime.now(UTC))
    except LedgerError as exc:
        raise LetheError(str(exc)) from None
    return IssuedCertificate(
        cert,
        await log.unsealed_outcomes(rec.request_id),
        await log.unsealed_events(rec.request_id),
    )
