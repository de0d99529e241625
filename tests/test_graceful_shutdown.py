"""SIGTERM lets the activities under way finish, within ``[worker]
graceful_shutdown_seconds``: a system's erasure that had started when the worker was told to
stop completes (its deletion is done and reported) before the worker exits; with no grace, it
is cancelled, and another worker erases it later (once: erasure is idempotent)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.cli import LETHE, run_program

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
EMAIL = "ada@example.org"

CONFIG = """
[systems.crm]
connector = "tests.support.slow_sql:SlowSqlConnector"
url = "sqlite+aiosqlite:///{root}/crm.db"
delay_seconds = 3
marker_dir = "{root}/markers"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"

[retention]
install_schedule = false

[worker]
graceful_shutdown_seconds = {grace}
"""


@pytest.mark.parametrize("grace", [60, 0])
async def test_sigterm_lets_an_erasure_under_way_finish(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, grace: int
) -> None:
    root = tmp_path / "ops"
    (root / "markers").mkdir(parents=True)
    (root / "lethe.toml").write_text(CONFIG.format(root=root, grace=grace))
    with sqlite3.connect(root / "crm.db") as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        conn.execute("INSERT INTO contacts (email) VALUES (?)", (EMAIL,))
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "XDG_", "TEMPORAL_"))
        },
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "PYTHONPATH": str(ROOT),  # the slow connector lives in the tests
        "LETHE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
    }

    async def lethe(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_program, args, env, root)

    async def worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            LETHE, "worker", env=env, cwd=root,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    assert (await lethe("init"))[0] == 0
    code, out, err = await lethe("submit", EMAIL, "--verification", "operator", "--json")
    assert code == 0, err
    rid = json.loads(out)["request_id"]
    first = await worker()
    try:
        for _ in range(100):  # until the worker polls (approve says when none does)
            code, _, err = await lethe("approve", rid, "--reason", "called back")
            if "no worker polls" not in err:
                break
            await asyncio.sleep(0.2)
        assert code == 0, err
        started = root / "markers" / "crm.started"
        for _ in range(600):
            if started.exists() or first.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert started.exists()
    finally:
        first.send_signal(signal.SIGTERM)  # while the erasure sleeps in the connector
        _, stderr = await asyncio.wait_for(first.communicate(), 120)
    assert first.returncode == 0, stderr.decode()[-2000:]
    deletions = root / "markers" / "crm.deletions"
    with sqlite3.connect(root / "crm.db") as conn:
        left = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
    if grace:
        assert deletions.read_text().split() == [rid] and left == 0  # finished before exit
    else:
        assert not deletions.exists() and left == 1  # cancelled: nothing deleted yet

    second = await worker()  # the request goes on, on another worker
    try:
        status = ""
        for _ in range(600):
            code, out, _ = await lethe("status", rid, "--json")
            status = json.loads(out)["status"] if code == 0 else ""
            if status in ("completed", "partially_failed", "failed"):
                break
            await asyncio.sleep(0.2)
        assert status == "completed"
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), 120)
    assert deletions.read_text().split() == [rid]  # erased once, whichever worker did it
