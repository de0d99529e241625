"""The `shop` job end to end, against a bare Temporal workflow doing the same masking.

A PostgreSQL database ``lethe_bench_shop_<pid>`` is made for the run (and dropped after):
``customer`` (1,000 rows: email, name, address) and ``orders`` (3,000 rows: customer_id,
shipping_address). Each subject is erased by email: their customer row loses email, name and
address, their orders lose the shipping address and keep the link to the (now anonymous)
customer row (``keep_key``).

    baseline   one bare Temporal workflow per subject, one activity running the two UPDATEs
               (what a hand-written job does: no verification, no record, no proof)
    Lethe      the real path: intake (vault, ledger, deadlines) of a portal-verified request,
               the request's workflow, the ``sql`` connector (match confirmed in Python, one
               transaction with its receipt, verification after commit), the final status,
               the sealed proof log; a PostgreSQL ledger

Both run in this process on the same dev server, on different subjects, interleaved by round.
Afterwards every row that belongs to no erased subject is compared with the snapshot taken
before: byte-identical, or the run fails. Reported: requests/s (and their ratio), p50/p95 of
the submit → finished latency, CPU seconds per request (this process, the dev server), the RSS
of this process (client, intake, worker) and of the dev server.

Last, one request at a time: the client's submit → result latency (intake included), and the
server side's, read from the ledger afterwards: from each request's ``verified`` event (the
identity gate passed) to its ``sealed`` event (its receipts in the proof log), the span issue
11's "verified → sealed" target is on.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests.bench import Bench
from tests.bench.postgres import postgres_reachable, scratch_database

__all__ = ["CUSTOMERS", "SUBJECTS", "ShopRun", "run"]

CUSTOMERS = 1_000
ORDERS_PER_CUSTOMER = 3
#: Subjects erased per run at full scale, by each side.
SUBJECTS = 100


def email_of(i: int) -> str:
    return f"customer-{i:04d}@shop.example"


@dataclass(frozen=True)
class ShopRun:
    requests: int
    seconds: float
    latencies: tuple[float, ...]
    cpu_s: float
    server_cpu_s: float | None
    #: Each request's ``verified`` → ``sealed`` span, from the ledger's event times.
    verified_to_sealed: tuple[float, ...] = ()

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "per_s": self.per_s,
            "p50_s": _pct(self.latencies, 50),
            "p95_s": _pct(self.latencies, 95),
            "cpu_s_per_request": self.cpu_s / self.requests,
            "server_cpu_s_per_request": (
                None if self.server_cpu_s is None else self.server_cpu_s / self.requests
            ),
            "verified_to_sealed_p50_s": (
                _pct(self.verified_to_sealed, 50) if self.verified_to_sealed else None
            ),
            "verified_to_sealed_p95_s": (
                _pct(self.verified_to_sealed, 95) if self.verified_to_sealed else None
            ),
        }


def _pct(values: tuple[float, ...], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p / 100))]


def _proc(pid: int | None, field: str) -> float | None:
    if pid is None:
        return None
    try:
        if field == "cpu":
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # MiB
    except OSError:
        return None
    return None


@asynccontextmanager
async def shop_database() -> AsyncIterator[str]:
    """A fresh shop database, filled; its asyncpg-free URL (``postgresql://…``). Dropped after."""
    import asyncpg

    async with scratch_database("shop") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE customer (id integer PRIMARY KEY, email text, name text,"
                " address text);"
                "CREATE INDEX customer_email ON customer (email);"
                "CREATE TABLE orders (id integer PRIMARY KEY,"
                " customer_id integer REFERENCES customer (id), shipping_address text);"
                "CREATE INDEX orders_customer ON orders (customer_id);"
            )
            await conn.copy_records_to_table(
                "customer",
                records=[
                    (i, email_of(i), f"Customer {i}", f"{i} Market Street")
                    for i in range(CUSTOMERS)
                ],
            )
            await conn.copy_records_to_table(
                "orders",
                records=[
                    (i * ORDERS_PER_CUSTOMER + j, i, f"{i} Market Street, parcel {j}")
                    for i in range(CUSTOMERS)
                    for j in range(ORDERS_PER_CUSTOMER)
                ],
            )
        finally:
            await conn.close()
        yield url


async def snapshot(url: str) -> dict[str, dict[int, tuple[Any, ...]]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {
            table: {r[0]: tuple(r) for r in await conn.fetch(f"SELECT * FROM {table}")}
            for table in ("customer", "orders")
        }
    finally:
        await conn.close()


def check_bystanders(
    before: dict[str, dict[int, tuple[Any, ...]]],
    after: dict[str, dict[int, tuple[Any, ...]]],
    erased: set[int],
) -> None:
    """Every row of a customer not erased is as it was; every erased one is anonymous."""
    for cid, row in before["customer"].items():
        now = after["customer"][cid]
        if cid in erased:
            if now[1:] != (None, None, None):
                raise AssertionError(f"customer {cid} was to be anonymised: {now[1:]!r}")
        elif now != row:
            raise AssertionError(f"customer {cid} is a bystander and changed")
    for oid, row in before["orders"].items():
        now = after["orders"][oid]
        if row[1] in erased:
            if now != (row[0], row[1], None):
                raise AssertionError(f"order {oid} was to lose its address only: {now!r}")
        elif now != row:
            raise AssertionError(f"order {oid} is a bystander's and changed")


# --- the baseline: a hand-written job on bare Temporal -------------------------------------

_POOL: dict[str, Any] = {}


@activity.defn(name="bench_shop_mask")
async def bench_shop_mask(email: str) -> int:
    pool = _POOL["pool"]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE orders SET shipping_address = NULL WHERE customer_id IN"
            " (SELECT id FROM customer WHERE email = $1)",
            email,
        )
        done = await conn.execute(
            "UPDATE customer SET email = NULL, name = NULL, address = NULL WHERE email = $1",
            email,
        )
    return int(done.split()[-1])


@workflow.defn(name="BenchShopBaselineWorkflow", sandboxed=False)
class BenchShopBaselineWorkflow:
    @workflow.run
    async def run(self, email: str) -> int:
        return await workflow.execute_activity(
            bench_shop_mask, email, start_to_close_timeout=timedelta(seconds=30)
        )


async def _timed(
    n: int,
    server_pid: int | None,
    each: Callable[[int], Any],
    subjects: range,
    at_once: int = 20,  # like a portal's intake under load; 1: one request at a time
) -> ShopRun:
    latencies: list[float] = []
    gate = asyncio.Semaphore(at_once)

    async def one(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            await each(i)
            latencies.append(time.perf_counter() - start)

    server0, cpu0, start = _proc(server_pid, "cpu"), time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in subjects))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    server1 = _proc(server_pid, "cpu")
    server = server1 - server0 if server0 is not None and server1 is not None else None
    return ShopRun(n, seconds, tuple(latencies), cpu, server)


