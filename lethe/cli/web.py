"""Verbs of the HTTP API: serve it, and manage its clients (``docs/http-api.md``).

FastAPI and uvicorn are the ``web`` extra's: imported by ``serve`` when it runs, never here.
"""

from __future__ import annotations

import click

from ..errors import LetheError
from ..operations.api_clients import SCOPES, add_client, list_clients, revoke_client
from ..runtime import Runtime
from ._app import app, call, console, emit_json, invocation_settings, json_option
from ._values import operator_name

__all__ = ["api_client", "serve"]

MISSING_EXTRA = "lethe serve needs the web extra (FastAPI, uvicorn): pip install 'lethe[web]'"


@app.command()
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [web] port, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (/v1/…, /openapi.json, /docs) until interrupted."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise LetheError(MISSING_EXTRA) from None
    from ..web.app import create_app

    settings = invocation_settings()
    # Keys, ledger and Temporal checked before serving: a missing one is one line and a
    # non-zero exit here, not a traceback from the server's start-up.
    call(_reachable)
    web = settings.web
    where, listen = host or web.host, web.port if port is None else port
    console.print(
        f"Serving the HTTP API on http://{where}:{listen} (/docs, /request, /dashboard);"
        " Ctrl-C stops."
    )
    # No access log: it would hold every client's address and path. The API logs each call
    # by its route template instead (lethe/web/app.py).
    uvicorn.run(
        create_app(settings),
        host=where,
        port=listen,
        access_log=False,
        log_level="warning",
    )


async def _reachable(rt: Runtime) -> None:
    await rt.client()


@app.group("api-client")
def api_client() -> None:
    """Clients of the HTTP API and their scoped tokens: add, list, revoke."""


@api_client.command("add")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help=f"What the client may do (repeatable): {', '.join(SCOPES)}.",
)
@click.option("--operator", help="Who adds it (default: LETHE_OPERATOR or your login).")
@json_option
def add(name: str, scopes: tuple[str, ...], operator: str | None, as_json: bool) -> None:
    """Add a client; prints its token once (the ledger keeps only its SHA-256)."""
    who = operator_name(operator)
    issued = call(add_client, name, [s.strip().lower() for s in scopes], f"operator:{who}")
    c = issued.client
    if as_json:
        emit_json(
            {"client_id": c.client_id, "name": c.name, "scopes": c.scopes, "token": issued.token}
        )
        return
    console.print(f"Added API client {c.name} ({c.client_id}), scopes: {', '.join(c.scopes)}.")
    console.print("Its token (shown once; give it to the client, keep it secret):")
    console.print(issued.token, highlight=False, soft_wrap=True)


@api_client.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The clients, revoked ones included (tokens are never shown again)."""
    rows = call(list_clients)
    if as_json:
        emit_json(
            [
                {
                    "client_id": r.client_id,
                    "name": r.name,
                    "scopes": r.scopes,
                    "created_at": r.created_at.isoformat(),
                    "created_by": r.created_by,
                    "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        console.print("No API clients yet: lethe api-client add NAME --scope …")
    for r in rows:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        console.print(
            f"{r.name:<24} {r.client_id}  {','.join(r.scopes):<22} {state}", highlight=False
        )


@api_client.command("revoke")
@click.argument("name")
@json_option
def revoke(name: str, as_json: bool) -> None:
    """Revoke a client (by name or id): its token stops working at once."""
    row = call(revoke_client, name)
    if as_json:
        emit_json({"client_id": row.client_id, "name": row.name, "revoked_at": str(row.revoked_at)})
        return
    console.print(f"Revoked API client {row.name} ({row.client_id}).")
