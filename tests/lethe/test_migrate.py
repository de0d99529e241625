"""``lethe migrate``: the one command that changes the ledger's schema, under a lock so that
replicas starting together cannot race; every other command refuses a schema that is behind
(saying to run it) or newer than it knows."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import migrations
from ledger import MIGRATION_LOCK_KEY, create_ledger_engine, upgrade_schema
from tests.conftest import MARIADB_URL, postgres_database, require_service
from tests.support.cli import LETHE, lethe, one_line_error

from .test_cli import CONFIG


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env["LETHE_DATABASE_URL"] = url
    return env


async def _migrate_program(url: str, cwd: Path) -> tuple[int, dict[str, object], str]:
    proc = await asyncio.create_subprocess_exec(
        LETHE, "migrate", "--json",
        env=_env(url), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, json.loads(out) if out.strip() else {}, err.decode()


async def _versions(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars()
            )
    finally:
        await engine.dispose()


@asynccontextmanager
async def mariadb_database() -> AsyncIterator[str]:
    require_service("MariaDB", "127.0.0.1", 3306)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(MARIADB_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield MARIADB_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        await admin.dispose()


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "postgresql":
        async with postgres_database() as url:
            yield url
    elif backend == "mariadb":
        async with mariadb_database() as url:
            yield url
    else:  # an SQLite ledger exists (as `lethe init` leaves it) but has no schema yet
        path = tmp_path / "ledger.db"
        sqlite3.connect(path).close()
        yield f"sqlite+aiosqlite:///{path}"


# Each case runs two `lethe migrate` processes; the quick lane keeps SQLite's, make test all three.
@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.slow),
        pytest.param("mariadb", marks=pytest.mark.slow),
        "sqlite",
    ],
)
async def test_two_migrations_at_once_apply_the_schema_once(backend: str, tmp_path: Path) -> None:
    """Two replicas run ``lethe migrate`` together on a fresh database: both exit 0, the
    schema is at the head with one version row, and exactly one of them migrated."""
    async with fresh_database(backend, tmp_path) as url:
        results = await asyncio.gather(*(_migrate_program(url, tmp_path) for _ in range(2)))
        for status, _, err in results:
            assert status == 0, err
        said = [report for _, report, _ in results]
        assert sorted(bool(r["migrated"]) for r in said) == [False, True], said
        assert all(r["after"] == [migrations.HEAD] for r in said)
        assert await _versions(url) == [migrations.HEAD]
        again = await _migrate_program(url, tmp_path)
        assert again[0] == 0 and again[1]["migrated"] is False


async def test_a_migration_waits_for_the_postgresql_advisory_lock(tmp_path: Path) -> None:
    """While another session holds the lock, ``lethe migrate`` waits on it and changes
    nothing; once released, it migrates."""
    async with postgres_database() as url:
        holder = create_async_engine(url)
        try:
            async with holder.connect() as conn:
                await conn.execute(
                    sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
                await conn.commit()
                task = asyncio.create_task(_migrate_program(url, tmp_path))
                waiting = 0
                for _ in range(600):  # until the migration is seen waiting on the lock
                    waiting = (
                        await conn.execute(
                            sa.text(
                                # this database's: a test running beside it may wait on
                                # the same key in its own database
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                " AND NOT granted AND database = (SELECT oid FROM pg_database"
                                " WHERE datname = current_database())"
                            )
                        )
                    ).scalar_one()
                    await conn.commit()
                    if waiting or task.done():
                        break
                    await asyncio.sleep(0.1)
                assert waiting == 1 and not task.done()
                has_table = await conn.run_sync(
                    lambda c: sa.inspect(c).has_table("alembic_version")
                )
                assert not has_table  # nothing was created while it waited
                await conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
                await conn.commit()
            status, report, err = await task
        finally:
            await holder.dispose()
        assert status == 0, err
        assert report["migrated"] is True and await _versions(url) == [migrations.HEAD]


def _set_revision(home: Path, revision: str) -> None:
    with sqlite3.connect(home / "lethe.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def _revision(home: Path) -> str:
    with sqlite3.connect(home / "lethe.db") as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


@pytest.mark.parametrize(
    "args",
    [
        ("submit", "ada@example.org", "--verification", "operator"),
        ("approve", "er-1", "--reason", "called back"),
        ("worker",),
        ("list",),
        ("hold", "list"),
    ],
)
def test_a_command_against_an_older_schema_refuses_and_says_to_migrate(
    lethe_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    _set_revision(lethe_home, "0009_idempotent_writes")
    assert lethe(*args) == 78
    err = one_line_error(capsys)
    assert "has schema 0009_idempotent_writes" in err and "run `lethe migrate`" in err
    assert _revision(lethe_home) == "0009_idempotent_writes"  # no command but migrate migrates


def test_migrate_then_the_commands_run(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def older() -> None:
        (lethe_home / "lethe.db").unlink()
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{lethe_home / 'lethe.db'}")
        await upgrade_schema(engine, "0008_key_ids")
        await engine.dispose()

    asyncio.run(older())
    assert lethe("list") == 78
    assert "run `lethe migrate`" in one_line_error(capsys)
    assert lethe("migrate") == 0
    out = capsys.readouterr().out
    assert f"migrated 0008_key_ids -> {migrations.HEAD}" in out
    assert _revision(lethe_home) == migrations.HEAD
    assert lethe("migrate", "--json") == 0
    assert json.loads(capsys.readouterr().out)["migrated"] is False
    assert lethe("list") == 0


def test_a_schema_newer_than_this_lethe_is_refused_by_every_command(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_revision(lethe_home, "0099_from_a_newer_lethe")
    for args in (("migrate",), ("worker",), ("init",), ("list",), ("audit", "list")):
        assert lethe(*args) == 78, args
        err = one_line_error(capsys)
        assert "0099_from_a_newer_lethe, newer than this Lethe knows" in err, args
    assert _revision(lethe_home) == "0099_from_a_newer_lethe"


def test_migrate_makes_no_sqlite_ledger(
    bare_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("migrate") == 78
    assert "run `lethe init`" in one_line_error(capsys)
    assert not bare_home.exists()


def test_migrate_on_an_unreachable_database_says_so(
    bare_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_DATABASE_URL", "postgresql+asyncpg://nobody:secret@127.0.0.1:9/x")
    assert lethe("migrate") != 0
    err = one_line_error(capsys)
    assert "cannot open the ledger database" in err and "secret" not in err