async def baseline(client: Client, shop_url: str, subjects: range, pid: int | None) -> ShopRun:
    import asyncpg

    queue = f"bench-shop-{uuid.uuid4()}"
    _POOL["pool"] = await asyncpg.create_pool(shop_url, min_size=2, max_size=10)
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[BenchShopBaselineWorkflow],
            activities=[bench_shop_mask],
        ):

            async def each(i: int) -> None:
                done = await client.execute_workflow(
                    BenchShopBaselineWorkflow.run,
                    email_of(i),
                    id=f"bench-shop-{uuid.uuid4()}",
                    task_queue=queue,
                )
                assert done == 1, done

            return await _timed(len(subjects), pid, each, subjects)
    finally:
        await _POOL.pop("pool").close()


# --- Lethe ---------------------------------------------------------------------------------


async def lethe(
    client: Client,
    shop_url: str,
    ledger_url: str,
    home: Path,
    subjects: range,
    pid: int | None,
    at_once: int = 20,
) -> ShopRun:
    import worker as worker_module
    from connectors import ConnectorRegistry
    from connectors.sql import SqlConnector
    from lethe.intake import submit_request
    from lethe.keys import load_keyring, load_signing_key
    from lethe.runtime import open_ledger
    from lethe.settings import Settings, SystemConfig, TemporalSettings
    from tests.support.portal import portal_verification, preverified_draft
    from workflows import ErasureWorkflow

    options = {
        "url": shop_url,
        "tables": [
            {
                "table": "customer",
                "key": "email",
                "identifier": "email",
                "action": "anonymize",
                "nullify": ["email", "name", "address"],
            },
            {
                "table": "orders",
                "key": "customer_id",
                "parent": "customer.id",
                "action": "anonymize",
                "keep_key": True,
                "nullify": ["shipping_address"],
            },
        ],
    }
    queue = f"bench-shop-{uuid.uuid4()}"
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        home=home,
        database_url=ledger_url,
        temporal=TemporalSettings(task_queue=queue),
        systems={"shop": SystemConfig("shop", "sql", options)},
        verification=portal_verification(),
    )
    keys = load_keyring(home, create=True)
    ledger = await open_ledger(settings, keys)
    connector = ConnectorRegistry({"sql": SqlConnector}).build("shop", "sql", options)
    try:
        async with worker_module.build_worker(
            client,
            task_queue=queue,
            ledger=ledger,
            connectors={"shop": connector},
            signing_key=load_signing_key(home, create=True),
        ):
            request_ids: list[str] = []

            async def each(i: int) -> None:
                draft = preverified_draft(settings, email_of(i))
                submitted = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys
                )
                request_ids.append(submitted.request_id)
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, submitted.workflow_id)
                result = await handle.result()
                assert result.status == "completed", result

            timed = await _timed(len(subjects), pid, each, subjects, at_once)
        spans = await verified_to_sealed(ledger, request_ids)
        return replace(timed, verified_to_sealed=spans)
    finally:
        await connector.aclose()
        await ledger.dispose()


