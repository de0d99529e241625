"""The composition root: settings → Temporal client → connectors → a Worker.

Run it with ``lethe worker`` (or ``python worker.py``) against any Temporal cluster; more
workers on the same task queue share the load. Every worker needs the same keys and ledger.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities import (
    DeadlineActivities,
    ErasureActivities,
    Mailer,
    RecordingActivities,
    SmtpConfig,
    SmtpMailer,
    VerificationActivities,
)
from connectors import Connector
from ledger import Ledger
from lethe.runtime import Runtime, connect_when_ready, load_registry
from lethe.settings import Settings, build_connectors, load_settings
from workflows import ALL_WORKFLOWS

__all__ = ["build_mailer", "build_worker", "close_connectors", "main", "run_worker"]

log = structlog.get_logger("lethe.worker")


def build_worker(
    client: Client,
    *,
    task_queue: str,
    ledger: Ledger,
    connectors: Mapping[str, Connector],
    heartbeat_every: float = 5.0,
    max_concurrent_activities: int = 50,
    extra_activities: Sequence[Callable[..., Any]] = (),
    mailer: Mailer | None = None,
) -> Worker:
    """A Worker with every workflow and activity of an erasure registered.

    ``mailer`` carries verification codes and acknowledgements; without one, requests that
    need a code are rejected (the code cannot be sent) and acknowledgements escalate.
    """
    erasure = ErasureActivities(ledger, connectors, heartbeat_every=heartbeat_every)
    recording = RecordingActivities(ledger)
    verification = VerificationActivities(ledger, mailer)
    deadlines = DeadlineActivities(ledger, mailer)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[
            erasure.erase_in_system,
            erasure.poll_system,
            erasure.verify_in_system,
            recording.record_status,
            recording.record_system_failure,
            verification.send_verification_code,
            verification.check_verification_code,
            verification.confirm_portal_assertion,
            deadlines.send_acknowledgement,
            deadlines.record_deadline_event,
            deadlines.record_deadline_extension,
            *extra_activities,
        ],
        max_concurrent_activities=max_concurrent_activities,
    )


def build_mailer(settings: Settings) -> Mailer | None:
    """The SMTP mailer of ``[mail]``, or None when no server is configured."""
    m = settings.mail
    if not m.smtp_host:
        return None
    security: Literal["starttls", "tls", "none"] = (
        "tls" if m.smtp_security == "tls" else "none" if m.smtp_security == "none" else "starttls"
    )
    return SmtpMailer(
        SmtpConfig(
            host=m.smtp_host,
            port=m.smtp_port,
            sender=m.sender,
            security=security,
            username=m.smtp_username,
            password=m.smtp_password,
        )
    )


async def close_connectors(connectors: Mapping[str, Connector]) -> None:
    for name, connector in connectors.items():
        try:
            await connector.aclose()
        except Exception as exc:  # closing must not hide the reason we are stopping
            log.warning("connector.close_failed", system=name, error_type=type(exc).__name__)


async def run_worker(
    settings: Settings, *, stop: asyncio.Event | None = None, mailer: Mailer | None = None
) -> None:
    """Run until ``stop`` is set, or SIGINT/SIGTERM arrives. ``mailer`` overrides ``[mail]``
    (``lethe dev`` passes the console mailer)."""
    connectors = build_connectors(settings.systems, load_registry())
    runtime = await Runtime.open(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await connect_when_ready(settings, runtime.keys, within=10.0)
        worker = build_worker(
            client,
            task_queue=settings.temporal.task_queue,
            ledger=runtime.ledger,
            connectors=connectors,
            mailer=mailer or build_mailer(settings),
        )
        async with worker:
            log.warning(
                "worker.started",
                address=settings.temporal.address,
                namespace=settings.temporal.namespace,
                task_queue=settings.temporal.task_queue,
                systems=sorted(connectors),
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await close_connectors(connectors)
        await runtime.close()


def main() -> None:
    from lethe.logs import configure_logging

    configure_logging()
    asyncio.run(run_worker(load_settings()))


if __name__ == "__main__":
    main()
