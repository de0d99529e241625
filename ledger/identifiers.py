"""Adding identifiers to a request that lacked them: what ``lethe retry --identifier`` seals.

A system whose rules need an identifier the request did not carry (a CRM keyed by customer
number, for a request that gave only the address) is recorded ``not_searched``. The operator
learns the identifier, adds it to the request's vault and retries that system: the next round
reads the vault as every round does and searches with it.

The identifiers are sealed again under a fresh data key (``SubjectVault.seal``) in the same
row, in one transaction with the event that says so. The event names the kinds added, never
their values. An identifier the request already holds with another value is refused: changing
what a request was made for is not adding to it.

Old row versions keep the previous ciphertext and wrapped key until the database reclaims
them, as after shredding (``ledger/shredding.py``): they hold fewer identifiers, not others.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .store import Ledger, LedgerError
from .tables import RequestEvent, SubjectVaultEntry
from .vault import VaultError

__all__ = ["add_identifiers"]


async def add_identifiers(
    ledger: Ledger,
    request_id: str,
    extra: Mapping[str, str],
    *,
    at: datetime,
    actor: str,
    detail: Mapping[str, object] | None = None,
) -> list[str]:
    """Seal ``extra`` (kind -> value) into the request's vault with what it holds, and record
    an ``identifiers_added`` event (the kinds, and ``detail``). Returns the kinds added: a
    kind already held with the same value is not added again (and no event is written when
    nothing is added). Raises :class:`LedgerError` for an unknown request, identifiers
    already shredded or sealed under another key, or a kind held with another value."""
    vault = ledger.vault
    if vault is None:
        raise LedgerError("this ledger was opened without the vault key")
    async with ledger.session() as s, s.begin():
        entry = await s.get(SubjectVaultEntry, request_id, with_for_update=True)
        if entry is None:
            raise LedgerError(f"no erasure request with id {request_id!r}")
        try:
            held = vault.open(request_id, entry.key_id, entry.wrapped_key, entry.ciphertext)
        except VaultError as exc:
            raise LedgerError(f"cannot add identifiers: {exc}") from None
        for kind, value in sorted(extra.items()):
            if kind in held and held[kind] != value:
                raise LedgerError(
                    f"{request_id} already holds a {kind}, with another value: an identifier is"
                    " added, never replaced (file a new request for other identifiers)"
                )
        added = sorted(kind for kind in extra if kind not in held)
        if not added:
            return []
        sealed = vault.seal(request_id, {**held, **{kind: extra[kind] for kind in added}})
        entry.key_id = sealed.key_id
        entry.wrapped_key = sealed.wrapped_key
        entry.ciphertext = sealed.ciphertext
        s.add(
            RequestEvent(
                request_id=request_id,
                at=at,
                kind="identifiers_added",
                actor=actor[:120],
                detail={**(detail or {}), "kinds": added},
            )
        )
    return added
