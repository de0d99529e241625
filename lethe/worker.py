"""The composition root: settings → Temporal client → connectors → a Worker.

Run it with ``lethe worker`` (or ``python worker.py``) against any Temporal cluster; more
workers on the same task queue share the load. Every worker needs the same keys and ledger.

It lives in ``lethe`` because the command line composes with it (``lethe worker``, ``lethe
dev``, ``lethe demo``); the top-level ``worker.py`` is only the entry point, and nothing of
Lethe's imports it.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import (
    AlertChannel,
    Alerter,
    ControllerEndpoint,
    DeadlineActivities,
    ErasureActivities,
    MailAlerts,
    Mailer,
    ManualTaskActivities,
    PlanningActivities,
    ProgressActivities,
    RecordingActivities,
    ReferralActivities,
    RefusalActivities,
    RoundActivities,
    SealingActivities,
    SmtpConfig,
    SmtpMailer,
    VerificationActivities,
    WebhookAlerts,
    activity_methods,
    manual_systems,
)
from connectors import Connector
from ledger import Ledger, ProofLog, TreeHeadSigner
from vocabulary import ALERT_EVENTS
from workflows import ALL_WORKFLOWS, SANDBOX_PASSTHROUGH

from .health import HealthServer
from .keys import load_signing_key
from .runtime import Runtime, connect_when_ready, load_registry
from .settings import MAX_CACHED_WORKFLOWS, Settings, build_connectors, load_settings
from .sweeper import install_sweeper

__all__ = [
    "alert_channels",
    "build_mailer",
    "build_worker",
    "close_connectors",
    "controller_endpoints",
    "main",
    "processor_systems",
    "run_worker",
    "workflow_runner",
]

log = structlog.get_logger("lethe.worker")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every Lethe worker (and replayer) runs the workflows in: Temporal's
    default restrictions, with the workflows' data and constant modules passed through
    (``workflows.SANDBOX_PASSTHROUGH``) so a new execution does not rebuild their classes."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    ledger: Ledger,
    connectors: Mapping[str, Connector],
    heartbeat_every: float = 5.0,
    max_concurrent_activities: int = 50,
    max_concurrent_workflow_tasks: int | None = None,
    workflow_task_pollers: int = 5,
    activity_task_pollers: int = 5,
    max_cached_workflows: int = MAX_CACHED_WORKFLOWS,
    graceful_shutdown_seconds: float = 0.0,
    signing_key: Ed25519PrivateKey,
    extra_activities: Sequence[Callable[..., Any]] = (),
    processors: Mapping[str, str] | None = None,
    controllers: Mapping[str, ControllerEndpoint] | None = None,
    shred_grace_days: float = 30.0,
    mailer: Mailer | None = None,
    alerts: Sequence[AlertChannel] = (),
    alert_on: Collection[str] = ALERT_EVENTS,
    alert_backoff_seconds: float = 2.0,
    status_key: bytes | None = None,
) -> Worker:
    """A Worker with every workflow and activity of an erasure registered.

    ``signing_key`` signs the proof log's tree heads; every worker of a ledger must share it
    (``lethe.keys.load_signing_key``). It is required on purpose: heads signed by a key nobody
    kept would make the whole log unverifiable.

    ``processors``: processor-held systems and their controllers; ``controllers``: how each
    controller is notified (see :func:`processor_systems`, :func:`controller_endpoints`).

    ``mailer`` carries verification codes and acknowledgements; without one, requests that
    need a code are rejected (the code cannot be sent) and acknowledgements escalate.

    ``alerts``: the channels that tell operators of the events in ``alert_on`` (see
    :func:`alert_channels`); none: the events are recorded and logged only.

    ``status_key``: the key of requesters' status tokens (``lethe serve``); given, a code's
    mail carries the request's status token.
    """
    alerter = (
        Alerter(ledger, alerts, on=alert_on, backoff=alert_backoff_seconds) if alerts else None
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[
            *activity_methods(
                ErasureActivities(
                    ledger, connectors, heartbeat_every=heartbeat_every, alerter=alerter
                ),
                RecordingActivities(ledger, alerter),
                SealingActivities(ProofLog(ledger, TreeHeadSigner(signing_key))),
                PlanningActivities(ledger, processors, manual=manual_systems(connectors)),
                ManualTaskActivities(ledger, manual_systems(connectors), alerter=alerter),
                ReferralActivities(ledger, controllers, alerter=alerter),
                RoundActivities(ledger, shred_grace_days=shred_grace_days),
                VerificationActivities(ledger, mailer, status_key),
                DeadlineActivities(ledger, mailer, alerter),
                RefusalActivities(ledger, alerter),
                ProgressActivities(ledger, client, alerter),
            ),
            *extra_activities,
        ],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        max_concurrent_workflow_task_polls=workflow_task_pollers,
        max_concurrent_activity_task_polls=activity_task_pollers,
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_seconds),
    )


def processor_systems(settings: Settings) -> dict[str, str]:
    """Processor-held systems and the controller each holds data for."""
    return {
        name: cfg.controller
        for name, cfg in settings.systems.items()
        if cfg.role == "processor" and cfg.controller
    }


def controller_endpoints(settings: Settings) -> dict[str, ControllerEndpoint]:
    """Each controller's webhook, its URL and secret read from their variables now."""
    endpoints: dict[str, ControllerEndpoint] = {}
    for name, c in settings.controllers.items():
        url, secret = c.webhook(settings.environ)
        endpoints[name] = ControllerEndpoint(
            name=name,
            webhook_url=url,
            secret=secret.encode(),
            answer_within_days=c.answer_within_days,
            disclose=c.disclose,
            status_callback=c.status_callback,
        )
    return endpoints


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
            password=m.smtp_password(settings.environ),
        )
    )


