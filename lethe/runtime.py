"""Shared wiring for the CLI, the worker and the demo: settings → keys → ledger → client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError, OperationalError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from connectors import ConnectorConfigError, ConnectorRegistry
from ledger import (
    Ledger,
    SubjectVault,
    create_ledger_engine,
    schema_revisions,
    upgrade_schema,
)

from .errors import ConfigError, UnreachableError
from .keys import Keyring, load_keyring
from .settings import Settings
from .temporal import connect

__all__ = [
    "Runtime",
    "connect_when_ready",
    "load_registry",
    "open_existing_ledger",
    "open_ledger",
]


def load_registry() -> ConnectorRegistry:
    try:
        return ConnectorRegistry.from_entry_points()
    except ConnectorConfigError as exc:
        raise ConfigError(str(exc)) from None


async def open_ledger(settings: Settings, keys: Keyring, *, migrate: bool = True) -> Ledger:
    """The ledger, its schema brought up to date (idempotent)."""
    try:
        engine = create_ledger_engine(settings.database_url)
    except (ImportError, InvalidRequestError, ArgumentError) as exc:
        # A sync driver (postgresql://, sqlite:///) or one that is not installed: the URL is
        # wrong, not Lethe. Name the driver only: the URL may hold a password.
        raise ConfigError(
            f"the ledger database URL needs an installed async driver, not "
            f"{make_url(settings.database_url).drivername!r} ({str(exc).splitlines()[0]}): "
            "use postgresql+asyncpg://, mysql+aiomysql:// or sqlite+aiosqlite:///"
        ) from None
    if migrate:
        try:
            await upgrade_schema(engine)
        except (OperationalError, DBAPIError, OSError) as exc:
            await engine.dispose()
            orig = getattr(exc, "orig", exc)
            raise UnreachableError(
                f"cannot open the ledger database ({type(orig).__name__}: "
                f"{str(orig).splitlines()[0][:200] if str(orig) else ''})"
            ) from None
    return Ledger(engine, SubjectVault(keys.vault))


async def open_existing_ledger(settings: Settings) -> Ledger:
    """An existing ledger, to read: no keys needed or created, no schema changed.

    What auditors' commands open. Pointed at the wrong place, they say so instead of
    creating an empty ledger there (whose empty log would verify)."""
    url = make_url(settings.database_url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).is_file():
        raise ConfigError(
            f"no ledger at {path}: run where the ledger is (LETHE_HOME) or set LETHE_DATABASE_URL"
        )
    engine = create_ledger_engine(settings.database_url)
    try:
        found, wanted = await schema_revisions(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        orig = getattr(exc, "orig", exc)
        raise UnreachableError(
            f"cannot open the ledger database ({type(orig).__name__}: "
            f"{str(orig).splitlines()[0][:200] if str(orig) else ''})"
        ) from None
    if found != wanted:
        await engine.dispose()
        where = url.render_as_string(hide_password=True)
        if not found:
            raise ConfigError(f"{where} holds no Lethe ledger")
        raise ConfigError(
            f"the ledger at {where} has schema {', '.join(sorted(found))}; this Lethe reads "
            f"{', '.join(sorted(wanted))} (a worker of this version upgrades it on start)"
        )
    return Ledger(engine)


async def connect_when_ready(settings: Settings, keys: Keyring, *, within: float = 30.0) -> Client:
    """Connect, retrying while a just-started server comes up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            client = await connect(settings.temporal, keys, timeout=5.0)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=settings.temporal.namespace)
            )
            return client
        except (UnreachableError, RuntimeError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.25)


@dataclass
class Runtime:
    """What a command needs, opened once and closed once."""

    settings: Settings
    keys: Keyring
    ledger: Ledger

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        keys = load_keyring(settings.home)
        return cls(settings, keys, await open_ledger(settings, keys, migrate=migrate))

    async def client(self) -> Client:
        return await connect(self.settings.temporal, self.keys)

    async def close(self) -> None:
        await self.ledger.dispose()
