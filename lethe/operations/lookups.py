"""Finding what an operator names: a request by its id, systems among those it may name."""

from __future__ import annotations

from collections.abc import Sequence

from ledger import ErasureRequestRecord, Ledger

from ..errors import LetheError, NotFoundError

__all__ = ["find_request", "systems_among"]


async def find_request(ledger: Ledger, request_id: str) -> ErasureRequestRecord:
    """The request with this id, or NotFoundError (exit 4) saying there is none."""
    rec = await ledger.get_request(request_id)
    if rec is None:
        raise NotFoundError(f"no erasure request with id {request_id!r}")
    return rec


def systems_among(chosen: Sequence[str], known: Sequence[str], *, what: str) -> list[str]:
    """``chosen``, each of which must be ``known`` (``what`` names them in the refusal)."""
    unknown = [s for s in chosen if s not in known]
    if unknown:
        listed = ", ".join(known) or "none"
        raise LetheError(f"unknown system {unknown[0]!r}: {what} are {listed}")
    return list(chosen)
