"""Initial ledger: requests, subject vault, system outcomes, retained exceptions, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_requests",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("subject_ref", sa.String(length=80), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("verification_method", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("systems", sa.JSON(), nullable=False),
        sa.Column("workflow_id", sa.String(length=120), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_erasure_requests")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_erasure_requests_workflow_id")),
    )
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_requests_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_erasure_requests_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_erasure_requests_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_erasure_requests_subject_ref"), ["subject_ref"], unique=False
        )

    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_request_events_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_events_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "subject_vault",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_subject_vault_request_id_erasure_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_subject_vault")),
    )
    op.create_table(
        "system_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=120), nullable=False),
        sa.Column("connector_version", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("retained_counts", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=True),
        sa.Column("basis_note", sa.String(length=1000), nullable=True),
        sa.Column("retained_until", sa.Date(), nullable=True),
        sa.Column("review_on", sa.Date(), nullable=True),
        sa.Column("ticket", sa.String(length=200), nullable=True),
        sa.Column("controller", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("residual", sa.JSON(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_system_outcomes_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_outcomes")),
        sa.UniqueConstraint(
            "request_id", "system", "round", name=op.f("uq_system_outcomes_request_id")
        ),
    )
    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_outcomes_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_system_outcomes_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_system_outcomes_system"), ["system"], unique=False)

    op.create_table(
        "retained_exceptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("basis_note", sa.String(length=1000), nullable=False),
        sa.Column("retained_until", sa.Date(), nullable=True),
        sa.Column("review_on", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["outcome_id"],
            ["system_outcomes.id"],
            name=op.f("fk_retained_exceptions_outcome_id_system_outcomes"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_retained_exceptions_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retained_exceptions")),
    )
    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retained_exceptions_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_retained_exceptions_retained_until"), ["retained_until"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_retained_exceptions_review_on"), ["review_on"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_retained_exceptions_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retained_exceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retained_exceptions_state"))
        batch_op.drop_index(batch_op.f("ix_retained_exceptions_review_on"))
        batch_op.drop_index(batch_op.f("ix_retained_exceptions_retained_until"))
        batch_op.drop_index(batch_op.f("ix_retained_exceptions_request_id"))

    op.drop_table("retained_exceptions")
    with op.batch_alter_table("system_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_outcomes_system"))
        batch_op.drop_index(batch_op.f("ix_system_outcomes_request_id"))
        batch_op.drop_index(batch_op.f("ix_system_outcomes_outcome"))

    op.drop_table("system_outcomes")
    op.drop_table("subject_vault")
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_events_request_id"))

    op.drop_table("request_events")
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_requests_subject_ref"))
        batch_op.drop_index(batch_op.f("ix_erasure_requests_status"))
        batch_op.drop_index(batch_op.f("ix_erasure_requests_received_at"))
        batch_op.drop_index(batch_op.f("ix_erasure_requests_due_at"))

    op.drop_table("erasure_requests")
