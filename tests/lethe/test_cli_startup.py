"""What ``lethe`` loads to start: each command's module when the command runs, Temporal's
client and Alembic only for the commands that need them, Rich only for a command that prints
(not ``--help``), and no migration on a read.

These check which modules are loaded (in a fresh interpreter), not how long it takes: a
heavy import coming back to the top of ``lethe.cli`` breaks them on any machine.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest

from lethe.cli import app
from lethe.cli._app import COMMANDS
from tests.support.cli import lethe, one_line_error

HEAVY = (
    "temporalio",
    "sqlalchemy",
    "alembic",
    "workflows",
    "activities",
    "structlog",
    "rich",  # the console is made when something is printed through it
    "asyncio",  # a command that reads or writes runs its operation in an event loop
)

PROBE = """
import json, sys
{before}
loaded = {{m.split(".")[0] for m in sys.modules}} | {{m for m in sys.modules if "lethe.cli." in m}}
print(json.dumps(sorted(m for m in loaded if m in {heavy!r} or m.startswith("lethe.cli."))))
"""


def loaded_after(code: str, *, args: list[str] | None = None) -> set[str]:
    """The heavy packages and the modules of ``lethe.cli`` a fresh interpreter has loaded
    after ``code`` (and, given ``args``, after ``lethe ARGS`` ran in it)."""
    if args is not None:
        code += (
            "\nfrom lethe.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "sys.stdout.flush()\nprint()\n"
        )
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


PLUMBING = {"lethe.cli._app"}


def test_importing_the_command_line_loads_no_server_library() -> None:
    assert loaded_after("import lethe.cli") == PLUMBING


def test_help_lists_every_command_and_loads_none_of_them() -> None:
    assert loaded_after("", args=["--help"]) == PLUMBING
    # Through the real program too: what a user's shell runs.
    out = subprocess.run(
        [sys.executable, "-m", "lethe", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_the_help_table_says_what_each_command_says() -> None:
    """COMMANDS (read for ``--help`` without importing) against the commands themselves."""
    ctx = click.Context(app)
    for name, (module, _) in COMMANDS.items():
        cmd = app.get_command(ctx, name)
        assert cmd is not None, f"{name}: lethe.cli.{module} does not define it"
        assert cmd.callback is None or cmd.callback.__module__ == f"lethe.cli.{module}", name
    # Every module loaded now: a command registered but missing from the table would be
    # invisible until someone typed it.
    assert sorted(app.commands) == sorted(COMMANDS)
    for name, (_, short) in COMMANDS.items():
        assert app.commands[name].get_short_help_str(10_000) == short, name


def test_help_of_one_command_loads_its_module_only(capsys: pytest.CaptureFixture[str]) -> None:
    loaded = loaded_after("", args=["init", "--help"])
    assert {m for m in loaded if m.startswith("lethe.cli.")} == PLUMBING | {"lethe.cli.init"}
    assert not loaded & {"temporalio", "alembic", "workflows", "activities"}
    assert lethe("status", "--help") == 0
    assert "Show a request" in capsys.readouterr().out


def test_a_read_loads_neither_temporal_nor_alembic(lethe_home: Path) -> None:
    for args in (["list"], ["status", "er-nosuchrequest"], ["hold", "list"]):
        loaded = loaded_after("", args=args)
        assert "sqlalchemy" in loaded, args  # it did read the ledger
        assert not loaded & {"temporalio", "alembic", "workflows", "activities"}, args


def _set_revision(home: Path, revision: str) -> None:
    with sqlite3.connect(home / "lethe.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def _revision(home: Path) -> str:
    with sqlite3.connect(home / "lethe.db") as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_a_read_does_not_migrate_an_older_ledger(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_revision(lethe_home, "0009_idempotent_writes")
    for args in (["list"], ["status", "er-nosuchrequest"]):
        assert lethe(*args) == 78
        err = one_line_error(capsys)
        assert "has schema 0009_idempotent_writes" in err and "run `lethe migrate`" in err
    assert _revision(lethe_home) == "0009_idempotent_writes"  # untouched
    assert "alembic" not in loaded_after("", args=["list"])  # refused without loading it


def test_a_ledger_newer_than_this_lethe_is_named_as_such(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_revision(lethe_home, "0099_from_a_newer_lethe")
    assert lethe("list") == 78
    assert "newer than this Lethe knows" in one_line_error(capsys)
    assert "alembic" not in loaded_after("", args=["list"])
