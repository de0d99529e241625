"""How long ``lethe`` takes to start and answer, as a whole process, against ``python -c pass``.

Each command runs as the operator runs it: the ``lethe`` program in a fresh process, timed
from start to exit. ``lethe --help`` imports no command; ``lethe status ID`` reads one
finished request (its outcomes, exceptions, events, clock and seal) from a real ledger made
by ``lethe init``; ``lethe list`` reads the 50 newest requests. The ledger is SQLite, and
PostgreSQL too when one answers on 127.0.0.1:5432.

The commands are run in turn, round after round (``python -c pass`` first in each round),
so a machine that slows down midway slows every command alike; each figure is the best and
the median of its rounds, and its ratio to the baseline's. Issue 11's target is 0.25 s. The
CPU seconds of each run (user + system, from the kernel) are kept too: on a machine shared
with other work, wall time says more about the neighbours than about Lethe.

Without bytecode on disk (``PYTHONDONTWRITEBYTECODE``) every run would compile Lethe's own
modules from source, which an installed Lethe never does: the commands run without that
variable, and a warm-up round writes the bytecode first.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.bench import Bench
from tests.bench.postgres import postgres_reachable, scratch_database

TARGET_S = 0.25
BASELINE = "python -c pass"
REQUESTS = 200  # in the ledger (list shows the 50 newest)


def _lethe() -> list[str]:
    """The ``lethe`` program of this interpreter's environment (what an operator types)."""
    script = Path(sys.executable).with_name("lethe")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lethe"]


def _environment(home: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LETHE_", "TEMPORAL_", "OTEL_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["LETHE_HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / "no-user-config")  # no user lethe.toml by accident
    env["LETHE_TEMPORAL_ADDRESS"] = "127.0.0.1:9"  # nothing reached: these read the ledger
    if database_url is not None:
        env["LETHE_DATABASE_URL"] = database_url
    return env


async def _seed(home: Path, database_url: str | None, n: int) -> str:
    """``n`` finished requests written through the ledger's API, with the keys ``lethe
    init`` made; the id of the one ``status`` reads."""
    from datetime import timedelta

    from lethe.keys import load_keyring
    from lethe.runtime import open_ledger
    from lethe.settings import Settings
    from tests.support.requests import NOW, finished_request

    settings = Settings(
        home=home, database_url=database_url or f"sqlite+aiosqlite:///{home / 'lethe.db'}"
    )
    ledger = await open_ledger(settings, load_keyring(home), migrate=False, create=False)
    try:
        for i in range(n):
            await finished_request(
                ledger, f"er-bench{i:07d}", received_at=NOW - timedelta(hours=n - i)
            )
    finally:
        await ledger.dispose()
    return f"er-bench{n // 2:07d}"


def _time(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds of one run, and its CPU seconds (user + system, as the kernel counts
    them: on a shared machine the steadier of the two)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {err[-1:] or ''}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def _rounds(
    commands: dict[str, list[str]], env: dict[str, str], cwd: Path, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """Every command once a round, in turn, after one warm-up round (which writes bytecode)."""
    for argv in commands.values():
        _time(argv, env, cwd)
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, argv in commands.items():
            runs[label].append(_time(argv, env, cwd))
    return runs


async def _measure(
    bench: Bench, backend: str, database_url: str | None, rounds: int, n: int
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = _environment(cwd / ".lethe", database_url)
        lethe = _lethe()
        init = subprocess.run(
            [*lethe, "init"], env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
        if init.returncode != 0:
            raise RuntimeError(f"lethe init failed: {init.stderr.strip()[-300:]}")
        request_id = await _seed(cwd / ".lethe", database_url, n)
        commands = {BASELINE: [sys.executable, "-c", "pass"]}
        if backend == "sqlite":
            commands["lethe --help"] = [*lethe, "--help"]
        suffix = "" if backend == "sqlite" else f" [{backend}]"
        commands[f"lethe status ID{suffix}"] = [*lethe, "status", request_id]
        commands[f"lethe list{suffix}"] = [*lethe, "list"]
        runs = await asyncio.to_thread(_rounds, commands, env, cwd, rounds)
    base = [wall for wall, _ in runs.pop(BASELINE)]
    label = BASELINE if backend == "sqlite" else f"{BASELINE} [{backend}]"
    bench.record(label, base)
    rows = []
    for command, measured in runs.items():
        times = [wall for wall, _ in measured]
        cpu = [c for _, c in measured]
        bench.record(command, times, baseline=label)
        rows.append(
            {
                "command": command,
                "backend": backend,
                "best_s": min(times),
                "median_s": statistics.median(times),
                "baseline_best_s": min(base),
                "baseline_median_s": statistics.median(base),
                "ratio_median": statistics.median(times) / statistics.median(base),
                "cpu_best_s": min(cpu),
                "cpu_median_s": statistics.median(cpu),
                "target_s": TARGET_S,
                "runs_s": times,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'command':<28} {'best s':>7} {'median s':>9} {'x baseline':>11} {'cpu s':>7}"
        f" {'target s':>9}  met",
    ]
    for r in rows:
        met = "yes" if r["median_s"] < r["target_s"] else "no"
        lines.append(
            f"{r['command']:<28} {r['best_s']:7.3f} {r['median_s']:9.3f}"
            f" {r['ratio_median']:10.1f}x {r['cpu_median_s']:7.3f} {r['target_s']:9.2f}  {met}"
        )
    return lines


async def run(bench: Bench) -> None:
    rounds = max(3, bench.scaled(15))
    n = max(3, bench.scaled(REQUESTS))
    if shutil.which("lethe") is None and not Path(sys.executable).with_name("lethe").is_file():
        bench.notes.append("(no `lethe` program: timing `python -m lethe` instead)")
    rows = await _measure(bench, "sqlite", None, rounds, n)
    if not postgres_reachable():
        bench.notes.append("PostgreSQL: skipped (none on 127.0.0.1:5432)")
    else:
        async with scratch_database("cli") as url:
            ledger = url.replace("postgresql://", "postgresql+asyncpg://", 1)
            rows += await _measure(bench, "postgresql", ledger, rounds, n)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    bench.notes.append(
        f"{rounds} rounds, commands in turn; ledger of {n} finished requests"
        + (f"; load average {load[0]:.1f}" if load else "")
    )
    bench.notes += _table(rows)
    bench.data["startup"] = rows
