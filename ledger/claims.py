"""One open request per person, held by the database, not by a look before the write.

``erasure_requests.open_subject_ref`` is the request's pseudonym from receipt until the
request is answered (``completed_at`` is set: completed, partially failed, rejected,
cancelled...), and NULL after. The column is unique, so of any number of submissions racing
for one person exactly one inserts its row (``Ledger.open_request``); the others roll back
whole (no vault entry, no event) and learn which request holds the claim. A plain nullable
unique column, not a partial index: the same on SQLite, PostgreSQL and MySQL/MariaDB, all
of which let NULLs repeat.

An operator's deliberate second request (``lethe submit --allow-duplicate``) takes the claim
if it is free, and otherwise holds none. When the holder is answered its claim passes to the
oldest other open request of the person, if any, in the same transaction: while any request
of a person is open, a plain submission for them is refused.

A later round of an answered request (``lethe retry``, the retention sweeper, a controller's
late instruction) does not claim again: the person's request was answered, and a new request
of theirs is a new request. Only the request's own answer releases the claim, and a request
withdrawn at intake takes its claim with its row.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import ErasureRequestRecord

__all__ = ["claim_holder", "release_claim"]

R = ErasureRequestRecord


async def claim_holder(s: AsyncSession, subject_ref: str) -> ErasureRequestRecord | None:
    """The request holding the person's claim, if one does."""
    q = sa.select(R).where(R.open_subject_ref == subject_ref)
    return (await s.scalars(q)).first()


async def release_claim(s: AsyncSession, request_id: str, subject_ref: str) -> None:
    """The request is answered: drop its claim and pass it to the person's oldest other open
    request, if any. Statements, not attribute changes, so that what another transaction
    committed since this one read the rows is what they act on."""
    released = await s.execute(
        sa.update(R)
        .where(R.request_id == request_id, R.open_subject_ref.is_not(None))
        .values(open_subject_ref=None)
        .execution_options(synchronize_session=False)
    )
    if cast(Any, released).rowcount != 1:
        return  # it held none (filed as a duplicate while another held it)
    heirs = await s.scalars(
        sa.select(R.request_id)
        .where(
            R.subject_ref == subject_ref,
            R.completed_at.is_(None),
            R.request_id != request_id,
        )
        .order_by(R.received_at, R.request_id)
        .limit(5)
    )
    for heir in heirs.all():
        taken = await s.execute(
            sa.update(R)
            .where(R.request_id == heir, R.completed_at.is_(None), R.open_subject_ref.is_(None))
            .values(open_subject_ref=subject_ref)
            .execution_options(synchronize_session=False)
        )
        if cast(Any, taken).rowcount == 1:
            return
