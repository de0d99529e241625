"""The codec server's decodes not tied to a request (``ledger.tables.PayloadDecode``).

``payload_decodes``: who decoded payloads bound to no request's workflow (the retention
sweep's, schedules', what a UI encoded itself), when, which workflow if any, how many. A new
table: nothing before this revision is touched.

Revision ID: 0012_payload_decodes
Revises: 0011_api_clients
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_payload_decodes"
down_revision = "0011_api_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payload_decodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("workflow_id", sa.String(length=255), nullable=True),
        sa.Column("payloads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payload_decodes")),
    )


def downgrade() -> None:
    op.drop_table("payload_decodes")
