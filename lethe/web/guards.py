"""What stands in front of every call: the body size limit, the requesters' rate limit and the
status tokens requesters show. No FastAPI here: plain ASGI and plain Python."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ledger.api_clients import status_token

__all__ = ["BodyLimit", "RateLimiter", "error_body", "status_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The exit code of the command line for the same mistake (``docs/http-api.md#errors``).
USAGE = 2  # what was sent is malformed (click's usage error)
NO_PERMISSION = 77  # EX_NOPERM: no token, an unknown one, or a scope it lacks
TRY_LATER = 75  # EX_TEMPFAIL: rate-limited


def error_body(message: str, code: int, **more: Any) -> dict[str, Any]:
    """``{"error": one line, "code": the CLI's exit code}``."""
    first = message.strip().splitlines()[0] if message.strip() else "error"
    return {"error": first, "code": code, **more}


class BodyLimit:
    """Refuse a body larger than ``limit`` bytes with 413 before the application sees any of
    it (whether or not it says its length), so nothing of it is acted on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(f"the request body is larger than {self.limit} bytes", USAGE)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await self._refuse(send)
                    return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimiter:
    """At most ``per_minute`` calls in any 60 seconds for each key (a request id, a client
    address); in memory, for one ``lethe serve`` process."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self._clock = per_minute, clock
        self._calls: dict[str, deque[float]] = {}

    def allow(self, *keys: str) -> bool:
        """Count a call against every key, if none of them is spent; whether it may go on."""
        now = self._clock()
        windows = []
        for key in keys:
            window = self._calls.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return False
            windows.append(window)
        for window in windows:
            window.append(now)
        if len(self._calls) > 100_000:  # forget idle keys rather than grow without end
            for key in [k for k, w in self._calls.items() if not w]:
                del self._calls[key]
        return True