def alert_channels(settings: Settings, mailer: Mailer | None) -> list[AlertChannel]:
    """The channels of ``[alerts]``: the operators' mail (through ``mailer``, the ``[mail]``
    server) and the signed webhook, its URL and secret read from their variables now."""
    a = settings.alerts
    channels: list[AlertChannel] = []
    if a.mail_to and mailer is not None:
        channels.append(MailAlerts(mailer, a.mail_to))
    hook = a.webhook(settings.environ)
    if hook is not None:
        channels.append(WebhookAlerts(hook[0], hook[1].encode()))
    return channels


async def close_connectors(connectors: Mapping[str, Connector]) -> None:
    for name, connector in connectors.items():
        try:
            await connector.aclose()
        except Exception as exc:  # closing must not hide the reason we are stopping
            log.warning("connector.close_failed", system=name, error_type=type(exc).__name__)


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    mailer: Mailer | None = None,
    alerts: Sequence[AlertChannel] | None = None,
) -> None:
    """Run until ``stop`` is set, or SIGINT/SIGTERM arrives. ``mailer`` overrides ``[mail]``
    and ``alerts`` the channels of ``[alerts]`` (``lethe dev`` passes the console's)."""
    # Every secret is read, and every option checked, before anything connects: a missing
    # variable stops the worker here, naming the system (or controller) and the variable.
    controllers = controller_endpoints(settings)
    mailer = mailer or build_mailer(settings)
    if alerts is None:
        alerts = alert_channels(settings, mailer)
    connectors = build_connectors(settings.systems, load_registry(), settings.environ)
    # Keys and ledger are read, never made (`lethe init` makes them); keys other than the
    # ledger's stop the worker here, before it writes anything or takes a task.
    signing_key = load_signing_key(settings.home)
    runtime = await Runtime.open(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    polling = asyncio.Event()
    health: HealthServer | None = None
    try:
        sdk_runtime = None
        if settings.worker.metrics_port is not None:
            from .temporal import prometheus_runtime

            sdk_address = f"127.0.0.1:{_free_loopback_port()}"
            sdk_runtime = prometheus_runtime(sdk_address)
            health = HealthServer(
                runtime.ledger.engine,
                bind=settings.worker.metrics_bind,
                port=settings.worker.metrics_port,
                sdk_metrics_url=f"http://{sdk_address}/metrics",
                is_ready=polling.is_set,
            )
            health.start()
        client = await connect_when_ready(settings, runtime.keys, within=10.0, runtime=sdk_runtime)
        worker = build_worker(
            client,
            task_queue=settings.temporal.task_queue,
            ledger=runtime.ledger,
            connectors=connectors,
            signing_key=signing_key,
            processors=processor_systems(settings),
            controllers=controllers,
            shred_grace_days=settings.retention.shred_grace_days,
            mailer=mailer,
            alerts=alerts,
            alert_on=settings.alerts.on,
            max_concurrent_activities=settings.worker.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.worker.max_concurrent_workflow_tasks,
            workflow_task_pollers=settings.worker.workflow_task_pollers,
            activity_task_pollers=settings.worker.activity_task_pollers,
            max_cached_workflows=settings.worker.max_cached_workflows,
            # SIGTERM: the activities under way may finish (each is idempotent if they do not).
            graceful_shutdown_seconds=settings.worker.graceful_shutdown_seconds,
            status_key=runtime.keys.pseudonym,
        )
        if settings.retention.install_schedule:
            try:
                how = await install_sweeper(client, settings)
                log.info("sweeper.schedule", schedule=how)
            except RPCError as exc:  # the worker is still useful; the operator is told
                log.warning("sweeper.schedule_failed", error=str(exc)[:200])
        async with worker:
            log.info(
                "worker.started",
                address=settings.temporal.address,
                namespace=settings.temporal.namespace,
                task_queue=settings.temporal.task_queue,
                systems=sorted(connectors),
                metrics_port=settings.worker.metrics_port,
            )
            polling.set()
            await stop.wait()
            polling.clear()  # draining: no longer ready for new work
    finally:
        if health is not None:
            await health.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await close_connectors(connectors)
        await runtime.close()


def _free_loopback_port() -> int:
    """A port for the SDK's own Prometheus exporter, which only this process reads."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    from .logs import configure_logging

    configure_logging()
    asyncio.run(run_worker(load_settings()))
