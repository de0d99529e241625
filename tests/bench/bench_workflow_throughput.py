"""Throughput of Lethe's orchestration against bare Temporal on the same dev server, K = 1, 4, 16.

Baseline: N workflows of K no-op activities each, on the bare dev server (the shape the
reference numbers in ../shared/REFERENCES.md were measured with). Lethe: N erasure requests
over K systems whose connectors answer at once, through the real intake, vault, ledger
(SQLite) and workflows. Both run in this process on the same server, interleaved (for each
round and each K, one baseline run and one Lethe run, their order alternating by round), so
the load from other work on the machine hits both; the result that matters is the ratio of
each pair, not the absolute rate (the machine is shared).

Besides wall time it records CPU seconds per request: this process's (client, worker,
intake) and the dev server's.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests.bench import Bench

__all__ = ["KS", "REQUESTS", "Run", "ThroughputResult", "measure", "run"]

#: The numbers of systems (no-op activities) a request goes to.
KS = (1, 4, 16)
#: Lethe's requests per run at full scale, for each K (fewer at 16: each is 17 executions).
REQUESTS = {1: 60, 4: 60, 16: 30}


@activity.defn(name="bench_noop")
async def bench_noop(system: str) -> str:
    return system


@workflow.defn(name="BenchBaselineWorkflow", sandboxed=False)
class BenchBaselineWorkflow:
    @workflow.run
    async def run(self, systems: list[str]) -> int:
        done = await asyncio.gather(
            *(
                workflow.execute_activity(
                    bench_noop, s, start_to_close_timeout=timedelta(seconds=30)
                )
                for s in systems
            )
        )
        return len(done)


@dataclass(frozen=True)
class Run:
    """One timed run: ``requests`` workflows (or erasure requests) to their end."""

    requests: int
    seconds: float
    cpu_s: float  # this process: client, worker (and for Lethe: intake, ledger)
    server_cpu_s: float | None  # the dev server, when it can be read (/proc)

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class ThroughputResult:
    k: int
    baseline: tuple[Run, ...]
    lethe: tuple[Run, ...]  # lethe[i] was measured next to baseline[i]

    @property
    def ratios(self) -> list[float]:
        """Lethe's throughput over the baseline's, pair by pair."""
        return [le.per_s / b.per_s for b, le in zip(self.baseline, self.lethe, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def to_json(self) -> dict[str, Any]:
        def side(runs: tuple[Run, ...]) -> dict[str, Any]:
            rates = [r.per_s for r in runs]
            server = [r.server_cpu_s / r.requests for r in runs if r.server_cpu_s is not None]
            return {
                "requests_per_run": runs[0].requests,
                "per_s": rates,
                "per_s_median": statistics.median(rates),
                "per_s_min": min(rates),
                "per_s_max": max(rates),
                "cpu_s_per_request": [r.cpu_s / r.requests for r in runs],
                "server_cpu_s_per_request": server or None,
            }

        return {
            "k": self.k,
            "baseline": side(self.baseline),
            "lethe": side(self.lethe),
            "ratios": self.ratios,
            "ratio_median": self.ratio,
            "ratio_min": min(self.ratios),
            "ratio_max": max(self.ratios),
        }


def systems(k: int) -> list[str]:
    return [f"system-{i:02d}" for i in range(k)]


def _cpu_of(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far, from /proc (None where there is none)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(n: int, server_pid: int | None, body: Callable[[], Awaitable[None]]) -> Run:
    server0, cpu0, start = _cpu_of(server_pid), time.process_time(), time.perf_counter()
    await body()
    seconds, cpu, server1 = (
        time.perf_counter() - start,
        time.process_time() - cpu0,
        _cpu_of(server_pid),
    )
    server = server1 - server0 if server0 is not None and server1 is not None else None
    return Run(n, seconds, cpu, server)


async def _baseline(client: Client, n: int, k: int, server_pid: int | None = None) -> Run:
    queue = f"bench-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BenchBaselineWorkflow],
        activities=[bench_noop],
        max_concurrent_activities=50,
    ):

        async def body() -> None:
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        BenchBaselineWorkflow.run,
                        systems(k),
                        id=f"bench-{uuid.uuid4()}",
                        task_queue=queue,
                    )
                    for _ in range(n)
                )
            )
            await asyncio.gather(*(h.result() for h in handles))

        return await _timed(n, server_pid, body)


async def _lethe(
    client: Client,
    n: int,
    k: int,
    home: Path,
    server_pid: int | None = None,
    database_url: str | None = None,
) -> Run:
    import worker as worker_module
    from connectors import BaseConnector, NotFound, Outcome, Subject
    from lethe.intake import Submitted, submit_request
    from lethe.keys import load_keyring, load_signing_key
    from lethe.runtime import open_ledger
    from lethe.settings import Settings, SystemConfig, TemporalSettings
    from tests.support.portal import portal_verification, preverified_draft
    from workflows import ErasureWorkflow

    class Instant(BaseConnector):
        kind: ClassVar[str] = "instant"

        async def erase(self, subject: Subject, request_id: str) -> Outcome:
            return NotFound()

    queue = f"bench-{uuid.uuid4()}"
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        home=home,
        database_url=database_url or f"sqlite+aiosqlite:///{home / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=queue),
        systems={s: SystemConfig(s, "instant", {}) for s in systems(k)},
        verification=portal_verification(),
    )
    keys = load_keyring(home, create=True)
    ledger = await open_ledger(settings, keys)
    connectors = {s: Instant(s, BaseConnector.Options()) for s in systems(k)}
    try:
        async with worker_module.build_worker(
            client,
            task_queue=queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=load_signing_key(home, create=True),
        ):
            gate = asyncio.Semaphore(20)  # like an intake API under load, not one CLI call

            async def one(i: int) -> Submitted:
                async with gate:
                    draft = preverified_draft(settings, f"bench-{i}@example.org")
                    return await submit_request(
                        draft, settings=settings, ledger=ledger, client=client, keys=keys
                    )

            async def body() -> None:
                submitted = await asyncio.gather(*(one(i) for i in range(n)))
                await asyncio.gather(
                    *(
                        client.get_workflow_handle_for(ErasureWorkflow.run, s.workflow_id).result()
                        for s in submitted
                    )
                )

            return await _timed(n, server_pid, body)
    finally:
        await ledger.dispose()


def rounds_for(scale: float) -> int:
    """Interleaved rounds per K: 3 at full scale, 1 when developing at a small one."""
    return max(1, min(3, round(3 * scale)))


async def measure(
    requests: Mapping[int, int],
    *,
    rounds: int = 3,
    baseline_factor: int = 2,
    progress: Callable[[str], None] | None = None,
) -> list[ThroughputResult]:
    """``rounds`` pairs of runs for each K in ``requests`` (K: Lethe's requests per run), the
    pairs interleaved. A baseline run starts ``baseline_factor`` times as many workflows: it is
    that much faster, and a run of a second or two would measure mostly the machine's mood."""
    from lethe.devserver import DevServer
    from lethe.keys import load_keyring
    from lethe.runtime import connect_when_ready
    from lethe.settings import Settings, TemporalSettings

    ks = sorted(requests)
    runs: dict[int, tuple[list[Run], list[Run]]] = {k: ([], []) for k in ks}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        async with DevServer() as server:
            pid = server.process.pid if server.process else None
            settings = Settings(
                home=home, database_url="", temporal=TemporalSettings(address=server.address)
            )
            client = await connect_when_ready(settings, load_keyring(home, create=True))
            # Warm up the server and both worker code paths before anything is timed.
            await _baseline(client, 10, max(ks))
            await _lethe(client, min(requests[max(ks)], 5), max(ks), home / "warm-up")
            for r in range(rounds):
                for k in ks:
                    base, lethe = runs[k]

                    async def b(k: int = k, base: list[Run] = base) -> None:
                        base.append(await _baseline(client, baseline_factor * requests[k], k, pid))

                    async def le(k: int = k, lethe: list[Run] = lethe, r: int = r) -> None:
                        lethe.append(await _lethe(client, requests[k], k, home / f"k{k}-r{r}", pid))

                    for step in (b, le) if r % 2 == 0 else (le, b):
                        await step()
                    if progress:
                        progress(
                            f"round {r + 1}/{rounds} K={k}: bare {base[-1].per_s:.1f}/s,"
                            f" Lethe {lethe[-1].per_s:.1f}/s"
                        )
    return [ThroughputResult(k, tuple(runs[k][0]), tuple(runs[k][1])) for k in ks]


def _server_cpu(r: ThroughputResult) -> str:
    lethe = [x.server_cpu_s / x.requests for x in r.lethe if x.server_cpu_s is not None]
    base = [x.server_cpu_s / x.requests for x in r.baseline if x.server_cpu_s is not None]
    if not lethe or not base:
        return ""
    return (
        f", in the dev server {statistics.median(lethe) * 1000:.0f} ms against"
        f" {statistics.median(base) * 1000:.1f} ms"
    )


async def run(bench: Bench) -> None:
    """``make bench`` entry: seconds per request for each K, Lethe against bare Temporal."""
    import sys

    from lethe.logs import configure_logging

    configure_logging(level="ERROR")  # no mailer: every request warns of it
    requests, rounds = {k: bench.scaled(n) for k, n in REQUESTS.items()}, rounds_for(bench.scale)
    results = await measure(
        requests, rounds=rounds, progress=lambda line: print(f"   .. {line}", file=sys.stderr)
    )
    bench.notes.append(
        f"Lethe requests per run (bare Temporal: twice as many workflows)"
        f" {', '.join(f'K={k}: {n}' for k, n in requests.items())}; {rounds} interleaved"
        f" round(s) per K; in-memory dev server, SQLite ledger; ratio = Lethe's requests/s"
        f" over bare Temporal's, pair by pair"
    )
    for r in results:
        base = f"K={r.k:<2} bare Temporal: 1 workflow, {r.k} no-op activities"
        bench.record(base, [run.seconds / run.requests for run in r.baseline])
        bench.record(
            f"K={r.k:<2} Lethe: intake, vault, ledger, 1+{r.k} workflows",
            [run.seconds / run.requests for run in r.lethe],
            baseline=base,
        )
        lethe_cpu = statistics.median(run.cpu_s / run.requests for run in r.lethe)
        base_cpu = statistics.median(run.cpu_s / run.requests for run in r.baseline)
        bench.notes.append(
            f"K={r.k:<2} Lethe {statistics.median(x.per_s for x in r.lethe):.1f} requests/s"
            f" against {statistics.median(x.per_s for x in r.baseline):.1f}: throughput ratio"
            f" {r.ratio:.3f}x (min {min(r.ratios):.3f}, max {max(r.ratios):.3f});"
            f" CPU per request in this process {lethe_cpu * 1000:.0f} ms against"
            f" {base_cpu * 1000:.1f} ms{_server_cpu(r)}"
        )
    bench.data["throughput"] = [r.to_json() for r in results]
