"""A local Acme CRM that answers as CONTRACT.md says: for the tests, and for trying Lethe.

    python tests/fake_acme.py --port 8099 --token dev-token --seed ada@example.org \\
        --fault 429:20 --fault 503          # the first two requests are refused like that

It is written from the contract, not from the connector: ``test_acme_contract.py`` holds it to
the contract line by line, so the conformance test proves the connector against the contract.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], Any]


@dataclass
class FakeAcme:
    token: str
    page_size: int = 20
    url: str = ""
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Answers forced on the next requests, in order: (status, headers), e.g. (429, {...}).
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_id: int = 0

    def add(self, email: str, name: str) -> str:
        with self.lock:
            self.last_id += 1
            cid = f"c_{self.last_id}"
            self.contacts[cid] = {"id": cid, "email": email, "name": name}
            return cid

    def answer(self, method: str, target: str, authorization: str | None) -> Answer:
        with self.lock:
            self.requests.append(f"{method} {target}")
            if self.faults:
                status, headers = self.faults.pop(0)
                return status, headers, {"error": "try again later"}
            if authorization != f"Bearer {self.token}":
                return 401, {}, {"error": "unauthorized"}
            url = urlsplit(target)
            path = url.path.strip("/").split("/")
            if method == "GET" and path == ["v1", "contacts"]:
                return self._search(parse_qs(url.query))
            if method == "DELETE" and len(path) == 3 and path[:2] == ["v1", "contacts"]:
                if self.contacts.pop(path[2], None) is None:
                    return 404, {}, {"error": "not_found"}
                return 204, {}, None
            return 404, {}, {"error": "no such endpoint"}

    def _search(self, query: dict[str, list[str]]) -> Answer:
        text = (query.get("email_contains") or [""])[0]
        if not text:
            return 400, {}, {"error": "email_contains is required"}
        page = int((query.get("page") or ["1"])[0])
        hits = [
            c
            for c in sorted(self.contacts.values(), key=lambda c: int(c["id"][2:]))
            if text.lower() in c["email"].lower()
        ]
        start = (page - 1) * self.page_size
        more = len(hits) > start + self.page_size
        page_of_hits = hits[start : start + self.page_size]
        return 200, {}, {"contacts": page_of_hits, "next_page": page + 1 if more else None}


@contextmanager
def serve(acme: FakeAcme, port: int = 0) -> Iterator[FakeAcme]:
    """Run ``acme`` on 127.0.0.1 (a free port unless given) for the length of the block."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            status, headers, body = acme.answer(
                self.command, self.path, self.headers.get("Authorization")
            )
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_DELETE = do_POST = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # A short poll interval: shutdown() waits for it, once per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    acme.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield acme
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--token", default="dev-token")
    parser.add_argument("--seed", action="append", default=[], help="an address to hold")
    parser.add_argument("--fault", action="append", default=[], help="STATUS[:RETRY_AFTER]")
    args = parser.parse_args()
    fake = FakeAcme(args.token)
    for email in args.seed:
        fake.add(email, "seeded")
        fake.add(email.upper(), "seeded again, in capitals")
        fake.add("n" + email, "a near-duplicate who must stay")
    for fault in args.fault:
        status, _, after = fault.partition(":")
        fake.faults.append((int(status), {"Retry-After": after} if after else {}))
    with serve(fake, args.port):
        print(f"fake Acme CRM on {fake.url} (token {args.token!r}); Ctrl-C stops", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
