"""Idempotent ledger writes, and one open request per person, held by the database.

``request_events.write_key``: what makes an event's write that write (what the event is, such
as ``answer`` or ``outcome/crm/0``, or which activity wrote it), unique per request, so a
retried write finds its event and appends nothing (``ledger.write_keys``). Events written
before this revision have none: each stays as it was.

``proof_leaves.event_id`` becomes unique: an event is sealed once.

``erasure_requests.open_subject_ref``: the request's pseudonym while it is open, NULL once it
is answered; unique, so one request per person holds it (``ledger.claims``). A plain nullable
unique column, not a partial index: the same rule on SQLite, PostgreSQL and MySQL/MariaDB.
Requests open at upgrade: the oldest open request of each person takes the claim (two open
requests of one person, filed before this revision, are both left open: the newer one
holds no claim, as a request filed with ``--allow-duplicate`` does).

Revision ID: 0009_idempotent_writes
Revises: 0007_sealed_events
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_idempotent_writes"
down_revision = "0008_key_ids"
branch_labels = None
depends_on = None

_requests = sa.table(
    "erasure_requests",
    sa.column("request_id", sa.String),
    sa.column("subject_ref", sa.String),
    sa.column("open_subject_ref", sa.String),
    sa.column("received_at", sa.DateTime),
    sa.column("completed_at", sa.DateTime),
)


def _claim_open_requests() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_requests.c.request_id, _requests.c.subject_ref)
        .where(_requests.c.completed_at.is_(None))
        .order_by(_requests.c.received_at, _requests.c.request_id)
    ).all()
    claimed: set[str] = set()
    for request_id, subject_ref in rows:
        if subject_ref in claimed:
            continue
        claimed.add(subject_ref)
        bind.execute(
            sa.update(_requests)
            .where(_requests.c.request_id == request_id)
            .values(open_subject_ref=subject_ref)
        )


def upgrade() -> None:
    # Unique indexes, not constraints: created in place on every backend (SQLite would
    # rebuild a table for a constraint, and erasure_requests is referenced by every other).
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("write_key", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "uq_request_events_write_key", ["request_id", "write_key"], unique=True
        )
    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_leaves_event_id"))
        batch_op.create_index(batch_op.f("ix_proof_leaves_event_id"), ["event_id"], unique=True)
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_subject_ref", sa.String(length=80), nullable=True))
    _claim_open_requests()
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_requests_open_subject_ref"), ["open_subject_ref"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_requests_open_subject_ref"))
    # In place (SQLite 3.35+ drops a column itself): a rebuilt erasure_requests would have
    # to be dropped while every other table refers to it.
    with op.batch_alter_table("erasure_requests", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("open_subject_ref")
    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_leaves_event_id"))
        batch_op.create_index(batch_op.f("ix_proof_leaves_event_id"), ["event_id"], unique=False)
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index("uq_request_events_write_key")
        batch_op.drop_column("write_key")
