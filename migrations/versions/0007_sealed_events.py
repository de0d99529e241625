"""The proof log seals a request's events too: each event receipt names its event.

``proof_leaves.event_id`` says which ``request_events`` row a ``request_event`` receipt seals,
so sealing appends only events never sealed, and ``lethe audit verify --log`` compares each
event with its receipt. No foreign key: an event deleted after sealing must leave its receipt
pointing at it (the check names it), not be refused or cascade. Rows sealed before this
revision have no event receipts; the next seal of their request appends them.

A receipt names no one: it holds a salted commitment to the event's actor and detail, and
``request_events.seal_salt`` keeps the salt (drawn when the event is first sealed), so the
text can be checked against the log while it is kept, and dropped later with its salt.

Revision ID: 0007_sealed_events
Revises: 0006_exceptions_review
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sealed_events"
down_revision = "0006_exceptions_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_proof_leaves_event_id"), ["event_id"], unique=False)
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal_salt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_column("seal_salt")
    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_leaves_event_id"))
        batch_op.drop_column("event_id")
