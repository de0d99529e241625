"""The chart of a ``make bench`` run, a PNG next to its results.json.

    python -m tests.bench.chart .lethe/bench/results.json        # writes results.png beside it
    python -m tests.bench.chart results.json --out /tmp/chart.png

``python -m tests.bench`` draws it after the benchmarks ran. One panel a figure of issue 11:
throughput against K (Lethe and bare Temporal), latency percentiles (the shop job), memory
against parked requests, CLI start-up, and the ``sql`` connector's erase on big tables. A
panel whose benchmark did not run in this results file says "not measured in this run". The
PNG names the panels it drew in its metadata (``Lethe-Panels``, ``Lethe-Not-Measured``).

A results file that cannot be read, or whose figures are not in the shape the benchmarks
write, is refused with one line and exit status 1; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PANELS", "BadResults", "draw", "load", "main", "panels"]

#: Each panel: its name, its title, and the benchmark whose figures it draws.
PANELS: tuple[tuple[str, str, str], ...] = (
    ("throughput", "Throughput against K systems", "workflow_throughput"),
    ("latency", "Latency, the shop job (PostgreSQL)", "shop_job"),
    ("memory", "Memory against parked requests", "parked_requests"),
    ("cli_startup", "CLI start-up", "cli_startup"),
    ("sql", "sql erase, one subject, big tables", "sql_million"),
)
NOT_MEASURED = "not measured in this run"


class BadResults(ValueError):
    """The results file is not what ``python -m tests.bench`` writes (the message says where)."""


# --- reading, checked --------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadResults(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        results = json.loads(text)
    except ValueError as exc:
        raise BadResults(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(results, dict) or not isinstance(results.get("benchmarks"), dict):
        raise BadResults(f"{path} is not a results file of python -m tests.bench (no benchmarks)")
    return results


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise BadResults(f"{where}: no {key!r}")
    return obj[key]


def _items(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, list) or not obj:
        raise BadResults(f"{where}: not a non-empty list")
    return obj


def _num(obj: Any, key: str, where: str, *, optional: bool = False) -> float | None:
    value = obj.get(key) if optional and isinstance(obj, dict) else _get(obj, key, where)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResults(f"{where}.{key}: not a number")
    return float(value)


def _n(obj: Any, key: str, where: str) -> float:
    value = _num(obj, key, where)
    assert value is not None
    return value


def _throughput(bench: Any, where: str) -> list[dict[str, float]]:
    rows = []
    for i, t in enumerate(_items(_get(bench, "throughput", where), f"{where}.throughput")):
        at = f"{where}.throughput[{i}]"
        row = {"k": _n(t, "k", at), "ratio": _n(t, "ratio_median", at)}
        for side in ("baseline", "lethe"):
            s = _get(t, side, at)
            for stat in ("median", "min", "max"):
                row[f"{side}_{stat}"] = _n(s, f"per_s_{stat}", f"{at}.{side}")
        rows.append(row)
    return rows


def _latency(bench: Any, where: str) -> list[tuple[str, float, float]]:
    shop = _get(bench, "shop", where)
    at = f"{where}.shop.one_at_a_time"
    alone = _get(shop, "one_at_a_time", f"{where}.shop")
    groups = [("Lethe,\none at a time", _n(alone, "p50_s", at), _n(alone, "p95_s", at))]
    sides = (("lethe", "Lethe,\n20 at a time"), ("baseline", "bare Temporal,\n20 at a time"))
    for side, label in sides:
        runs = _items(_get(shop, side, f"{where}.shop"), f"{where}.shop.{side}")
        at = f"{where}.shop.{side}"
        groups.append(
            (
                label,
                statistics.median(_n(r, "p50_s", at) for r in runs),
                statistics.median(_n(r, "p95_s", at) for r in runs),
            )
        )
    return groups


def _memory(bench: Any, where: str) -> list[tuple[float, float | None, float | None]]:
    parked = _get(bench, "parked", where)
    series = _items(_get(parked, "series", f"{where}.parked"), f"{where}.parked.series")
    at = f"{where}.parked.series"
    return [
        (
            _n(p, "parked", at),
            _num(p, "worker_rss_mib", at, optional=True),
            _num(p, "server_rss_mib", at, optional=True),
        )
        for p in series
    ]


def _startup(bench: Any, where: str) -> list[tuple[str, float, float, float | None]]:
    rows = []
    for i, c in enumerate(_items(_get(bench, "startup", where), f"{where}.startup")):
        at = f"{where}.startup[{i}]"
        command = _get(c, "command", at)
        if not isinstance(command, str):
            raise BadResults(f"{at}.command: not a string")
        backend = c.get("backend")  # the ledger it read, where the benchmark tries several
        rows.append(
            (
                f"{command} ({backend})"
                if isinstance(backend, str) and backend not in command
                else command,
                _n(c, "best_s", at),
                _n(c, "median_s", at),
                _num(c, "baseline_best_s", at, optional=True),
            )
        )
    return rows


def _sql(bench: Any, where: str) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(_items(_get(bench, "sql", where), f"{where}.sql")):
        at = f"{where}.sql[{i}]"
        label = (r.get("key") or _get(r, "policy", at)) if isinstance(r, dict) else None
        if not isinstance(label, str):
            raise BadResults(f"{at}: no policy")
        plan = r.get("plan")
        rows.append(
            {
                "label": label,
                "erase_p50": _n(r, "erase_p50_ms", at),
                "erase_p95": _n(r, "erase_p95_ms", at),
                "verify_p50": _n(r, "verify_p50_ms", at),
                "baseline_p50": _n(r, "baseline_p50_ms", at),
                "seq_scan": isinstance(plan, str) and "Seq Scan" in plan,
            }
        )
    return rows


_READERS: dict[str, Callable[[Any, str], Any]] = {
    "throughput": _throughput,
    "latency": _latency,
    "memory": _memory,
    "cli_startup": _startup,
    "sql": _sql,
}


def panels(results: dict[str, Any]) -> dict[str, Any]:
    """Each panel's figures, or None where its benchmark did not run (or was skipped: it then
    wrote a note and no figures). ``BadResults`` if figures are there in another shape."""
    benchmarks = results["benchmarks"]
    out: dict[str, Any] = {}
    for name, _title, bench_name in PANELS:
        bench = benchmarks.get(bench_name)
        where = f"benchmarks.{bench_name}"
        if bench is None:
            out[name] = None
            continue
        if not isinstance(bench, dict):
            raise BadResults(f"{where}: not an object")
        # A benchmark that skipped itself (no PostgreSQL, say) has measurements and no figures.
        key = {"latency": "shop", "memory": "parked", "cli_startup": "startup"}.get(name, name)
        if key not in bench:
            out[name] = None
            continue
        out[name] = _READERS[name](bench, where)
    return out


# --- drawing ----------------------------------------------------------------------------------


def _absent(ax: Any) -> None:
    ax.text(0.5, 0.5, NOT_MEASURED, ha="center", va="center", fontsize=11, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _log_y(ax: Any) -> None:
    """A log y axis labelled in plain numbers (10, 100), its minor ticks unlabelled."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_throughput(ax: Any, rows: list[dict[str, float]]) -> None:
    ks = [r["k"] for r in rows]
    for side, label, marker in (("lethe", "Lethe", "o"), ("baseline", "bare Temporal", "s")):
        med = [r[f"{side}_median"] for r in rows]
        err = [
            [m - r[f"{side}_min"] for m, r in zip(med, rows, strict=True)],
            [r[f"{side}_max"] - m for m, r in zip(med, rows, strict=True)],
        ]
        ax.errorbar(ks, med, yerr=err, marker=marker, capsize=3, label=label)
    for r in rows:
        ax.annotate(
            f"{r['ratio']:.2f}x",
            (r["k"], r["lethe_median"]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [f"{k:g}" for k in ks])
    _log_y(ax)
    ax.set_xlabel("K systems per request")
    ax.set_ylabel("requests/s (median; bars: min-max)")
    ax.legend(fontsize=8)


def _bars(ax: Any, labels: Sequence[str], series: dict[str, list[float]], unit: str) -> None:
    width = 0.8 / len(series)
    for n, (name, values) in enumerate(series.items()):
        xs = [i + (n - (len(series) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)


def _draw_latency(ax: Any, groups: list[tuple[str, float, float]]) -> None:
    _bars(
        ax,
        [g[0] for g in groups],
        {"p50": [g[1] * 1000 for g in groups], "p95": [g[2] * 1000 for g in groups]},
        "submit to finished, ms",
    )


def _draw_memory(ax: Any, points: list[tuple[float, float | None, float | None]]) -> None:
    for n, label in ((1, "worker RSS"), (2, "dev server RSS")):
        xy = [(p[0], p[n]) for p in points if p[n] is not None]
        if xy:
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=label)
    ax.axhline(512, color="0.5", linestyle="--", linewidth=1, label="worker target 512 MiB")
    ax.set_xlabel("requests parked at the identity gate")
    ax.set_ylabel("MiB")
    ax.legend(fontsize=8)


def _draw_startup(ax: Any, rows: list[tuple[str, float, float, float | None]]) -> None:
    series: dict[str, list[float]] = {
        "best": [r[1] for r in rows],
        "median": [r[2] for r in rows],
    }
    if all(r[3] is not None for r in rows):
        series["baseline best"] = [r[3] or 0.0 for r in rows]
    # Sideways: a command line is a long label.
    height = 0.8 / len(series)
    for n, (name, values) in enumerate(series.items()):
        ys = [i + (n - (len(series) - 1) / 2) * height for i in range(len(rows))]
        ax.barh(ys, values, height, label=name)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.axvline(0.25, color="0.5", linestyle="--", linewidth=1, label="target 0.25 s")
    ax.legend(fontsize=8)


def _draw_sql(ax: Any, rows: list[dict[str, Any]]) -> None:
    labels = [
        textwrap.fill(r["label"].replace("_", " "), 12) + ("\n(Seq Scan)" if r["seq_scan"] else "")
        for r in rows
    ]
    _bars(
        ax,
        labels,
        {
            "erase p50": [r["erase_p50"] for r in rows],
            "erase p95": [r["erase_p95"] for r in rows],
            "verify p50": [r["verify_p50"] for r in rows],
            "UPDATE by pk p50": [r["baseline_p50"] for r in rows],
        },
        "ms (log)",
    )
    _log_y(ax)
    ax.axhline(50, color="0.5", linestyle="--", linewidth=1, label="erase target 50 ms")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


_DRAWERS: dict[str, Callable[[Any, Any], None]] = {
    "throughput": _draw_throughput,
    "latency": _draw_latency,
    "memory": _draw_memory,
    "cli_startup": _draw_startup,
    "sql": _draw_sql,
}


def _caption(results: dict[str, Any]) -> str:
    m = results.get("machine") if isinstance(results.get("machine"), dict) else {}
    assert isinstance(m, dict)
    load = m.get("load_average")
    load_text = (
        ", ".join(f"{x:.1f}" for x in load)
        if isinstance(load, list) and all(isinstance(x, int | float) for x in load)
        else "unknown"
    )
    return (
        f"make bench, {results.get('started_at', '?')}, scale {results.get('scale', '?')};"
        f" {m.get('cpus', '?')} CPUs, load average at the start {load_text}"
    )


def draw(results: dict[str, Any], out: Path) -> list[str]:
    """Write the chart of ``results`` to ``out`` (PNG); the names of the panels with figures.

    ``BadResults`` before anything is written if a benchmark's figures have another shape."""
    data = panels(results)
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg for a PNG

    fig = Figure(figsize=(13, 13))
    grid = fig.add_gridspec(3, 2)
    # Two panels a row; the last (the sql erase, six groups of bars) takes a whole row.
    places = [grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1], grid[2, :]]
    drawn = []
    for place, (name, title, _bench) in zip(places, PANELS, strict=True):
        ax = fig.add_subplot(place)
        ax.set_title(title, fontsize=11)
        if data[name] is None:
            _absent(ax)
        else:
            _DRAWERS[name](ax, data[name])
            drawn.append(name)
    fig.suptitle(
        _caption(results) + "\nEach figure was measured next to its baseline in the same run;"
        " the ratios are in results.json beside this chart",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    absent = [name for name, _t, _b in PANELS if name not in drawn]
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(
        out,
        format="png",
        dpi=80,
        metadata={"Lethe-Panels": ",".join(drawn), "Lethe-Not-Measured": ",".join(absent)},
    )
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.chart")
    parser.add_argument("results", type=Path, help="a results.json of python -m tests.bench")
    parser.add_argument("--out", type=Path, help="the PNG (default: the results file's, .png)")
    args = parser.parse_args(argv)
    out = args.out or args.results.with_suffix(".png")
    try:
        drawn = draw(load(args.results), out)
    except BadResults as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{parser.prog}: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"chart: {out} (panels: {', '.join(drawn) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
