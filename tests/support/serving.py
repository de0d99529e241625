"""An ASGI app (``lethe serve``'s) on uvicorn at 127.0.0.1 and a port the kernel chose, for the
length of a block: what the API and browser tests talk to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

__all__ = ["served"]


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; its base URL (``http://127.0.0.1:PORT``)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, access_log=False, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
