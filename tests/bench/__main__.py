"""`make bench`: benchmarks reported as ratios against a baseline measured in the same run.

Never timed assertions: the machine is shared and noisy; a ratio of two numbers measured
moments apart on the same machine is what can be compared between runs.
"""

from __future__ import annotations

import argparse
import asyncio

from lethe.logs import configure_logging

from . import workflow_throughput


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--requests", type=int, default=100, help="requests per measurement")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    r = asyncio.run(workflow_throughput.measure(args.requests))
    print(
        f"workflow throughput: {r.requests} requests x 4 systems on the dev server\n"
        f"  bare Temporal (4 no-op activities per workflow): {r.baseline_per_s:6.1f} /s\n"
        f"  Lethe (intake, vault, ledger, 1+4 workflows):    {r.lethe_per_s:6.1f} /s\n"
        f"  ratio Lethe / bare:                              {r.ratio:6.2f}"
    )


if __name__ == "__main__":
    main()
