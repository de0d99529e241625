"""Legal holds, later erasure rounds, controller referrals.

New tables only; 0001's tables are unchanged.

Revision ID: 0003_holds_referrals
Revises: 0002_proof_log
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_holds_referrals"
down_revision = "0002_proof_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.Column("subject_ref", sa.String(length=80), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("systems", sa.JSON(), nullable=True),
        sa.Column("retained_until", sa.Date(), nullable=True),
        sa.Column("review_on", sa.Date(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=120), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=120), nullable=True),
        sa.Column("release_reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legal_holds_released_at"), ["released_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_legal_holds_subject_ref"), ["subject_ref"], unique=False
        )

    op.create_table(
        "controller_referrals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("controller", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_reason", sa.String(length=1000), nullable=True),
        sa.Column("instruction", sa.String(length=8), nullable=True),
        sa.Column("instructed_by", sa.String(length=120), nullable=True),
        sa.Column("instruction_reason", sa.String(length=1000), nullable=True),
        sa.Column("instructed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_controller_referrals_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_referrals")),
        sa.UniqueConstraint(
            "request_id", "system", "round", name=op.f("uq_controller_referrals_request_id")
        ),
    )
    with op.batch_alter_table("controller_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_controller_referrals_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_controller_referrals_state"), ["state"], unique=False)

    op.create_table(
        "erasure_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("exception_id", sa.Integer(), nullable=True),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["retained_exceptions.id"],
            name=op.f("fk_erasure_rounds_exception_id_retained_exceptions"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_erasure_rounds_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_rounds")),
        sa.UniqueConstraint(
            "request_id", "system", "round", name=op.f("uq_erasure_rounds_request_id")
        ),
    )
    with op.batch_alter_table("erasure_rounds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_rounds_finished_at"), ["finished_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_erasure_rounds_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "hold_retentions",
        sa.Column("exception_id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["retained_exceptions.id"],
            name=op.f("fk_hold_retentions_exception_id_retained_exceptions"),
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["legal_holds.hold_id"],
            name=op.f("fk_hold_retentions_hold_id_legal_holds"),
        ),
        sa.PrimaryKeyConstraint("exception_id", name=op.f("pk_hold_retentions")),
    )
    with op.batch_alter_table("hold_retentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hold_retentions_hold_id"), ["hold_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hold_retentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hold_retentions_hold_id"))

    op.drop_table("hold_retentions")
    with op.batch_alter_table("erasure_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_rounds_request_id"))
        batch_op.drop_index(batch_op.f("ix_erasure_rounds_finished_at"))

    op.drop_table("erasure_rounds")
    with op.batch_alter_table("controller_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_controller_referrals_state"))
        batch_op.drop_index(batch_op.f("ix_controller_referrals_request_id"))

    op.drop_table("controller_referrals")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_subject_ref"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_released_at"))

    op.drop_table("legal_holds")
