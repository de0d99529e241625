"""Run the benchmarks: ``python -m tests.bench [NAME ...] [--scale X]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path

from tests.bench import Bench


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {names})")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    args = parser.parse_args(argv)
    chosen = args.names or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; there are: {', '.join(names)}")
    for name in chosen:
        module = importlib.import_module(f"tests.bench.bench_{name}")
        bench = Bench(name, scale=args.scale)
        asyncio.run(module.run(bench))
        print(bench.report(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
