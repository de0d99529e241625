"""The HTTP API's clients, as an engineer manages them: add one (its token shown once), list
them, revoke one (``lethe api-client``); and who a token belongs to (``lethe serve``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from ledger import LedgerError
from ledger.api_clients import SCOPES, ApiClients, IssuedClient
from ledger.tables import ApiClientRecord

from ..errors import LetheError, NotFoundError
from ..runtime import Runtime

__all__ = ["SCOPES", "add_client", "list_clients", "revoke_client"]

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


async def add_client(
    rt: Runtime, name: str, scopes: Sequence[str], created_by: str
) -> IssuedClient:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise LetheError(
            f"API client name {name!r}: lower-case letters, digits, '.', '-' or '_' (at most 64)"
        )
    if not scopes:
        raise LetheError(f"give at least one --scope ({', '.join(SCOPES)})")
    for scope in scopes:
        if scope not in SCOPES:
            raise LetheError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    try:
        return await ApiClients(rt.ledger).add(
            name, scopes, at=datetime.now(UTC), created_by=created_by
        )
    except LedgerError as exc:
        raise LetheError(str(exc)) from None


async def list_clients(rt: Runtime) -> list[ApiClientRecord]:
    return await ApiClients(rt.ledger).list()


async def revoke_client(rt: Runtime, name_or_id: str) -> ApiClientRecord:
    row = await ApiClients(rt.ledger).revoke(name_or_id.strip(), at=datetime.now(UTC))
    if row is None:
        raise NotFoundError(f"no API client {name_or_id.strip()!r}: see lethe api-client list")
    return row
