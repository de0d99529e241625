"""Every benchmark still runs (at a tiny scale): `make bench` must not rot between runs.

This asserts that they run and report, never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.__main__ import available

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_a_tiny_scale() -> None:
    names = available()
    assert {"audit_queries", "proof_log", "workflow_throughput"} <= set(names)
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--scale", "0.01"],
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
