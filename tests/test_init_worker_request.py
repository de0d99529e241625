"""From an empty directory, as a new operator goes: ``lethe init`` (a commented lethe.toml,
keys, the ledger), a system added to the file, ``lethe worker`` as a real program, then a
request submitted, approved and carried out, all with ``lethe`` programs against the real dev
server. The worker logs in JSON mode at INFO: every line it writes is one JSON object, the
libraries' lines (Temporal's) included, and none carries the address. It serves
``/healthz``, ``/readyz`` and ``/metrics`` (the Temporal SDK's metrics and Lethe's gauges) on
``[worker] metrics_port``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.cli import LETHE, run_program

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

EMAIL = "ada@example.org"
BYSTANDER = "ada@example.org.uk"

SYSTEM = """
[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"

[worker]
metrics_port = {port}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sample(metrics: str, name: str) -> float | None:
    """The value of the sample ``name`` (with its labels) in Prometheus text, or None."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_init_then_worker_then_a_request_from_an_empty_directory(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    root = tmp_path / "ops"
    root.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "XDG_"))},
        "XDG_CONFIG_HOME": str(tmp_path / "no-user-config"),
        "LETHE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
        "LETHE_LOG_FORMAT": "json",
        "LETHE_LOG_LEVEL": "INFO",
    }

    async def lethe(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_program, args, env, root)

    code, out, err = await lethe("init")
    assert code == 0, err
    assert f"config: created {root / 'lethe.toml'}" in out
    assert sorted(p.name for p in (root / ".lethe" / "keys").iterdir()) == [
        "payload.key", "pseudonym.key", "signing.key", "vault.key",
    ]  # fmt: skip
    with (root / "lethe.toml").open("a") as fh:  # the operator adds a system
        fh.write(SYSTEM.format(root=root, port=(port := free_port())))
    with sqlite3.connect(root / "crm.db") as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        conn.executemany("INSERT INTO contacts (email) VALUES (?)", [(EMAIL,), (BYSTANDER,)])
    code, out, err = await lethe("config", "show", "--json")
    assert code == 0 and json.loads(out)["systems"] == {"crm": "sql"}, err

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            LETHE, "worker", env=env, cwd=root, stdout=asyncio.subprocess.DEVNULL, stderr=log
        )
    try:
        for _ in range(600):  # until the worker says it polls (or exits)
            if b"worker.started" in log_path.read_bytes() or worker.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert b"worker.started" in log_path.read_bytes(), log_path.read_text()
        base = f"http://127.0.0.1:{port}"
        assert await asyncio.to_thread(get, f"{base}/healthz") == (200, "ok\n")
        assert await asyncio.to_thread(get, f"{base}/readyz") == (200, "ready\n")
        assert (await asyncio.to_thread(get, f"{base}/nothing"))[0] == 404

        code, out, err = await lethe("submit", EMAIL, "--verification", "operator", "--json")
        assert code == 0, err
        rid = json.loads(out)["request_id"]
        code, _, err = await lethe("approve", rid, "--reason", "called back on file number")
        assert code == 0, err
        record: dict[str, object] = {}
        for _ in range(600):
            code, out, err = await lethe("status", rid, "--json")
            assert code == 0, err
            record = json.loads(out)
            if record["status"] not in ("received", "verifying", "verified", "erasing"):
                break
            await asyncio.sleep(0.2)
        assert record["status"] == "completed", record
        status, metrics = await asyncio.to_thread(get, f"{base}/metrics")
        assert status == 200
        # The Temporal SDK's own (its worker polled and ran tasks) and Lethe's, from the ledger.
        sdk = [line for line in metrics.splitlines() if line.startswith("temporal_")]
        assert any(line.startswith("temporal_workflow_task_") for line in sdk), metrics
        assert sample(metrics, 'lethe_requests{status="completed"}') == 1
        assert sample(metrics, 'lethe_requests{status="erasing"}') == 0
        assert sample(metrics, "lethe_requests_overdue") == 0
        assert (sample(metrics, "lethe_proof_log_leaves") or 0) >= 2  # request and crm sealed
        assert sample(metrics, "lethe_verifications") == 1
        assert EMAIL not in metrics and rid not in metrics
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 60)
    assert worker.returncode == 0
    with sqlite3.connect(root / "crm.db") as conn:
        left = [r[0] for r in conn.execute("SELECT email FROM contacts")]
    assert left == [BYSTANDER]  # the look-alike is untouched

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is JSON (else this raises)
    assert all(isinstance(e, dict) and "event" in e and "level" in e for e in events)
    started = [e for e in events if e["event"] == "worker.started"]
    assert len(started) == 1 and started[0]["level"] == "info"
    assert any(str(e.get("logger", "")).startswith("temporalio") for e in events), lines
    assert EMAIL not in log_path.read_text()
