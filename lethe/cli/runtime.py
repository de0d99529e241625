"""Verbs that run Lethe itself: dev (server + worker), worker, demo."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

import click

from activities import ConsoleAlerts, ConsoleMailer

from ..devserver import DevServer
from ..runtime import initialise
from ..terminal import print_visible
from ._app import app, console, emit_json, invocation_settings, json_option, run

__all__ = ["demo", "dev", "worker_command"]


@app.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=7233,
    show_default=True,
    help="Temporal frontend port.",
)
@click.option(
    "--ui-port",
    type=click.IntRange(1, 65535),
    default=8233,
    show_default=True,
    help="Temporal web UI port.",
)
@json_option
def dev(port: int, ui_port: int, as_json: bool) -> None:
    """Run the embedded Temporal dev server and a worker in the foreground (Ctrl-C stops).

    Creates the keys and the ledger first if they are missing (as `lethe init` does). Mail
    to requesters and operator alerts are printed on the console, not sent."""
    from ..worker import run_worker

    settings = invocation_settings()

    async def go() -> None:
        made = await initialise(settings)  # keys and ledger, as `lethe init` makes them
        server = DevServer(
            port=port,
            ui_port=ui_port,
            ui=True,
            db_file=settings.home / "temporal.db",
            log_file=settings.home / "logs" / "temporal.log",
        )
        await server.start()
        try:
            local = dataclasses.replace(
                settings, temporal=settings.temporal.model_copy(update={"address": server.address})
            )
            from ..keys import load_keyring
            from ..runtime import connect_when_ready
            from ..search_attributes import register_search_attributes

            # The request workflows' search attributes (LetheStatus…): registered before the
            # worker starts, so that the Web UI and `temporal workflow list -q` can filter.
            client = await connect_when_ready(local, load_keyring(settings.home))
            await register_search_attributes(client, local.temporal.namespace)
            info = {
                "temporal_address": server.address,
                "temporal_ui": server.ui_url,
                "ledger": settings.database_url,
                "systems": sorted(settings.systems),
            }
            if as_json:
                emit_json(info)
            else:
                console.print(f"Temporal dev server on {server.address}; UI at {server.ui_url}")
                if settings.temporal.address != server.address:
                    # Otherwise `lethe submit` in another shell looks for the default port.
                    console.print(
                        f"Other lethe commands need: export LETHE_TEMPORAL_ADDRESS={server.address}"
                    )
                created = [n for n, how in made.keys.items() if how.startswith("created")]
                if created or made.ledger_created:
                    console.print(
                        "Created: "
                        + ", ".join(
                            [f"{n} key" for n in created]
                            + (["the ledger"] if made.ledger_created else [])
                        )
                        + f" (under {settings.home})"
                    )
                console.print(f"Ledger: {settings.database_url}")
                console.print(
                    "Systems: " + (", ".join(sorted(settings.systems)) or "none (add lethe.toml)")
                )
                console.print(
                    "Mail to requesters (codes, acknowledgements) is printed here by a console"
                    " mailer, NOT sent; so are operator alerts (overdue, escalated, failed)."
                )
                console.print("Worker running. Ctrl-C to stop.")
            # The console mailer writes to stderr, so that --json output stays clean.
            # Printed, not sent: what they print carries what others typed, shown as text.
            await run_worker(
                local,
                mailer=ConsoleMailer(print_visible),
                alerts=[ConsoleAlerts(print_visible)],
            )
        finally:
            server.stop()

    run(go())


@app.command("worker")
@json_option
def worker_command(as_json: bool) -> None:
    """Run a worker against LETHE_TEMPORAL_ADDRESS (any cluster, Temporal Cloud included)."""
    from ..worker import run_worker

    settings = invocation_settings()
    if as_json:
        emit_json(
            {
                "temporal_address": settings.temporal.address,
                "namespace": settings.temporal.namespace,
                "task_queue": settings.temporal.task_queue,
                "systems": sorted(settings.systems),
            }
        )
    run(run_worker(settings))


@app.command()
@json_option
def demo(as_json: bool) -> None:
    """Erase a demo person from six local systems, end to end, and show the record."""
    from ..demo.run import run_demo

    settings = invocation_settings()

    async def go() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await run_demo(settings, console=console, as_json=as_json)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    code = run(go())
    if code:
        raise click.exceptions.Exit(code)