async def verified_to_sealed(ledger: Any, request_ids: list[str]) -> tuple[float, ...]:
    """Each request's span from its ``verified`` event to its first ``sealed`` one, in the
    ledger's own times (written by the worker's activities: the server side of a request)."""
    import sqlalchemy as sa

    from ledger.tables import RequestEvent

    e = RequestEvent.__table__
    query = (
        sa.select(e.c.request_id, e.c.kind, sa.func.min(e.c.at))
        .where(e.c.request_id.in_(request_ids), e.c.kind.in_(("verified", "sealed")))
        .group_by(e.c.request_id, e.c.kind)
    )
    async with ledger.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    at: dict[str, dict[str, Any]] = {}
    for request_id, kind, when in rows:
        at.setdefault(request_id, {})[kind] = when
    spans = [
        (times["sealed"] - times["verified"]).total_seconds()
        for times in at.values()
        if {"verified", "sealed"} <= times.keys()
    ]
    assert len(spans) == len(request_ids), (len(spans), len(request_ids))
    return tuple(spans)


@asynccontextmanager
async def ledger_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the ledger: its SQLAlchemy URL. Dropped after."""
    async with scratch_database("ledger") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def run(bench: Bench) -> None:
    """``make bench`` entry: the shop job, Lethe against a bare Temporal job."""
    from lethe.devserver import DevServer
    from lethe.keys import load_keyring
    from lethe.logs import configure_logging
    from lethe.runtime import connect_when_ready
    from lethe.settings import Settings, TemporalSettings

    if not postgres_reachable():
        bench.notes.append("skipped: no PostgreSQL on 127.0.0.1:5432 (the shop job needs one)")
        return
    configure_logging(level="ERROR")
    n = max(1, min(CUSTOMERS // 5, bench.scaled(SUBJECTS)))
    rounds = 2 if bench.scale >= 0.5 else 1
    base_runs: list[ShopRun] = []
    lethe_runs: list[ShopRun] = []
    rss: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        async with shop_database() as shop_url, ledger_database() as ledger_url, DevServer() as srv:
            pid = srv.process.pid if srv.process else None
            settings = Settings(
                home=home, database_url="", temporal=TemporalSettings(address=srv.address)
            )
            client = await connect_when_ready(settings, load_keyring(home, create=True))
            before = await snapshot(shop_url)
            erased: set[int] = set()
            next_subject = 0

            def take() -> range:
                nonlocal next_subject
                subjects = range(next_subject, next_subject + n)
                next_subject += n
                erased.update(subjects)
                return subjects

            for r in range(rounds):

                async def b() -> None:
                    base_runs.append(await baseline(client, shop_url, take(), pid))

                async def le(r: int = r) -> None:
                    lethe_runs.append(
                        await lethe(client, shop_url, ledger_url, home / f"r{r}", take(), pid)
                    )

                for step in (b, le) if r % 2 == 0 else (le, b):
                    await step()
            # One at a time, the machine otherwise idle: a single request's latency.
            alone = await lethe(client, shop_url, ledger_url, home / "alone", take(), pid, 1)
            check_bystanders(before, await snapshot(shop_url), erased)
            rss = {
                "this_process_mib": _proc(os.getpid(), "rss"),
                "dev_server_mib": _proc(pid, "rss"),
            }

    ratios = [le.per_s / b.per_s for b, le in zip(base_runs, lethe_runs, strict=True)]
    bench.record(
        "shop: bare Temporal job, 1 workflow + 1 activity (2 UPDATEs)",
        [x.seconds / x.requests for x in base_runs],
    )
    bench.record(
        "shop: Lethe request: intake, erase, verify, record, seal (PostgreSQL ledger)",
        [x.seconds / x.requests for x in lethe_runs],
        baseline="shop: bare Temporal job, 1 workflow + 1 activity (2 UPDATEs)",
    )
    lat = tuple(t for x in lethe_runs for t in x.latencies)
    base_lat = tuple(t for x in base_runs for t in x.latencies)
    bench.notes.append(
        f"shop job: {n} subjects per run, {rounds} interleaved round(s), 20 at a time;"
        f" {CUSTOMERS} customers, {CUSTOMERS * ORDERS_PER_CUSTOMER} orders; every other row"
        f" byte-identical afterwards (checked)"
    )
    bench.notes.append(
        f"shop: Lethe {statistics.median(x.per_s for x in lethe_runs):.1f} requests/s against"
        f" {statistics.median(x.per_s for x in base_runs):.1f} for the bare job: ratio"
        f" {statistics.median(ratios):.3f}x; latency p50 {_pct(lat, 50) * 1000:.0f} ms,"
        f" p95 {_pct(lat, 95) * 1000:.0f} ms (bare: {_pct(base_lat, 50) * 1000:.0f},"
        f" {_pct(base_lat, 95) * 1000:.0f} ms); CPU per request in this process"
        f" {statistics.median(x.cpu_s / x.requests for x in lethe_runs) * 1000:.0f} ms"
        f" (bare {statistics.median(x.cpu_s / x.requests for x in base_runs) * 1000:.0f} ms);"
        f" RSS this process {rss.get('this_process_mib') or 0:.0f} MiB, dev server"
        f" {rss.get('dev_server_mib') or 0:.0f} MiB"
    )
    bench.notes.append(
        f"shop: one request at a time ({alone.requests}), submit to sealed result:"
        f" p50 {_pct(alone.latencies, 50) * 1000:.0f} ms, p95"
        f" {_pct(alone.latencies, 95) * 1000:.0f} ms (client side: intake included);"
        f" server side, the ledger's verified -> sealed: p50"
        f" {_pct(alone.verified_to_sealed, 50) * 1000:.0f} ms, p95"
        f" {_pct(alone.verified_to_sealed, 95) * 1000:.0f} ms"
    )
    bench.record(
        "shop: one request alone, verified -> sealed (server side, ledger times)",
        list(alone.verified_to_sealed),
    )
    bench.data["shop"] = {
        "subjects_per_run": n,
        "baseline": [x.to_json() for x in base_runs],
        "lethe": [x.to_json() for x in lethe_runs],
        "ratios": ratios,
        "one_at_a_time": alone.to_json(),
        "rss": rss,
    }
