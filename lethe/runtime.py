"""Shared wiring for the CLI, the worker and the demo: settings → keys → ledger → client.

Temporal's client is imported when a client is asked for (:meth:`Runtime.client`): a command
that only reads the ledger does not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors import ConnectorConfigError
from ledger import (
    KeyIdMismatch,
    Ledger,
    SchemaNewerThanCode,
    SubjectVault,
    check_key_ids,
    create_ledger_engine,
    key_ids_of,
    known_revisions,
    schema_revisions,
    upgrade_schema,
)

from .errors import ConfigError, UnreachableError
from .keys import KEY_NAMES, Keyring, create_keys, load_keyring
from .settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import Runtime as TemporalRuntime

    from connectors import ConnectorRegistry

__all__ = [
    "InitReport",
    "MigrationReport",
    "Reader",
    "Reading",
    "Runtime",
    "bind_keys",
    "connect_when_ready",
    "initialise",
    "load_registry",
    "migrate",
    "open_existing_ledger",
    "open_ledger",
]


def load_registry() -> ConnectorRegistry:
    from connectors import ConnectorRegistry

    try:
        return ConnectorRegistry.from_entry_points()
    except ConnectorConfigError as exc:
        raise ConfigError(str(exc)) from None


def _sqlite_path(settings: Settings) -> Path | None:
    """The SQLite ledger's file, or None for a server database (or an in-memory one)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _where(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _private_file(path: Path) -> None:
    """Create the SQLite ledger's file readable by its owner only, before SQLite opens it:
    SQLite gives its -wal and -shm files the database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # made a moment ago by another opener
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _unreachable(exc: BaseException) -> UnreachableError:
    orig = getattr(exc, "orig", exc)
    return UnreachableError(
        f"cannot open the ledger database ({type(orig).__name__}: "
        f"{str(orig).splitlines()[0][:200] if str(orig) else ''})"
    )


#: The async drivers that are optional extras: the module, and the extra that installs it.
_DRIVER_EXTRAS = {"asyncpg": "postgres", "aiomysql": "mysql", "asyncmy": "mysql"}


def _engine(settings: Settings) -> AsyncEngine:
    try:
        return create_ledger_engine(settings.database_url)
    except ModuleNotFoundError as exc:
        driver = make_url(settings.database_url).drivername.partition("+")[2]
        if driver in _DRIVER_EXTRAS and exc.name == driver:
            raise ConfigError(
                f"the ledger database needs the {driver} driver, which is not installed:"
                f" pip install 'lethe-erasure[{_DRIVER_EXTRAS[driver]}]'"
            ) from None
        raise ConfigError(
            f"the ledger database URL needs an installed async driver ({exc.name} is missing):"
            " use postgresql+asyncpg://, mysql+aiomysql:// or sqlite+aiosqlite:///"
        ) from None
    except (ImportError, InvalidRequestError, ArgumentError) as exc:
        # A sync driver (postgresql://, sqlite:///) or one that is not installed: the URL is
        # wrong, not Lethe. Name the driver only: the URL may hold a password.
        raise ConfigError(
            f"the ledger database URL needs an installed async driver, not "
            f"{make_url(settings.database_url).drivername!r} ({str(exc).splitlines()[0]}): "
            "use postgresql+asyncpg://, mysql+aiomysql:// or sqlite+aiosqlite:///"
        ) from None


_INIT = "run `lethe init` there first (it creates the keys and the ledger)"
_MIGRATE = "run `lethe migrate` (the one command that changes the ledger's schema)"


def _newer(settings: Settings, found: set[str]) -> ConfigError:
    return ConfigError(
        f"the ledger at {_where(settings)} has schema {', '.join(sorted(found))}, newer than"
        " this Lethe knows: use the version of Lethe that migrated it (or a newer one)"
    )


async def _upgrade(engine: AsyncEngine, settings: Settings) -> tuple[set[str], set[str]]:
    """The schema migrated under the lock (``ledger.upgrade_schema``); before and after."""
    try:
        return await upgrade_schema(engine)
    except SchemaNewerThanCode as exc:
        raise _newer(settings, exc.found) from None
    except TimeoutError as exc:
        raise UnreachableError(f"cannot migrate the ledger: {exc}") from None


@dataclass(frozen=True)
class MigrationReport:
    """What ``lethe migrate`` found and did."""

    ledger: str  # the database, password hidden
    before: tuple[str, ...]  # revisions found (none: an empty database)
    after: tuple[str, ...]

    @property
    def migrated(self) -> bool:
        return self.before != self.after


async def migrate(settings: Settings) -> MigrationReport:
    """Bring the ledger's schema to this code's, under the migration lock; safe to run from
    every replica at once (one migrates, the others find it done). A server database that is
    empty gets the whole schema; a SQLite ledger that does not exist is refused (``lethe
    init`` makes it, with its keys). Needs no keys: it changes the schema, nothing else."""
    path = _sqlite_path(settings)
    if path is not None and not path.is_file():
        raise ConfigError(f"no ledger at {path}: {_INIT}, or set LETHE_HOME")
    engine = _engine(settings)
    try:
        before, after = await _upgrade(engine, settings)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _unreachable(exc) from None
    finally:
        await engine.dispose()
    return MigrationReport(_where(settings), tuple(sorted(before)), tuple(sorted(after)))


async def open_ledger(
    settings: Settings,
    keys: Keyring,
    *,
    migrate: bool = True,
    create: bool = True,
    current: bool = False,
) -> Ledger:
    """The ledger, its schema brought up to date (idempotent).

    ``create``: a ledger that does not exist yet is made (``lethe init``, the demo, tests);
    without it, it is refused in one line saying what to run. ``current`` (with neither
    ``migrate`` nor ``create``): a schema other than this code's is refused in one line, from
    the same one read of its version table. Keys are not compared here: :meth:`Runtime.open`
    does that (before anything is written).
    """
    engine = _engine(settings)
    path = _sqlite_path(settings)
    if path is not None and not path.is_file():
        if not create:
            await engine.dispose()
            raise ConfigError(f"no ledger at {path}: {_INIT}, or set LETHE_HOME")
        _private_file(path)
    try:
        if not create:
            found, wanted = await schema_revisions(engine)
            if not found:
                raise ConfigError(f"{_where(settings)} holds no Lethe ledger: {_INIT}")
            if current and not migrate and found != wanted:
                raise _schema_refusal(settings, found, wanted)
        if migrate:
            await _upgrade(engine, settings)
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        raise _unreachable(exc) from None
    except BaseException:
        await engine.dispose()
        raise
    return Ledger(engine, SubjectVault(keys.vault, keys.retired_vault))


async def bind_keys(engine: AsyncEngine, keys: Keyring, *, adopt: bool = True) -> tuple[str, ...]:
    """Refuse (exit 78) keys other than those the ledger records; with ``adopt``, record
    ours where it records none yet (a ledger from before the record). What was recorded."""
    try:
        return await check_key_ids(
            engine,
            keys.key_ids(),
            at=datetime.now(UTC),
            adopt=adopt,
            retired=keys.retired_ids(),
        )
    except KeyIdMismatch as exc:
        where = f"LETHE_{exc.purpose.upper()}_KEY or <LETHE_HOME>/keys/{exc.purpose}.key"
        if exc.rotated_at is not None:
            raise ConfigError(
                f"{exc}: every worker and command of a ledger must hold its current keys"
                f" ({where}), a rotated-out one only as retired; nothing was written"
            ) from None
        raise ConfigError(
            f"{exc}: every worker and command of a ledger must hold the keys it was created"
            f" with ({where}); nothing was written"
        ) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _unreachable(exc) from None


@dataclass(frozen=True)
class InitReport:
    """What ``lethe init`` found and made."""

    keys: dict[str, str]  # key name -> "created PATH" | "found PATH" | "LETHE_<NAME>_KEY"
    ledger: str  # the database, password hidden
    ledger_created: bool
    key_ids: dict[str, str]
    key_ids_recorded: tuple[str, ...]  # recorded now (a new ledger, or one older than 0008)


async def initialise(settings: Settings) -> InitReport:
    """Create what is missing: the keys, the ledger, the ledger's record of the key ids.

    Idempotent. An existing ledger made with other keys is refused before any key is made:
    new keys could never open it."""
    path = _sqlite_path(settings)
    exists = path.is_file() if path is not None else None
    if exists is not False:
        engine = _engine(settings)
        try:
            found, _ = await schema_revisions(engine)
            recorded = await key_ids_of(engine) if found else {}
        except (OperationalError, DBAPIError, OSError) as exc:
            raise _unreachable(exc) from None
        finally:
            await engine.dispose()
        exists = bool(found)
        if recorded:
            missing = [
                n
                for n in KEY_NAMES
                if n in recorded
                and not os.environ.get(f"LETHE_{n.upper()}_KEY")
                and not (settings.home / "keys" / f"{n}.key").exists()
            ]
            if missing:
                raise ConfigError(
                    f"the ledger at {_where(settings)} exists and was made with a {missing[0]}"
                    f" key (id {recorded[missing[0]]}) that is not here: bring its keys"
                    " (LETHE_HOME/keys or LETHE_*_KEY) instead of making new ones"
                )
    said = create_keys(settings.home)
    keys = load_keyring(settings.home)
    if exists:  # compare before the schema is touched
        ledger = await open_ledger(settings, keys, migrate=False, create=False)
        try:
            await bind_keys(ledger.engine, keys, adopt=False)
        finally:
            await ledger.dispose()
    ledger = await open_ledger(settings, keys, create=True)
    try:
        recorded_now = await bind_keys(ledger.engine, keys)
    finally:
        await ledger.dispose()
    if path is not None:
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.exists() and part.stat().st_mode & 0o077:
                part.chmod(0o600)  # a ledger made by an older Lethe: owner only
    return InitReport(
        keys=said,
        ledger=_where(settings),
        ledger_created=not exists,
        key_ids=keys.key_ids(),
        key_ids_recorded=recorded_now,
    )


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
    engine = _engine(settings)
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
        if not found:
            raise ConfigError(f"{_where(settings)} holds no Lethe ledger")
        raise _schema_refusal(settings, found, wanted)
    return Ledger(engine)


async def connect_when_ready(
    settings: Settings,
    keys: Keyring,
    *,
    within: float = 30.0,
    runtime: TemporalRuntime | None = None,
) -> Client:
    """Connect, retrying while a just-started server comes up."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    from .temporal import connect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            client = await connect(settings.temporal, keys, timeout=5.0, runtime=runtime)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=settings.temporal.namespace)
            )
            return client
        except (UnreachableError, RuntimeError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.25)


