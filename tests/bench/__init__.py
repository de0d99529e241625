"""Benchmarks for ``make bench``: one module per benchmark, results as ratios.

A benchmark is a module ``tests/bench/bench_<name>.py`` with ``async def run(bench: Bench)``.
It measures what it cares about *and* a baseline in the same run, and reports each result as
a ratio to that baseline, so numbers from different machines can be compared. Nothing here is
ever asserted in the test suite.

    make bench                              # every benchmark; the table, and results.json
    .venv/bin/python -m tests.bench audit_queries --scale 0.1   # one, smaller
    .venv/bin/python -m tests.bench --out /tmp/results.json     # the JSON elsewhere
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bench", "Measurement"]


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float  # median of the repeats
    baseline: str | None
    runs: tuple[float, ...] = ()  # every repeat, in seconds, in the order measured

    def to_json(self) -> dict[str, Any]:
        runs = self.runs or (self.seconds,)
        return {
            "label": self.label,
            "median_s": self.seconds,
            "min_s": min(runs),
            "runs_s": list(runs),
            "baseline": self.baseline,
        }


@dataclass
class Bench:
    name: str
    scale: float = 1.0
    results: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Figures a benchmark reports beside its measurements (written to results.json as is).
    data: dict[str, Any] = field(default_factory=dict)

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
        return self.record(label, times, baseline=baseline)

    def record(self, label: str, runs: Sequence[float], *, baseline: str | None = None) -> float:
        """Add a measurement timed elsewhere: seconds of each run; returns their median."""
        median = statistics.median(runs)
        self.results.append(Measurement(label, median, baseline, tuple(runs)))
        return median

    def seconds(self, label: str) -> float:
        return next(m.seconds for m in self.results if m.label == label)

    def ratio(self, m: Measurement) -> float | None:
        if m.baseline is None:
            return None
        base = self.seconds(m.baseline)
        return m.seconds / base if base else None

    def report(self) -> str:
        width = max([len(m.label) for m in self.results] + [10])
        lines = [f"== {self.name} (scale {self.scale:g})"]
        lines += [f"   {n}" for n in self.notes]
        lines.append(f"   {'measurement':<{width}}  {'median ms':>10}  {'min ms':>10}  ratio")
        for m in self.results:
            ratio = ""
            if m.baseline is not None:
                r = self.ratio(m)
                ratio = f"{r:8.1f} x {m.baseline}" if r is not None else "n/a"
            least = min(m.runs) if m.runs else m.seconds
            lines.append(
                f"   {m.label:<{width}}  {m.seconds * 1000:10.2f}  {least * 1000:10.2f}  {ratio}"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": self.scale,
            "notes": list(self.notes),
            "measurements": [{**m.to_json(), "ratio": self.ratio(m)} for m in self.results],
            **self.data,
        }
