"""The ledger records the ids of the keys it was created with (``ledger_keys``).

One row per purpose (vault, pseudonym, payload): the key's id (``ledger.vault.key_id_of``),
never the key. A worker or command holding another key refuses to start. A ledger migrated
here has no rows yet: the first command that opens it for writing records its keys.

Revision ID: 0008_key_ids
Revises: 0007_sealed_events
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_key_ids"
down_revision = "0007_sealed_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_keys",
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_ledger_keys")),
    )


def downgrade() -> None:
    op.drop_table("ledger_keys")
