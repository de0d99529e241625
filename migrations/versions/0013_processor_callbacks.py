"""Processors' status callbacks (``ledger.processor_callbacks``): every callback ``lethe serve``
received for a ``webhook`` system, accepted or refused and why, and the Standard Webhooks
message ids already accepted (a replay is refused). A new table: nothing before this revision
is touched.

Revision ID: 0013_processor_callbacks
Revises: 0012_payload_decodes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_processor_callbacks"
down_revision = "0012_payload_decodes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processor_callbacks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("accepted_id", sa.String(length=200), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_callbacks")),
        sa.UniqueConstraint("system", "accepted_id", name=op.f("uq_processor_callbacks_system")),
    )


def downgrade() -> None:
    op.drop_table("processor_callbacks")
