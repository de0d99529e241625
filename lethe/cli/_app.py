"""The click group and helpers shared by the command modules."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from ..logs import configure_logging
from ..runtime import Runtime
from ..settings import Settings, load_settings
from ..terminal import TextConsole

__all__ = [
    "app",
    "console",
    "emit_json",
    "failure_text",
    "json_option",
    "run",
    "with_runtime",
]

T = TypeVar("T")

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


def failure_text(exc: BaseException) -> str:
    """The innermost message of a Temporal failure chain (validator, activity, application)."""
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause  # type: ignore[attr-defined]
    return getattr(exc, "message", None) or str(exc)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def run(coro: Coroutine[Any, Any, T]) -> T:
    configure_logging()
    return asyncio.run(coro)


async def with_runtime(
    fn: Callable[[Runtime], Awaitable[T]], settings: Settings | None = None
) -> T:
    rt = await Runtime.open(settings or load_settings())
    try:
        return await fn(rt)
    finally:
        await rt.close()
