"""The ledger on MariaDB: the store, its write keys, request statuses and the proof log, by
the same tests that hold them on SQLite and PostgreSQL (imported below and run here against a
MariaDB ledger).

They run in a module of their own, on one database migrated once and emptied before each
test, because migrating MariaDB for every test of the ledger would double the suite's time.
It caught a driver pairing that could store nothing: aiomysql 0.3.2 with PyMySQL 1.2, where
every bytes value (each vault entry) failed to bind; the ``mysql`` extra now keeps PyMySQL
below 1.2.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ledger import Ledger, SubjectVault, create_ledger_engine, upgrade_schema
from lethe.keys import Keyring
from tests.conftest import MARIADB_URL, require_service

# The tests of the other backends, collected again here with this module's `ledger`.
from tests.ledger.test_proof_log import (  # noqa: F401
    proof_log,
    test_a_refusal_is_sealed_and_certified_too,
    test_sealing_appends_each_final_outcome_once,
)
from tests.ledger.test_request_status import (  # noqa: F401
    test_a_refused_request_keeps_its_refusal,
    test_a_round_after_the_answer_settles_it_again,
)
from tests.ledger.test_store import (  # noqa: F401
    test_request_round_trip_keeps_utc,
    test_system_lifecycle_and_replay,
    test_the_ledger_holds_no_plaintext_identifier,
    test_withdraw_removes_everything,
)
from tests.ledger.test_write_keys import (  # noqa: F401
    test_a_request_whose_writes_were_retried_seals_each_event_once,
    test_racing_attempts_of_one_check_count_once,
    test_status_changes_and_the_answer_are_written_once,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def mariadb_ledger_url() -> Iterator[str]:
    """A MariaDB database of its own, migrated once for this module, dropped after it."""
    require_service("MariaDB", "127.0.0.1", 3306)
    name = f"t_ledger_{uuid.uuid4().hex[:12]}"
    url = MARIADB_URL.rsplit("/", 1)[0] + f"/{name}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(MARIADB_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    async def migrate() -> None:
        engine = create_ledger_engine(url)
        try:
            await upgrade_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        asyncio.run(migrate())
        yield url
    finally:
        asyncio.run(admin(f"DROP DATABASE {name}"))


@pytest.fixture
async def ledger(mariadb_ledger_url: str, keys: Keyring) -> AsyncIterator[Ledger]:
    """The migrated MariaDB ledger with no rows in it."""
    engine = create_ledger_engine(mariadb_ledger_url)
    async with engine.begin() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        await conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in tables:
            if table != "alembic_version":
                await conn.execute(sa.text(f"DELETE FROM `{table}`"))
        await conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))
    ledger = Ledger(engine, SubjectVault(keys.vault))
    try:
        yield ledger
    finally:
        await ledger.dispose()
