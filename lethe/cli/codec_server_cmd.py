"""``lethe codec-server``: decode payloads for the Temporal Web UI and ``temporal``."""

from __future__ import annotations

import asyncio
import signal

import click

from ._app import app, console, invocation_settings, run

__all__ = ["codec_server"]


@app.command("codec-server")
@click.option("--bind", default=None, help="Address to listen on ([codec_server] bind).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port ([codec_server] port)."
)
def codec_server(bind: str | None, port: int | None) -> None:
    """Serve /encode and /decode for the Temporal Web UI and `temporal --codec-endpoint`
    (bearer tokens from LETHE_CODEC_TOKENS; each decode recorded in the ledger).

    Runs until Ctrl-C or SIGTERM. Needs the payload key and the ledger, not Temporal."""
    from ..codec import EncryptionCodec
    from ..codec_server import CodecService, serve_codec
    from ..runtime import Runtime

    settings = invocation_settings()
    cfg = settings.codec_server
    tokens = cfg.tokens(settings.environ)  # refused in one line before anything is opened
    bind = bind or cfg.bind
    port = cfg.port if port is None else port

    async def go() -> None:
        rt = await Runtime.open(settings)
        try:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            service = CodecService(
                EncryptionCodec(rt.keys.payload, retired=rt.keys.retired_payload),
                tokens,
                rt.ledger,
                cfg.cors_origins,
            )
            console.print(
                f"Codec server on http://{bind}:{port} ({len(tokens)} token(s);"
                f" CORS: {', '.join(cfg.cors_origins) or 'none'}). Ctrl-C to stop.",
                markup=False,
                soft_wrap=True,
            )
            await serve_codec(service, bind, port, stop)
        finally:
            await rt.close()

    run(go())
