"""The part every fake shares: a Starlette app on uvicorn in a thread, on 127.0.0.1 and a free
port, that checks each request and answer against the fake's contract, answers injected
faults first, then authentication failures, then the fake's own routes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .contract import Contract

#: (status, headers, JSON body or None)
Answer = tuple[int, dict[str, str], Any]


class FakeService:
    """Subclasses set ``contract_name`` and implement ``authorised`` and ``route``."""

    contract_name = ""
    #: The answer to a request that fails authentication (the vendor's).
    unauthorised: Answer = (401, {}, {"error": "unauthorized"})

    def __init__(self, *, page_size: int = 5) -> None:
        self.contract = Contract(self.contract_name)
        self.page_size = page_size
        self.url = ""
        self.lock = threading.RLock()
        #: Answers forced on the next requests, in order.
        self.faults: list[Answer] = []
        #: "METHOD /path?query" of every request received.
        self.requests: list[str] = []
        #: Every breach of the contract, by the client or by the fake.
        self.violations: list[str] = []

    # -- what a fake implements ---------------------------------------------------------------

    def authorised(self, headers: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def route(
        self, method: str, path: str, query: Mapping[str, str], body: Any
    ) -> Answer:  # pragma: no cover - every fake overrides it
        raise NotImplementedError

    def fault(self, status: int, retry_after: str | None = None) -> None:
        """Answer the next request with ``status`` (the vendor's error body for it)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.append((status, headers, self.error_body(status)))

    def error_body(self, status: int) -> Any:
        return {"error": f"status {status}"}

    # -- the transport ------------------------------------------------------------------------

    def answer(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Answer:
        with self.lock:
            self.requests.append(f"{method} {path}" + (f"?{dict(query)}" if query else ""))
            problems = self.contract.check_request(method, path, query, headers, raw)
            if problems:
                self.violations.extend(problems)
                return 400, {}, {"contract_violation": problems}
            if self.faults:
                return self.faults.pop(0)
            if not self.authorised(headers):
                return self.unauthorised
            body = json.loads(raw) if raw else None
            return self.route(method, path, query, body)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            status, headers, body = self.answer(
                request.method,
                request.url.path,
                dict(request.query_params),
                dict(request.headers),
                raw,
            )
            data = b"" if body is None else json.dumps(body).encode()
            with self.lock:
                problems = self.contract.check_response(
                    request.method, request.url.path, status, data
                )
                if status != 400 or not problems:
                    self.violations.extend(problems)
            if data:
                headers = {"Content-Type": "application/json", **headers}
            return Response(data, status_code=status, headers=headers)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


FakeT = TypeVar("FakeT", bound=FakeService)


@contextmanager
def serve(fake: FakeT) -> Iterator[FakeT]:
    """Run ``fake`` on 127.0.0.1 and a free port for the length of the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the fake {fake.contract_name} did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
