"""``lethe``: the operator's command line.

Every verb takes ``--json`` for scripts. A mistake in what the user typed or configured is
one line on stderr and a non-zero exit; a traceback means a bug in Lethe (``LETHE_DEBUG=1``
shows it).

A command's module is imported when the command runs, not here (``_app.COMMANDS``): what
this package imports at the top is what every ``lethe`` invocation pays for.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import click

from ..errors import LetheError
from ..visible_text import visible
from ._app import app

__all__ = ["app", "main"]


def _refused_by_temporal(exc: Exception) -> str | None:
    """The one line for an ``RPCError`` (the server answered and said no: a namespace that
    does not exist, no permission), or None for any other error. Temporal's client is only
    imported by commands that talk to it, so an error can only be one if it is loaded."""
    service = sys.modules.get("temporalio.service")
    if service is None or not isinstance(exc, service.RPCError):
        return None
    hint = " (check LETHE_TEMPORAL_NAMESPACE)" if "amespace" in exc.message else ""
    first = exc.message.splitlines()[0] if exc.message else exc.status.name
    return f"Temporal refused: {first}{hint}"


def _error(message: str, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": message}))
    # One line, shown as text: a message may quote what someone typed or a server said.
    print(f"lethe: error: {visible(message)}", file=sys.stderr)


def _missing_command(exc: click.exceptions.NoArgsIsHelpError) -> int:
    """``lethe`` or ``lethe hold`` alone: the help on stdout, one line on stderr."""
    ctx = exc.ctx
    assert ctx is not None
    print(ctx.get_help())
    print(f"lethe: error: `{ctx.command_path}` needs a command (listed above)", file=sys.stderr)
    return 2


def _internal_error(exc: Exception, *, as_json: bool) -> int:
    """A bug: one line (the traceback with LETHE_DEBUG=1), exit 70."""
    import traceback

    from connectors import redact

    # A bug's text is nobody's choice: it may quote what it failed on (an address). It
    # goes where logs go (cron mail, CI logs), so it is scrubbed like a log line.
    if os.environ.get("LETHE_DEBUG"):
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
    first = str(exc).splitlines()[0] if str(exc) else ""
    _error(
        f"internal error: {type(exc).__name__}: {redact(first)}"
        " (a bug in Lethe; rerun with LETHE_DEBUG=1 for the traceback)",
        as_json=as_json,
    )
    return 70


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        result = app.main(args=args, prog_name="lethe", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        code = _missing_command(exc)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _error(exc.format_message() + hint, as_json=as_json)
        code = exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("lethe: interrupted", file=sys.stderr)
        code = 130
    except LetheError as exc:
        _error(str(exc), as_json=as_json)
        code = exc.exit_code
    except Exception as exc:
        refused = _refused_by_temporal(exc)
        if refused is not None:  # a setting to fix, not a bug in Lethe
            _error(refused, as_json=as_json)
            code = 69
        else:
            code = _internal_error(exc, as_json=as_json)
    tracing = sys.modules.get("lethe.tracing")  # loaded only by a command that connects
    if tracing is not None:
        tracing.flush()  # spans still buffered, when traces are exported (lethe/tracing.py)
    if argv is None:
        # Run as the `lethe` program: leave without interpreter teardown. The Temporal client's
        # Rust threads can outlive the event loop, and tearing down under them aborts the
        # process ("Fatal Python error: PyGILState_Release", temporalio/sdk-python#300), seen
        # here after a failed DNS lookup of the Temporal host. Everything is closed by now.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (`lethe list | head`)
                stream.flush()
        os._exit(code)
    sys.exit(code)
