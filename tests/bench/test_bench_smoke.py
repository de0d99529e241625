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

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_a_tiny_scale(tmp_path: Path) -> None:
    names = available()
    assert {
        "audit_queries",
        "parked_requests",
        "proof_log",
        "shop_job",
        "workflow_sandbox",
        "workflow_throughput",
    } <= set(names)
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--scale", "0.01", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
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
    shop = results["benchmarks"]["shop_job"]["shop"]  # PostgreSQL runs wherever the suite does
    assert shop["lethe"] and shop["baseline"] and shop["one_at_a_time"]["requests"] >= 1
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
