"""The HTTP API's clients, requesters' status tokens and idempotency keys (``ledger.api_clients``).

``api_clients``: who may call ``lethe serve`` and with which scopes, the token kept as its
SHA-256 digest. ``request_access``: the digest of each request's status token.
``api_idempotency_keys``: a client's Idempotency-Key and the request it created. New tables:
nothing before this revision is touched.

Revision ID: 0011_api_clients
Revises: 0010_connector_journal
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_api_clients"
down_revision = "0010_connector_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_clients_token_hash")),
    )
    op.create_table(
        "request_access",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_request_access_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_access")),
    )
    op.create_table(
        "api_idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.request_id"],
            name=op.f("fk_api_idempotency_keys_request_id_erasure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_keys")),
        sa.UniqueConstraint("client_id", "key", name=op.f("uq_api_idempotency_keys_client_id")),
    )


def downgrade() -> None:
    op.drop_table("api_idempotency_keys")
    op.drop_table("request_access")
    op.drop_table("api_clients")
