"""Benchmarks for ``make bench``: one module per benchmark, results as ratios.

A benchmark is a module ``tests/bench/bench_<name>.py`` with ``async def run(bench: Bench)``.
It measures what it cares about *and* a baseline in the same run, and reports each result as
a ratio to that baseline, so numbers from different machines can be compared. Nothing here is
ever asserted in the test suite.

    make bench                              # every benchmark
    .venv/bin/python -m tests.bench audit_queries --scale 0.1   # one, smaller
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Bench", "Measurement"]


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float  # median of the repeats
    baseline: str | None


@dataclass
class Bench:
    name: str
    scale: float = 1.0
    results: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def scaled(self, n: int) -> int:
        return max(1, int(n * self.scale))

    async def measure(
        self,
        label: str,
        fn: Callable[[], Awaitable[object]],
        *,
        repeat: int = 7,
        baseline: str | None = None,
    ) -> float:
        """Median wall time of ``repeat`` calls (after one warm-up call)."""
        await fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            await fn()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        self.results.append(Measurement(label, median, baseline))
        return median

    def seconds(self, label: str) -> float:
        return next(m.seconds for m in self.results if m.label == label)

    def report(self) -> str:
        width = max([len(m.label) for m in self.results] + [10])
        lines = [f"== {self.name} (scale {self.scale:g})"]
        lines += [f"   {n}" for n in self.notes]
        lines.append(f"   {'measurement':<{width}}  {'median ms':>10}  ratio")
        for m in self.results:
            ratio = ""
            if m.baseline is not None:
                base = self.seconds(m.baseline)
                ratio = f"{m.seconds / base:8.1f} x {m.baseline}" if base else "n/a"
            lines.append(f"   {m.label:<{width}}  {m.seconds * 1000:10.2f}  {ratio}")
        return "\n".join(lines)
