"""Auditors' outcome filters read each system's latest round: the covering indexes carry it.

``lethe audit list --outcome X`` selects what stands now (a system failed in round 0 and
erased by a retry did not fail); the check for a later round needs the round from the index,
not from the row.

Revision ID: 0005_audit_latest_round
Revises: 0004_verification_deadlines
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0005_audit_latest_round"
down_revision = "0004_verification_deadlines"
branch_labels = None
depends_on = None

#: name: (columns before, columns after)
_INDEXES = {
    "ix_system_outcomes_outcome_request": (
        ["outcome", "request_id"],
        ["outcome", "request_id", "system", "round"],
    ),
    "ix_system_outcomes_system_outcome_request": (
        ["system", "outcome", "request_id"],
        ["system", "outcome", "request_id", "round"],
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        for name, (_, after) in _INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, after, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        for name, (before, _) in _INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, before, unique=False)
