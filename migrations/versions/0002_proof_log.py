"""Proof log: receipts and signed tree heads; indexes for auditors' queries.

Revision ID: 0002_proof_log
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_proof_log"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proof_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_proof_nodes")),
    )
    op.create_table(
        "signed_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("compact_range", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_signed_tree_heads")),
    )
    op.create_table(
        "proof_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=100), nullable=False),
        sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"],
            ["system_outcomes.id"],
            name=op.f("fk_proof_leaves_outcome_id_system_outcomes"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_proof_leaves_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_proof_leaves")),
    )
    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proof_leaves_outcome_id"), ["outcome_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_proof_leaves_request_id"), ["request_id"], unique=False
        )

    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_erasure_requests_jurisdiction_received",
            ["jurisdiction", "received_at"],
            unique=False,
        )

    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_retained_exceptions_open_until",
            ["state", "retained_until", "request_id"],
            unique=False,
        )

    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_system_outcomes_outcome_request", ["outcome", "request_id"], unique=False
        )
        batch_op.create_index(
            "ix_system_outcomes_system_outcome_request",
            ["system", "outcome", "request_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_system_outcomes_system_outcome_request")
        batch_op.drop_index("ix_system_outcomes_outcome_request")

    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_retained_exceptions_open_until")

    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_erasure_requests_jurisdiction_received")

    with op.batch_alter_table("proof_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_leaves_request_id"))
        batch_op.drop_index(batch_op.f("ix_proof_leaves_outcome_id"))

    op.drop_table("proof_leaves")
    op.drop_table("signed_tree_heads")
    op.drop_table("proof_nodes")
