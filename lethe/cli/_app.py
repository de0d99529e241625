"""The click group and what the command modules share: ``--json``, the console, and
:func:`call` / :func:`read`, which run one operation on an opened runtime.

A command parses what was typed (before anything is opened), calls one operation of
``lethe/operations/`` through :func:`call` or :func:`read`, and prints what it returns.
Errors are not caught here: a ``LetheError`` raised anywhere reaches ``lethe.cli.main``,
which prints it as one line and exits with its code.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import click

from ..logs import configure_logging
from ..runtime import Reader, Runtime
from ..settings import Settings, load_settings
from ..terminal import TextConsole

__all__ = [
    "app",
    "call",
    "console",
    "emit_json",
    "invocation_settings",
    "json_option",
    "read",
    "run",
]

T = TypeVar("T")
P = ParamSpec("P")

# Piped output (CI logs, `make demo | tee`) gets room for the outcome table. What people typed
# is printed as text: no Rich markup, control characters visible (``lethe/terminal.py``).
console = TextConsole(width=None if sys.stdout.isatty() else 110)


@click.group(
    name="lethe",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="lethe", prog_name="lethe")
def app() -> None:
    """Lethe carries out the right to erasure: verify who asks, erase everywhere,
    prove it, and keep only what the law requires."""


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable output on stdout."
    )(fn)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def run(coro: Coroutine[Any, Any, T]) -> T:
    configure_logging()
    return asyncio.run(coro)


_SETTINGS = "lethe.settings"


def invocation_settings() -> Settings:
    """The settings of this invocation, read once: a command that parses with them (its
    systems, its defaults) and the runtime it then opens see the same."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return load_settings()
    meta = ctx.find_root().meta
    if _SETTINGS not in meta:
        meta[_SETTINGS] = load_settings()
    settings: Settings = meta[_SETTINGS]
    return settings


class _Opened(Protocol):
    async def close(self) -> None: ...


H = TypeVar("H", bound=_Opened)


async def _within(
    opened: Awaitable[H],
    operation: Callable[Concatenate[H, P], Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    handle = await opened
    try:
        return await operation(handle, *args, **kwargs)
    finally:
        await handle.close()


def call(
    operation: Callable[Concatenate[Runtime, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``operation(rt, *args, **kwargs)`` on a runtime (keys, ledger, Temporal when asked)
    opened with this invocation's settings, closed after; its result."""
    return run(_within(Runtime.open(invocation_settings()), operation, *args, **kwargs))


def read(
    operation: Callable[Concatenate[Reader, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``operation(reader, *args, **kwargs)`` on the existing ledger, read without keys and
    changed in nothing (what auditors' commands open); its result."""
    return run(_within(Reader.open(invocation_settings()), operation, *args, **kwargs))

