"""Running ``lethe`` in tests: in this process (fast: no second interpreter, no imports), or as
a real program where the process boundary is what a test is about.

``lethe(*args)``         the command in this process, for a test that reads its output with
                         ``capsys`` (no event loop running): its exit status.
``one_line_error(cap)``  what the command said on stderr, checked to be one ``lethe: error:``
                         line without a traceback.
``run_in_process(args, env, cwd)`` / ``run_program(args, env, cwd)``: the same, where no
                         event loop runs, in this process / as the real program.
``Lethe(env, cwd)``      the command as an operator runs it, with that environment and working
                         directory: ``await Lethe(...)("list", "--json")`` gives (status, stdout,
                         stderr). By default in this process (on a thread of its own, so that
                         a worker on the test's event loop goes on meanwhile);
                         ``Lethe(..., process=True)`` starts the real ``lethe`` program.

In this process, a command sees exactly ``env`` (``os.environ`` is changed for the call and
put back), reads ``stdin`` and writes into buffers of its own thread: what other threads print
meanwhile (a worker's log) still goes where it went. Commands run one at a time. Settings are
read afresh by every command (``lethe.cli._app.invocation_settings``); ``configure_logging`` is
called by every command, as by every ``lethe`` program.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pytest

from lethe.cli import main

__all__ = ["LETHE", "Lethe", "lethe", "one_line_error", "run_in_process", "run_program"]

#: The installed ``lethe`` program.
LETHE = str(Path(sys.executable).parent / "lethe")


def lethe(*args: str) -> int:
    """``lethe ARGS`` in this process; its exit status. Output: read it with ``capsys``."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one ``lethe: error:`` line the command wrote on stderr (and nothing else there)."""
    return checked_error(capsys.readouterr().err)


def checked_error(err: str) -> str:
    err = err.strip()
    assert err.startswith("lethe: error: "), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err, err
    return err


class _PerThread(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``/``sys.stdin``: the calling thread's own
    stream while a command runs on it, else the stream it replaced."""

    def __init__(self, fallback: TextIO, local: threading.local, name: str) -> None:
        self._fallback, self._local, self._name = fallback, local, name

    def _target(self) -> Any:
        return getattr(self._local, self._name, None) or self._fallback

    def write(self, s: str) -> int:
        return self._target().write(s)

    def read(self, size: int | None = -1) -> str:
        return self._target().read(size)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self._target().readline(size)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    @property
    def buffer(self) -> Any:
        """The bytes underneath, as a real ``sys.stdin`` has (``submit --from -`` reads them)."""
        return self._target().buffer

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


_LOCK = threading.Lock()
_LOCAL = threading.local()


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for key in set(os.environ) - set(env):
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


@contextmanager
def _streams(stdin: str) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = _PerThread(sys.stdin, _LOCAL, "stdin")  # type: ignore[assignment]
    sys.stdout = _PerThread(sys.stdout, _LOCAL, "stdout")  # type: ignore[assignment]
    sys.stderr = _PerThread(sys.stderr, _LOCAL, "stderr")  # type: ignore[assignment]
    # stdin as a program gets it: text over bytes (``.buffer``), UTF-8.
    given = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    _LOCAL.stdin, _LOCAL.stdout, _LOCAL.stderr = given, out, err
    try:
        yield out, err
    finally:
        _LOCAL.stdin = _LOCAL.stdout = _LOCAL.stderr = None
        sys.stdin, sys.stdout, sys.stderr = saved


def run_in_process(
    args: tuple[str, ...], env: Mapping[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, str, str]:
    """``lethe ARGS`` in this process, as if run with ``env`` in ``cwd``: (status, out, err).
    Call it where no event loop runs (a thread of its own; ``Lethe`` does)."""
    with _LOCK, _environment(env), _streams(stdin) as (out, err):
        previous = os.getcwd()
        os.chdir(cwd)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        finally:
            os.chdir(previous)
        return code, out.getvalue(), err.getvalue()


def run_program(
    args: tuple[str, ...], env: Mapping[str, str], cwd: Path, stdin: str = "", timeout: float = 120
) -> tuple[int, str, str]:
    """``lethe ARGS`` as the real program: (status, out, err)."""
    done = subprocess.run(
        [LETHE, *args],
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


class Lethe:
    """The ``lethe`` command as an operator with ``env`` in ``cwd`` runs it."""

    def __init__(
        self,
        env: Mapping[str, str],
        cwd: Path,
        *,
        process: bool = False,
        echo: bool = False,
        timeout: float = 120,
    ) -> None:
        """``echo``: also write what the command printed to this process's stdout and stderr
        (where ``capfd`` reads), after it ran."""
        self.env, self.cwd, self.process, self.echo = dict(env), cwd, process, echo
        self.timeout = timeout

    async def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        code, out, err = await self._run(args, stdin)
        if self.echo:
            sys.stdout.write(out)
            sys.stderr.write(err)
        return code, out, err

    async def _run(self, args: tuple[str, ...], stdin: str | None) -> tuple[int, str, str]:
        if not self.process:
            return await asyncio.wait_for(
                asyncio.to_thread(run_in_process, args, self.env, self.cwd, stdin or ""),
                timeout=self.timeout,
            )
        proc = await asyncio.create_subprocess_exec(
            LETHE,
            *args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout=self.timeout
        )
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str) -> Any:
        """``ARGS --json``, which must succeed: what it printed, parsed."""
        code, out, err = await self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    async def refused(self, *args: str, code: int = 1) -> str:
        """``ARGS``, which must fail with ``code`` and one error line: that line."""
        got, _, err = await self(*args)
        assert got == code, err
        return checked_error(err)
