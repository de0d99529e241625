"""Run the benchmarks: ``python -m tests.bench [NAME ...] [--scale X] [--out FILE]``.

Prints one table per benchmark and writes every figure to ``results.json`` (by default
``.lethe/bench/results.json`` under the current directory; the path is printed), then a chart
of them beside it (``results.png``; ``python -m tests.bench.chart`` redraws it from a file).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tests.bench import Bench

DEFAULT_OUT = Path(".lethe/bench/results.json")


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        # Without bytecode on disk the workflow sandbox compiles the workflow modules from
        # source for every new workflow execution (see docs/architecture.md, Performance).
        "dont_write_bytecode": sys.dont_write_bytecode,
    }


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {names})")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    chosen = args.names or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; there are: {', '.join(names)}")
    if not args.scale > 0:
        parser.error(f"--scale must be above 0, not {args.scale:g}")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"cannot write results to {args.out}: {exc.strerror}")
    benchmarks: dict[str, Any] = {}
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "machine": machine(),
        "benchmarks": benchmarks,
    }
    for name in chosen:
        module = importlib.import_module(f"tests.bench.bench_{name}")
        bench = Bench(name, scale=args.scale)
        asyncio.run(module.run(bench))
        print(bench.report(), flush=True)
        benchmarks[name] = bench.to_json()
        # Written after each benchmark, so a long run interrupted keeps what it measured.
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}", flush=True)
    return draw_chart(results, args.out.with_suffix(".png"))


def draw_chart(results: dict[str, Any], out: Path) -> int:
    """The PNG beside results.json: a panel for each benchmark that ran (tests/bench/chart.py)."""
    from tests.bench import chart

    try:
        drawn = chart.draw(results, out)
    except chart.BadResults as exc:  # a benchmark wrote figures the chart cannot read: a bug
        print(f"chart: not drawn: {exc}", file=sys.stderr)
        return 1
    print(f"chart: {out} (panels: {', '.join(drawn) or 'none'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
