"""The migration builds exactly the schema the models describe, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger import Ledger, RequestEvent, schema_is_current, upgrade_schema
from ledger.database import alembic_config
from ledger.tables import Base, UTCDateTime
from ledger.tables import ErasureRequestRecord as R


async def test_migrations_match_models_and_are_idempotent(ledger: Ledger) -> None:
    await upgrade_schema(ledger.engine)  # second time: nothing to do
    assert await schema_is_current(ledger.engine)

    def diff(conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with ledger.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_upgrading_gives_each_person_one_claim_and_keys_nothing_old(ledger: Ledger) -> None:
    """0009 on a ledger with open requests: the oldest open request of each person claims
    them (a second one, filed before, stays open and unclaimed); answered requests claim
    nothing; old events keep no key (their doubles stay as they were). Down and up again."""
    await downgrade_schema(ledger, "0008_key_ids")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        ("er-a", "ps_1", at, None),
        ("er-b", "ps_1", at + timedelta(days=1), None),
        ("er-c", "ps_2", at, at + timedelta(days=2)),
        ("er-d", "ps_2", at + timedelta(days=3), None),
    ]
    when, text = UTCDateTime(), sa.String()
    requests = sa.table(
        "erasure_requests",
        *(sa.column(c, text) for c in ("request_id", "subject_ref", "jurisdiction", "status")),
        *(sa.column(c, text) for c in ("verification_method", "channel", "workflow_id")),
        *(sa.column(c, when) for c in ("received_at", "due_at", "completed_at")),
        sa.column("systems", sa.JSON()),
    )
    events = sa.table(
        "request_events",
        *(sa.column(c, text) for c in ("request_id", "kind", "actor")),
        sa.column("at", when),
        sa.column("detail", sa.JSON()),
    )
    async with ledger.engine.begin() as conn:
        for rid, ref, received, completed in rows:
            await conn.execute(
                requests.insert().values(
                    request_id=rid,
                    subject_ref=ref,
                    jurisdiction="gdpr",
                    verification_method="operator",
                    channel="cli",
                    status="completed" if completed else "received",
                    systems=[],
                    workflow_id=f"erasure/{rid}",
                    received_at=received,
                    due_at=received + timedelta(days=30),
                    completed_at=completed,
                )
            )
            for _ in range(2):  # the doubled events of a retried write, from before
                await conn.execute(
                    events.insert().values(
                        request_id=rid, at=received, kind="received", actor="t", detail={}
                    )
                )
    await upgrade_schema(ledger.engine)
    async with ledger.session() as s:
        claims = dict((await s.execute(sa.select(R.request_id, R.open_subject_ref))).all())
        keys = set((await s.scalars(sa.select(RequestEvent.write_key))).all())
    assert claims == {"er-a": "ps_1", "er-b": None, "er-c": None, "er-d": "ps_2"}
    assert keys == {None}

    await downgrade_schema(ledger, "0008_key_ids")
    await upgrade_schema(ledger.engine)
    assert await schema_is_current(ledger.engine)


async def downgrade_schema(ledger: Ledger, revision: str) -> None:
    def run(conn: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with ledger.engine.begin() as conn:
        await conn.run_sync(run)
