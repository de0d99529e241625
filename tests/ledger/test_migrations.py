"""The migration builds exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger import Ledger, schema_is_current, upgrade_schema
from ledger.models import Base


async def test_migrations_match_models_and_are_idempotent(ledger: Ledger) -> None:
    await upgrade_schema(ledger.engine)  # second time: nothing to do
    assert await schema_is_current(ledger.engine)

    def diff(conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with ledger.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
