"""The click group and what the command modules share: ``--json``, the console, and
:func:`call` / :func:`look` / :func:`read`, which run one operation on an opened runtime.

The group loads a command's module only when that command is run (:data:`COMMANDS` says which
module holds it, and its one-line help for ``lethe --help``): ``lethe status ID`` imports the
ledger but no Temporal client unless it asks Temporal, and ``lethe --help`` imports neither.
So this module, and what it imports at the top, stays light: settings, logging, the runtime
and anything heavier are imported inside the functions that use them.

A command parses what was typed (before anything is opened), calls one operation of
``lethe/operations/`` through :func:`call` or :func:`read`, and prints what it returns.
Errors are not caught here: a ``LetheError`` raised anywhere reaches ``lethe.cli.main``,
which prints it as one line and exits with its code.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import click

if TYPE_CHECKING:
    from ..runtime import Reader, Runtime
    from ..settings import Settings
    from ..terminal import TextConsole

__all__ = [
    "COMMANDS",
    "app",
    "call",
    "console",
    "emit_json",
    "invocation_settings",
    "json_option",
    "look",
    "read",
    "run",
]

T = TypeVar("T")
P = ParamSpec("P")


class _FirstUse:
    """The command line's one console, made when something is first printed through it:
    ``lethe --help`` and a command refused before it prints load no Rich."""

    _console: TextConsole | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from ..terminal import TextConsole

            # Piped output (CI logs, `make demo | tee`) gets room for the outcome table. What
            # people typed is printed as text: no Rich markup, control characters visible
            # (``lethe/terminal.py``).
            self._console = TextConsole(width=None if sys.stdout.isatty() else 110)
        return getattr(self._console, name)


console = cast("TextConsole", _FirstUse())


# Each verb of ``lethe``: the module of ``lethe/cli/`` that defines it, and the first sentence
# of its help (what ``lethe --help`` shows, without importing the module). A test checks both
# against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "acknowledge": (
        "deadlines",
        "Record that receipt of a request was acknowledged to the requester by other means"
        " (Lethe could not mail it: no mail server, or the mail failed).",
    ),
    "api-client": (
        "web",
        "Clients of the HTTP API and their scoped tokens: add, list, revoke.",
    ),
    "approve": ("requests", "Confirm the requester's identity (verification method 'operator')."),
    "audit": (
        "audit",
        "For auditors: each request's record, its proof, and offline verification.",
    ),
    "backups": ("rounds", "After restoring a backup: erase again what the restore brought back."),
    "cancel": (
        "requests",
        "Withdraw a request before its identity is verified (nothing has been erased yet).",
    ),
    "connectors": (
        "connectors_cmd",
        "Connectors: what is installed, whether configured systems answer, a new one.",
    ),
    "codec-server": (
        "codec_server_cmd",
        "Serve /encode and /decode for the Temporal Web UI and `temporal --codec-endpoint`"
        " (bearer tokens from LETHE_CODEC_TOKENS; each decode recorded in the ledger).",
    ),
    "config": (
        "config_cmd",
        "Which configuration file, ledger and Temporal this invocation uses (secrets masked).",
    ),
    "controller-instruction": (
        "referrals",
        "Carry out a controller's instruction for a referred system.",
    ),
    "demo": (
        "runtime",
        "Erase a demo person from six local systems, end to end, and show the record.",
    ),
    "dev": (
        "runtime",
        "Run the embedded Temporal dev server and a worker in the foreground (Ctrl-C stops).",
    ),
    "dev-assertion": (
        "verification",
        "Sign a portal assertion for EMAIL ('-': from stdin) with a development key (for tests"
        " and trying out).",
    ),
    "extend": (
        "deadlines",
        "Extend a request's answer deadline once, as far as the rules that apply allow.",
    ),
    "hold": (
        "holds",
        "Legal holds: keep a person's data despite erasure requests, until released.",
    ),
    "init": (
        "init",
        "Create what is missing: the keys (under LETHE_HOME/keys, unless LETHE_*_KEY are set)"
        " and the ledger, which records the ids of its keys.",
    ),
    "keys": (
        "keys_cmd",
        "The keys: rotate the payload and vault keys (the old ones stay, retired, to decrypt).",
    ),
    "list": (
        "requests",
        "List requests, newest first (with --overdue or --due-within: soonest deadline first).",
    ),
    "migrate": (
        "migrate",
        "Bring the ledger's schema up to this version of Lethe (run it before starting workers"
        " of a new version).",
    ),
    "retry": (
        "rounds",
        "Erase a failed or not-searched system again, as the next round of the same request.",
    ),
    "serve": ("web", "Serve the HTTP API (/v1/…, /openapi.json, /docs) until interrupted."),
    "status": (
        "requests",
        "Show a request: its clock, status and every system's outcome (from the ledger).",
    ),
    "submit": ("requests", "Receive an erasure request for EMAIL and start it."),
    "sweeper": ("rounds", "The retention sweeper: re-erases what was kept once its date passes."),
    "task": (
        "tasks",
        "Manual tasks: show one, record it done, or record why the data is kept.",
    ),
    "verify": (
        "verification",
        "Check the code the requester received by email (verification method 'email'), or"
        " with --resend mail them a new one.",
    ),
    "worker": (
        "runtime",
        "Run a worker against LETHE_TEMPORAL_ADDRESS (any cluster, Temporal Cloud included).",
    ),
}


class _LazyGroup(click.Group):
    """A group that imports a command's module when the command is looked up, and lists
    the commands not imported yet from :data:`COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            # Importing the module registers its verbs on this group (``@app.command()``).
            importlib.import_module(f"{__package__}.{COMMANDS[cmd_name][0]}")
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click does, with the help of commands not imported taken from the table."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            cmd = self.commands.get(name)
            if cmd is None:
                help_line = click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
                rows.append((name, help_line))
            elif not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    name="lethe",
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="lethe-erasure", prog_name="lethe")
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
    import asyncio

    from ..logs import configure_logging

    configure_logging()
    return asyncio.run(coro)


_SETTINGS = "lethe.settings"


def invocation_settings() -> Settings:
    """The settings of this invocation, read once: a command that parses with them (its
    systems, its defaults) and the runtime it then opens see the same."""
    from ..settings import load_settings

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
    from ..runtime import Runtime

    return run(_within(Runtime.open(invocation_settings()), operation, *args, **kwargs))


def look(
    operation: Callable[Concatenate[Runtime, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """As :func:`call`, for an operation that writes nothing to the ledger (status, list): the
    runtime opens it without migrating its schema or recording key ids, and refuses a schema
    other than this code's in one line."""
    from ..runtime import Runtime

    opened = Runtime.open(invocation_settings(), read_only=True)
    return run(_within(opened, operation, *args, **kwargs))


def read(
    operation: Callable[Concatenate[Reader, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``operation(reader, *args, **kwargs)`` on the existing ledger, read without keys and
    changed in nothing (what auditors' commands open); its result."""
    from ..runtime import Reader

    return run(_within(Reader.open(invocation_settings()), operation, *args, **kwargs))
