"""Auditors' "exceptions expiring before DATE" counts an exception with no end date by its
review date: the covering index carries it.

Revision ID: 0006_exceptions_review
Revises: 0005_audit_latest_round
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006_exceptions_review"
down_revision = "0005_audit_latest_round"
branch_labels = None
depends_on = None

_NAME = "ix_retained_exceptions_open_until"
_BEFORE = ["state", "retained_until", "request_id"]
_AFTER = ["state", "retained_until", "request_id", "review_on"]


def upgrade() -> None:
    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.drop_index(_NAME)
        batch_op.create_index(_NAME, _AFTER, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.drop_index(_NAME)
        batch_op.create_index(_NAME, _BEFORE, unique=False)
