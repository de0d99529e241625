"""Every benchmark still runs (at a tiny scale): `make bench` must not rot between runs.

This asserts that they run and report, never how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.__main__ import available
from tests.bench.chart import PANELS
from tests.bench.test_chart import panels_of

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_a_tiny_scale(tmp_path: Path) -> None:
    names = available()
    assert {
        "audit_queries",
        "cli_startup",
        "parked_requests",
        "proof_log",
        "shop_job",
        "sql_million",
        "workflow_sandbox",
        "workflow_throughput",
    } <= set(names)
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--scale", "0.01", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in names:
        assert f"== {name}" in run.stdout
    assert "ratio" in run.stdout
    assert f"results: {out}" in run.stdout
    results = json.loads(out.read_text())
    assert set(results["benchmarks"]) == set(names)
    throughput = results["benchmarks"]["workflow_throughput"]["throughput"]
    assert [t["k"] for t in throughput] == [1, 4, 16]
    for t in throughput:
        assert len(t["ratios"]) == len(t["baseline"]["per_s"]) == len(t["lethe"]["per_s"]) >= 1
        assert t["ratio_min"] <= t["ratio_median"] <= t["ratio_max"]
    startup = results["benchmarks"]["cli_startup"]["startup"]
    commands = [s["command"] for s in startup]
    assert {"lethe --help", "lethe status ID", "lethe list"} <= set(commands)
    for s in startup:
        assert 0 < s["best_s"] <= s["median_s"] and s["baseline_best_s"] > 0, s
    shop = results["benchmarks"]["shop_job"]["shop"]  # PostgreSQL runs wherever the suite does
    assert shop["lethe"] and shop["baseline"] and shop["one_at_a_time"]["requests"] >= 1
    sql = results["benchmarks"]["sql_million"]["sql"]
    keys = [r["key"] for r in sql]
    assert keys[:4] == ["email", "parent_child", "id_text", "id_integer"]
    assert keys[4:] in ([], ["email_trigram"])  # [] where PostgreSQL lacks pg_trgm
    for r in sql:
        assert r["rows"] >= 10_000 and r["subjects"] >= 3
        for figure in ("erase_p50_ms", "erase_p95_ms", "verify_p50_ms", "baseline_p50_ms"):
            assert r[figure] > 0
        assert r["erase_p50_ms"] <= r["erase_p95_ms"]
        # The SQL the connector sent was captured and explained: each rule's table was read.
        assert r["statements"] and all(s["scans"] for s in r["statements"])
        assert r["plan"] and "no statement on" not in r["plan"]
    # The chart beside results.json, with a panel for each benchmark that ran.
    png = out.with_suffix(".png")
    assert f"chart: {png}" in run.stdout
    drawn, absent = panels_of(png)
    expected = {panel for panel, _title, bench in PANELS if bench in names}
    assert drawn == expected
    assert absent == {panel for panel, _title, _bench in PANELS} - expected
    parked = results["benchmarks"]["parked_requests"]["parked"]
    n = parked["requests"]
    assert n >= 1 and parked["finished"] == n  # every parked request approved and sealed
    assert [s["parked"] for s in parked["series"]] == sorted(s["parked"] for s in parked["series"])
    assert parked["series"][0]["parked"] == 0 and parked["series"][-1]["parked"] == n
    for s in parked["series"]:
        assert set(s) == {"parked", "worker_rss_mib", "server_rss_mib"}
        assert s["worker_rss_mib"] > 0 and s["server_rss_mib"] > 0
    assert parked["peak_worker_rss_mib"] >= max(s["worker_rss_mib"] for s in parked["series"])
    assert parked["park_s"] > 0 and parked["finish_s"] > 0


def test_a_bad_option_is_one_line_and_a_usage_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "no_such_bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "unknown benchmark 'no_such_bench'" in run.stderr
    assert "Traceback" not in run.stderr
