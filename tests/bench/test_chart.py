"""The chart ``make bench`` draws (tests/bench/chart.py): a valid PNG with a panel for each
benchmark that ran, "not measured" for the others, and one line for a bad results file."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.bench.chart import PANELS, BadResults, draw, load, main

ROOT = Path(__file__).resolve().parents[2]


def png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG, after checking its signature, every chunk's CRC, that it
    starts with a non-empty IHDR and ends with IEND. AssertionError if it is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, kinds, text = 8, [], {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        kinds.append(kind)
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    return text


def panels_of(path: Path) -> tuple[set[str], set[str]]:
    text = png_text(path)
    drawn = {p for p in text["Lethe-Panels"].split(",") if p}
    absent = {p for p in text["Lethe-Not-Measured"].split(",") if p}
    return drawn, absent


def full_results() -> dict[str, Any]:
    """A results file in the shapes the benchmarks write (figures made up)."""
    side = {"per_s_median": 5.0, "per_s_min": 4.0, "per_s_max": 6.0}
    fast = {"per_s_median": 50.0, "per_s_min": 40.0, "per_s_max": 60.0}
    run = {"p50_s": 0.4, "p95_s": 0.5}
    return {
        "started_at": "2026-12-06T12:00:00+00:00",
        "scale": 1.0,
        "machine": {"cpus": 2, "load_average": [1.0, 1.2, 1.3]},
        "benchmarks": {
            "workflow_throughput": {
                "throughput": [
                    {"k": k, "baseline": fast, "lethe": side, "ratio_median": 0.1}
                    for k in (1, 4, 16)
                ]
            },
            "shop_job": {"shop": {"one_at_a_time": run, "lethe": [run, run], "baseline": [run]}},
            "parked_requests": {
                "parked": {
                    "series": [
                        {"parked": n, "worker_rss_mib": 150 + n / 100, "server_rss_mib": 250}
                        for n in (0, 1000, 10000)
                    ]
                }
            },
            "cli_startup": {
                "startup": [
                    {"command": c, "best_s": 0.3, "median_s": 0.35, "baseline_best_s": 0.05}
                    for c in ("lethe --help", "lethe status ID")
                ]
            },
            "sql_million": {
                "sql": [
                    {
                        "key": "email",
                        "policy": "email: lower(email) = :w",
                        "erase_p50_ms": 20.0,
                        "erase_p95_ms": 30.0,
                        "verify_p50_ms": 300.0,
                        "baseline_p50_ms": 3.0,
                        "plan": "Index Scan using people_email_lower on people",
                    }
                ]
            },
        },
    }


@pytest.mark.slow  # drawing takes a few seconds
def test_every_panel_is_drawn_when_every_benchmark_ran(tmp_path: Path) -> None:
    out = tmp_path / "results.png"
    drawn = draw(full_results(), out)
    assert drawn == [name for name, _title, _bench in PANELS]
    assert panels_of(out) == (set(drawn), set())


@pytest.mark.slow  # drawing takes a few seconds
def test_a_benchmark_that_did_not_run_or_skipped_itself_is_not_measured(tmp_path: Path) -> None:
    results = full_results()
    del results["benchmarks"]["parked_requests"]
    del results["benchmarks"]["cli_startup"]
    # No PostgreSQL: the shop job writes a note and no figures.
    results["benchmarks"]["shop_job"] = {"notes": ["skipped: no PostgreSQL"], "measurements": []}
    out = tmp_path / "results.png"
    draw(results, out)
    assert panels_of(out) == ({"throughput", "sql"}, {"latency", "memory", "cli_startup"})


@pytest.mark.slow  # drawing takes a few seconds
def test_the_module_draws_from_an_existing_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(full_results()))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"chart: {tmp_path / 'results.png'} (panels: ")
    assert panels_of(tmp_path / "results.png")[1] == set()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "not a results file"),
        ('{"benchmarks": {"workflow_throughput": {"throughput": "fast"}}}', "throughput"),
        ('{"benchmarks": {"sql_million": {"sql": [{"key": "email"}]}}}', "erase_p50_ms"),
        (
            '{"benchmarks": {"cli_startup": {"startup": [{"command": "x", "best_s": "0.3",'
            ' "median_s": 0.3}]}}}',
            "best_s: not a number",
        ),
    ],
)
def test_a_bad_results_file_is_one_line_and_writes_nothing(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench.chart", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "results.png").exists()


def test_load_refuses_a_file_without_benchmarks(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"scale": 1}')
    with pytest.raises(BadResults, match="no benchmarks"):
        load(path)