def _schema_refusal(settings: Settings, found: set[str], wanted: set[str]) -> ConfigError:
    """A schema other than this code's: newer (refused for good) or behind (migrate it)."""
    if not found <= known_revisions():
        return _newer(settings, found)
    return ConfigError(
        f"the ledger at {_where(settings)} has schema {', '.join(sorted(found))}; this Lethe"
        f" reads {', '.join(sorted(wanted))}: {_MIGRATE}"
    )


@dataclass
class Runtime:
    """What a command needs, opened once and closed once."""

    settings: Settings
    keys: Keyring
    ledger: Ledger
    _client: Client | None = field(default=None, init=False, repr=False)

    @classmethod
    async def open(cls, settings: Settings, *, read_only: bool = False) -> Runtime:
        """Keys and ledger as they are: a missing one is refused, saying to run `lethe init`,
        keys other than the ledger's are refused before anything is written (exit 78), and a
        schema other than this code's is refused in one line saying to run `lethe migrate`
        (behind) or that it is newer than this Lethe: only ``lethe migrate`` (and ``init``,
        ``dev``, ``demo``, which make their ledger) changes the schema.

        A ledger that records no key ids yet adopts these keys; ``read_only`` (status, list:
        commands that write nothing) does not."""
        keys = load_keyring(settings.home)
        ledger = await open_ledger(settings, keys, migrate=False, create=False, current=True)
        try:
            await bind_keys(ledger.engine, keys, adopt=not read_only)
        except BaseException:
            await ledger.dispose()
            raise
        return cls(settings, keys, ledger)

    async def client(self) -> Client:
        """Temporal's client, connected on first use (one connection per runtime: a batch of
        requests starts all its workflows through it)."""
        if self._client is None:
            from .temporal import connect

            self._client = await connect(self.settings.temporal, self.keys)
        return self._client

    async def close(self) -> None:
        await self.ledger.dispose()


class Reading(Protocol):
    """What an operation that only reads the record needs: the settings and the ledger. A
    :class:`Reader` (what auditors' commands open) has them, and so has a :class:`Runtime`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def ledger(self) -> Ledger: ...


@dataclass
class Reader:
    """What an auditor's command reads: the settings and an existing ledger, opened without
    keys (an auditor needs none but the log's public key) and without changing it."""

    settings: Settings
    ledger: Ledger

    @classmethod
    async def open(cls, settings: Settings) -> Reader:
        return cls(settings, await open_existing_ledger(settings))

    async def close(self) -> None:
        await self.ledger.dispose()
