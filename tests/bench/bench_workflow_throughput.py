"""Throughput of Lethe's orchestration against bare Temporal on the same dev server.

Baseline: N workflows of four no-op activities each, on the bare dev server (the shape the
reference numbers in ../shared/REFERENCES.md were measured with). Lethe: N erasure requests
over four systems whose connectors answer at once, through the real intake, vault, ledger
(SQLite) and workflows. Both run in this process, one after the other, on the same server;
the result that matters is the ratio, not the absolute rate (the machine is shared).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from temporalio import activity, workflow
from temporalio.worker import Worker

from tests.bench import Bench, Measurement

__all__ = ["ThroughputResult", "measure", "run"]


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
class ThroughputResult:
    requests: int
    baseline_per_s: float
    lethe_per_s: float

    @property
    def ratio(self) -> float:
        return self.lethe_per_s / self.baseline_per_s


SYSTEMS = ["forum", "crm", "newsletter", "backups"]


async def _baseline(client: object, n: int) -> float:
    from temporalio.client import Client

    assert isinstance(client, Client)
    queue = f"bench-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BenchBaselineWorkflow],
        activities=[bench_noop],
        max_concurrent_activities=50,
    ):
        start = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    BenchBaselineWorkflow.run, SYSTEMS, id=f"bench-{uuid.uuid4()}", task_queue=queue
                )
                for _ in range(n)
            )
        )
        await asyncio.gather(*(h.result() for h in handles))
        return n / (time.perf_counter() - start)


async def _lethe(client: object, n: int, home: Path, database_url: str | None = None) -> float:
    from temporalio.client import Client

    import worker as worker_module
    from connectors import BaseConnector, NotFound, Outcome, Subject
    from lethe.intake import Submitted, submit_request
    from lethe.keys import load_keyring, load_signing_key
    from lethe.runtime import open_ledger
    from lethe.settings import Settings, SystemConfig, TemporalSettings
    from tests.support.portal import portal_verification, preverified_draft
    from workflows import ErasureWorkflow

    assert isinstance(client, Client)

    class Instant(BaseConnector):
        kind: ClassVar[str] = "instant"

        async def erase(self, subject: Subject, request_id: str) -> Outcome:
            return NotFound()

    queue = f"bench-{uuid.uuid4()}"
    settings = Settings(
        home=home,
        database_url=database_url or f"sqlite+aiosqlite:///{home / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=queue),
        systems={s: SystemConfig(s, "instant", {}) for s in SYSTEMS},
        verification=portal_verification(),
    )
    keys = load_keyring(home, create=True)
    ledger = await open_ledger(settings, keys)
    connectors = {s: Instant(s, BaseConnector.Options()) for s in SYSTEMS}
    try:
        async with worker_module.build_worker(
            client,
            task_queue=queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=load_signing_key(home, create=True),
        ):
            start = time.perf_counter()
            gate = asyncio.Semaphore(20)  # like an intake API under load, not one CLI call

            async def one(i: int) -> Submitted:
                async with gate:
                    draft = preverified_draft(settings, f"bench-{i}@example.org")
                    return await submit_request(
                        draft, settings=settings, ledger=ledger, client=client, keys=keys
                    )

            submitted = await asyncio.gather(*(one(i) for i in range(n)))
            await asyncio.gather(
                *(
                    client.get_workflow_handle_for(ErasureWorkflow.run, s.workflow_id).result()
                    for s in submitted
                )
            )
            return n / (time.perf_counter() - start)
    finally:
        await ledger.dispose()


async def measure(n: int = 100) -> ThroughputResult:
    from lethe.devserver import DevServer
    from lethe.keys import load_keyring
    from lethe.runtime import connect_when_ready
    from lethe.settings import Settings, TemporalSettings

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        async with DevServer() as server:
            settings = Settings(
                home=home, database_url="", temporal=TemporalSettings(address=server.address)
            )
            client = await connect_when_ready(settings, load_keyring(home, create=True))
            await _baseline(client, min(n, 10))  # warm up the server and the worker code paths
            baseline = await _baseline(client, n)
            lethe = await _lethe(client, n, home)
    return ThroughputResult(n, baseline, lethe)


async def run(bench: Bench) -> None:
    """``make bench`` entry: seconds per request, Lethe against bare Temporal."""
    from lethe.logs import configure_logging

    configure_logging(level="WARNING")
    r = await measure(bench.scaled(100))
    base = "bare Temporal: 1 workflow, 4 no-op activities"
    bench.notes.append(f"{r.requests} requests x 4 systems, in-memory dev server, SQLite ledger")
    bench.results.append(Measurement(base, 1 / r.baseline_per_s, None))
    bench.results.append(
        Measurement("Lethe: intake, vault, ledger, 1+4 workflows", 1 / r.lethe_per_s, base)
    )
