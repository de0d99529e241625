"""The connectors' receipt journal (``ledger.journal``).

``connector_journal``: what a connector of a system without transactions (an HTTP API) is
about to change and, afterwards, what it changed, by request, system and the erase's
idempotency key; a repeat after a worker died reads it and reports what the first attempt did,
instead of "nothing left". A new table: nothing before this revision is touched.

Revision ID: 0010_connector_journal
Revises: 0009_idempotent_writes
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_connector_journal"
down_revision = "0009_idempotent_writes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_connector_journal_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_journal")),
        sa.UniqueConstraint(
            "request_id", "system", "key", name=op.f("uq_connector_journal_request_id")
        ),
    )
    with op.batch_alter_table("connector_journal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connector_journal_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("connector_journal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_journal_request_id"))
    op.drop_table("connector_journal")
