"""Traces: with the standard ``OTEL_*`` variables set, the CLI's client and the worker export
spans by OTLP/HTTP (here to a local receiver speaking the protocol: POST /v1/traces, an
``ExportTraceServiceRequest`` in protobuf). A real request on the dev server is traced from
``lethe submit`` through the worker's workflows and activities (one system's delete failing
with a database error that quotes the person), each span of the request carrying
``lethe.request_id``, and no identifier of the person appears anywhere in what was
exported (span names, attributes, events, status, resource): every byte is scanned, plain and
encoded."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from lethe import tracing
from lethe.errors import ConfigError
from tests.support.canary import Canary, find
from tests.support.cli import run_program
from tests.support.namespaces import fresh_namespace

SYSTEM = """
[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"

[systems.directory]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/directory.db"
[[systems.directory.tables]]
table = "people"
key = "email"
identifier = "email"
action = "delete"
"""


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: keeps every export request's body, answers as a collector."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.paths.append(self.path)
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                ExportTraceServiceRequest.FromString(body)  # a malformed export fails here
                received.bodies.append(body)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> Iterator[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of everything received."""
        for body in self.bodies:
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        yield resource, span


def attributes(span: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in span.attributes}


def test_tracing_is_asked_for_by_the_standard_variables() -> None:
    assert not tracing.tracing_requested({})
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"})
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert not tracing.tracing_requested({**on, "OTEL_SDK_DISABLED": "true"})
    assert not tracing.tracing_requested({**on, "OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})


def test_without_the_extra_tracing_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(tracing, "_INTERCEPTORS", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError) as raised:
        tracing.client_interceptors()
    said = str(raised.value)
    assert "\n" not in said and "lethe-erasure[otel]" in said
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert tracing.client_interceptors() == []  # (not cached: asked again, not traced)


def test_a_collector_that_does_not_answer_does_not_hold_a_command_at_exit() -> None:
    """The program flushes its last spans before it leaves, but does not wait out the
    exporter's retries: with a collector that takes the connection and never answers, the
    flush returns (the export still under way) and the process leaves."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts, never reads or answers
        script = (
            "from lethe import tracing\n"
            "tracing.FLUSH_SECONDS = 0.5\n"
            "assert tracing.client_interceptors()\n"
            "from opentelemetry import trace\n"
            "with trace.get_tracer('t').start_as_current_span('s'): pass\n"
            "tracing.flush()\n"
            "import threading\n"
            "print('exporting', any(t.name == 'otel-flush' for t in threading.enumerate()))\n"
            "import os; os._exit(0)\n"
        )
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "60",
        }
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exporting True", done.stdout + done.stderr


def test_the_request_id_attribute_comes_from_the_workflow_id() -> None:
    with_id = tracing._with_request_id(
        {"temporalWorkflowID": "erasure/er-abc/crm/1", "temporalRunID": "r"}
    )
    assert with_id == {
        "temporalWorkflowID": "erasure/er-abc/crm/1",
        "temporalRunID": "r",
        "lethe.request_id": "er-abc",
    }
    sweep = tracing._with_request_id({"temporalWorkflowID": "lethe-retention-sweep"})
    assert sweep == {"temporalWorkflowID": "lethe-retention-sweep"}
    assert tracing._with_request_id(None) is None


@pytest.mark.devserver
@pytest.mark.slow
async def test_a_request_is_traced_to_an_otlp_endpoint_without_any_identifier(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    client = await fresh_namespace(dev_server_env.client)
    person = Canary.new()
    root = tmp_path / "ops"
    root.mkdir()
    with OtlpReceiver() as otlp:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("LETHE_", "XDG_", "TEMPORAL_", "OTEL_"))
            },
            "XDG_CONFIG_HOME": str(tmp_path / "none"),
            "LETHE_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "LETHE_TEMPORAL_NAMESPACE": client.namespace,
            "LETHE_TASK_QUEUE": task_queue,
            "LETHE_OPERATOR": "kim",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_SERVICE_NAME": "lethe-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

        async def lethe(*args: str, stdin: str = "") -> tuple[int, str, str]:
            return await asyncio.to_thread(run_program, args, env, root, stdin)

        code, out, err = await lethe("init", "--json")
        assert code == 0, err
        with (root / "lethe.toml").open("a") as fh:
            fh.write(SYSTEM.format(root=root))
        with sqlite3.connect(root / "crm.db") as conn:
            conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
            conn.executemany(
                "INSERT INTO contacts (email) VALUES (?)", [(person.email,), ("other@example.org",)]
            )

        with sqlite3.connect(root / "directory.db") as conn:
            conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
            # A database error that quotes the person (SQLite quotes a bad JSON path): the
            # activity fails with it, where a span records its exceptions.
            conn.execute(
                "CREATE TRIGGER keep BEFORE DELETE ON people BEGIN SELECT json_extract('{}',"
                " 'no such column: ' || OLD.email); END"
            )
            conn.execute("INSERT INTO people (email) VALUES (?)", (person.email,))

        # Asked for without the extra (its exporter not importable): one line, nothing filed.
        blocked = subprocess.run(
            [
                sys.executable, "-c",
                "import sys; sys.modules['opentelemetry.exporter.otlp.proto.http"
                ".trace_exporter'] = None; sys.argv[0] = 'lethe';"
                " from lethe.cli import main; main()",
                "submit", person.email, "--verification", "operator", "--json",
            ],
            cwd=root, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert blocked.returncode != 0
        lines = blocked.stderr.strip().splitlines()
        assert len(lines) == 1 and "lethe-erasure[otel]" in lines[0], blocked.stderr
        code, out, err = await lethe("list", "--json")
        assert code == 0, err
        assert json.loads(out) == [] or json.loads(out).get("requests") in ([], None)

        code, out, err = await lethe(
            "submit", "-", "--verification", "operator", "--json", stdin=person.email
        )
        assert code == 0, err
        filed = json.loads(out)
        rid, wid = filed["request_id"], filed["workflow_id"]

        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lethe", "worker", env=env, cwd=root,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            for _ in range(300):  # until the worker polls (approve refuses before, sending nothing)
                code, _, err = await lethe("approve", rid, "--reason", f"rang {person.email}")
                if code == 0 or "no worker polls" not in err:
                    break
                await asyncio.sleep(0.2)
            assert code == 0, err
            handle = client.get_workflow_handle(wid)
            for _ in range(900):
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
                await asyncio.sleep(0.1)
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        finally:
            worker.terminate()  # SIGTERM: the worker stops, its exporter flushes at exit
            _, worker_err = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0, worker_err.decode()[-2000:]

    assert otlp.bodies and set(otlp.paths) == {"/v1/traces"}
    spans = list(otlp.spans())
    names = {span.name for _, span in spans}
    assert "StartWorkflow:ErasureWorkflow" in names  # lethe submit's client
    assert "RunWorkflow:ErasureWorkflow" in names  # the worker's workflow
    assert any(n.startswith("RunActivity:") for n in names)  # and its activities
    assert "RunActivity:erase_in_system" in names, names
    assert {resource.get("service.name") for resource, _ in spans} == {"lethe-under-test"}
    of_request = [
        s for _, s in spans if attributes(s).get("temporalWorkflowID", "").startswith(wid)
    ]
    assert of_request and all(attributes(s)["lethe.request_id"] == rid for s in of_request)
    # One trace: the worker's spans descend from the one lethe submit started.
    started = next(s for _, s in spans if s.name == "StartWorkflow:ErasureWorkflow")
    run = next(s for _, s in spans if s.name == "RunWorkflow:ErasureWorkflow")
    assert run.trace_id == started.trace_id

    for body in otlp.bodies:
        assert find([person], "an exported span", body) == []
    text = "\n".join(str(span) for _, span in spans)
    assert find([person], "the spans, decoded", text) == []
    assert rid in text  # (what was scanned is the request's spans)
    failed = [s for _, s in spans if s.status.code == 2]  # STATUS_CODE_ERROR
    assert any("database refused" in s.status.message for s in failed)  # (scanned above)
    assert any(e.name == "exception" for s in failed for e in s.events)
    with sqlite3.connect(root / "directory.db") as conn:  # (the failure did happen)
        assert conn.execute("SELECT count(*) FROM people").fetchone() == (1,)
