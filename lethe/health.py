"""The worker's ``/metrics``, ``/healthz`` and ``/readyz``, on ``[worker] metrics_port``.

    /metrics   the Temporal SDK's metrics (its runtime's Prometheus exporter, on a loopback
               port of its own, read and passed on) followed by Lethe's gauges from the ledger
               (``ledger.gauges``): requests by status, overdue, due within 7 days, systems
               failed, proof-log size, unsealed events and the oldest one's age, verifications
    /healthz   200 while the process answers
    /readyz    200 once the worker polls its task queue and while the ledger answers; else 503

No label carries a request id or an identifier: statuses only.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.gauges import LedgerGauges, read_gauges

from .errors import ConfigError

__all__ = ["HealthServer", "render_gauges"]

log = structlog.get_logger("lethe.health")


def render_gauges(g: LedgerGauges) -> str:
    """Lethe's gauges in the Prometheus text format."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    gauge(
        "lethe_requests",
        "Requests in the ledger, by status.",
        [(f'{{status="{s}"}}', n) for s, n in sorted(g.requests_by_status.items())],
    )
    gauge("lethe_requests_overdue", "Open requests past their answer deadline.", [("", g.overdue)])
    gauge(
        "lethe_requests_due_within_7_days",
        "Open requests whose answer deadline is within 7 days.",
        [("", g.due_within_7_days)],
    )
    gauge(
        "lethe_systems_failed",
        "Failed system outcomes on requests still open.",
        [("", g.systems_failed)],
    )
    gauge(
        "lethe_proof_log_leaves", "Receipts sealed into the proof log.", [("", g.proof_log_leaves)]
    )
    gauge("lethe_unsealed_events", "Ledger events not sealed yet.", [("", g.unsealed_events)])
    gauge(
        "lethe_seal_lag_seconds",
        "Age of the oldest ledger event not sealed yet (0: none).",
        [("", g.oldest_unsealed_seconds)],
    )
    gauge("lethe_verifications", "Requests whose identity was verified.", [("", g.verified)])
    return "\n".join(lines) + "\n"


class HealthServer:
    """Serves the three paths on a thread; the ledger is read on the worker's event loop."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        bind: str,
        port: int,
        sdk_metrics_url: str | None,
        is_ready: Callable[[], bool],
    ) -> None:
        self._engine = engine
        self._sdk = sdk_metrics_url
        self._ready = is_ready
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            self._server = ThreadingHTTPServer((bind, port), self._handler())
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {bind}:{port}: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        log.info("metrics.serving", port=self.port)

    async def stop(self) -> None:
        await asyncio.to_thread(self._server.shutdown)
        self._server.server_close()

    def _on_loop(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=20)

    async def _ledger_answers(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    def metrics(self) -> str:
        sdk = ""
        if self._sdk is not None:
            try:
                with urllib.request.urlopen(self._sdk, timeout=10) as resp:  # noqa: S310 (loopback)
                    sdk = resp.read().decode()
            except OSError as exc:
                log.warning("metrics.sdk_unreadable", error=type(exc).__name__)
        gauges = self._on_loop(read_gauges(self._engine, datetime.now(UTC)))
        return (sdk.rstrip("\n") + "\n" if sdk else "") + render_gauges(gauges)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        health = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "lethe-worker"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, text: str, kind: str = "text/plain") -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        self._send(200, "ok\n")
                    elif path == "/readyz":
                        ready = health._ready() and health._on_loop(health._ledger_answers())
                        self._send(200 if ready else 503, "ready\n" if ready else "not ready\n")
                    elif path == "/metrics":
                        self._send(200, health.metrics(), "text/plain; version=0.0.4")
                    else:
                        self._send(404, "not found: /metrics, /healthz, /readyz\n")
                except Exception as exc:  # a scrape must never take the worker down
                    log.warning("metrics.failed", path=path, error=type(exc).__name__)
                    self._send(503, "unavailable\n")

        return Handler
