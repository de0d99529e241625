"""The PostgreSQL roles and grants of docs/production.md, on a real PostgreSQL: the owner runs
``lethe migrate``; the worker role records and reads (and needs no DDL: nothing but migrate
changes the schema); the auditor role reads, and a write under it is refused in one line."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_URL, require_service
from tests.support.cli import lethe, one_line_error

from .test_cli import CONFIG

ROOT = Path(__file__).resolve().parents[2]


def documented_grants() -> str:
    """The SQL block of docs/production.md's "PostgreSQL roles and grants"."""
    text = (ROOT / "docs" / "production.md").read_text()
    section = text.split("## PostgreSQL roles and grants", 1)[1]
    return section.split("```sql", 1)[1].split("```", 1)[0]


@pytest.fixture
def roles() -> Iterator[dict[str, str]]:
    """The documented roles and database, under names of their own; dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    tag = uuid.uuid4().hex[:8]
    names = {n: f"{n}_{tag}" for n in ("lethe_owner", "lethe_worker", "lethe_auditor")}
    database = f"lethe_{tag}"
    sql = documented_grants()
    for plain, unique in names.items():
        sql = re.sub(rf"\b{plain}\b", unique, sql)
    sql = sql.replace("PASSWORD '…'", "").replace("DATABASE lethe ", f"DATABASE {database} ")
    before, after = sql.split("\\c lethe", 1)

    async def run(url: str, statements: str) -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in filter(str.strip, statements.split(";")):
                    lines = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
                    if "".join(lines).strip():
                        await conn.execute(sa.text("\n".join(lines)))
        finally:
            await engine.dispose()

    server = POSTGRES_URL.rsplit("/", 1)[0]
    asyncio.run(run(POSTGRES_URL, before))
    asyncio.run(run(f"{server}/{database}", after))
    urls = {
        plain: f"postgresql+asyncpg://{unique}@127.0.0.1:5432/{database}"
        for plain, unique in names.items()
    }
    try:
        yield urls
    finally:
        asyncio.run(
            run(
                POSTGRES_URL,
                f'DROP DATABASE "{database}" WITH (FORCE);'
                + "".join(f'DROP ROLE "{u}";' for u in names.values()),
            )
        )


def test_the_documented_grants_are_enough_and_no_more(
    roles: dict[str, str],
    bare_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")

    monkeypatch.setenv("LETHE_DATABASE_URL", roles["lethe_worker"])
    assert lethe("migrate") != 0  # the worker's role may not create the schema
    assert "permission denied for schema public" in one_line_error(capsys)

    monkeypatch.setenv("LETHE_DATABASE_URL", roles["lethe_owner"])
    assert lethe("migrate") == 0
    assert "migrated" in capsys.readouterr().out

    monkeypatch.setenv("LETHE_DATABASE_URL", roles["lethe_worker"])
    assert lethe("init") == 0  # keys made here; their ids recorded in the ledger (a write)
    capsys.readouterr()
    assert lethe("hold", "add", "--subject", "ada@example.org", "--reason", "case 7") == 0
    assert lethe("hold", "list", "--json") == 0
    assert "case 7" in capsys.readouterr().out

    monkeypatch.setenv("LETHE_DATABASE_URL", roles["lethe_auditor"])
    assert lethe("audit", "list") == 0
    capsys.readouterr()
    assert lethe("hold", "add", "--subject", "grace@example.org", "--reason", "case 8") != 0
    err = one_line_error(capsys)
    assert "permission denied" in err.lower()
