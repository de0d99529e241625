"""A scratch PostgreSQL database for a benchmark, on the local server the tests use.

Each benchmark that needs one makes it under a name of its own (with the process id, so two
runs do not meet), drops one an interrupted run left behind, and drops it afterwards even when
a connection is still open (``WITH (FORCE)``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ADMIN_URL", "postgres_reachable", "scratch_database"]

#: The database the suite's server always has; scratch databases are made from a connection to it.
ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def postgres_reachable() -> bool:
    """Whether the local PostgreSQL answers on its port."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


async def _admin(*statements: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def scratch_database(purpose: str) -> AsyncIterator[str]:
    """An empty database ``lethe_bench_<purpose>_<pid>`` for the run; its plain URL
    (``postgresql://127.0.0.1:5432/…``: asyncpg's own; SQLAlchemy wants
    ``postgresql+asyncpg://``). Dropped after."""
    name = f"lethe_bench_{purpose}_{os.getpid()}"
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://127.0.0.1:5432/{name}"
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
