"""Lethe's search attributes, as an operator uses them: registered on the namespace (as
``lethe dev`` and ``lethe init`` do), carried and kept current by each request's workflow, and
answered by the real ``temporal`` CLI's ``workflow list -q``. They carry no identifier."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from lethe.search_attributes import has_search_attributes, register_search_attributes
from tests.conftest import _binary
from tests.support.cli import LETHE, run_program
from tests.support.controller_receiver import Receiver, controller_receiver
from tests.support.namespaces import fresh_namespace
from workflows.search_attributes import (
    DUE_DATE,
    JURISDICTION,
    OVERDUE,
    STATUS,
    SYSTEMS,
    VERIFICATION,
)

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

EMAIL = "ada.search@example.org"
LATE = "grace.search@example.org"

SYSTEM = """
[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""


def temporal_list(client: Client, query: str) -> list[str]:
    """``temporal workflow list -q QUERY``, the real CLI: the workflow ids it lists."""
    done = subprocess.run(
        [
            _binary("temporal"), "workflow", "list",
            "--address", client.service_client.config.target_host,
            "--namespace", client.namespace,
            "--query", query, "--output", "json",
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    listed = json.loads(done.stdout or "[]") or []
    return [w["execution"]["workflowId"] for w in listed]


async def eventually_listed(client: Client, query: str, wid: str) -> list[str]:
    """Visibility is eventually consistent: ask until the workflow is listed (or give up)."""
    found: list[str] = []
    for _ in range(100):
        found = await asyncio.to_thread(temporal_list, client, query)
        if wid in found:
            break
        await asyncio.sleep(0.2)
    return found


async def test_requests_are_found_by_status_and_overdue_with_the_temporal_cli(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    client = await fresh_namespace(dev_server_env.client)
    assert not await has_search_attributes(client, client.namespace)
    added = await register_search_attributes(client, client.namespace)
    assert added == sorted(
        k.name for k in (STATUS, JURISDICTION, VERIFICATION, DUE_DATE, SYSTEMS, OVERDUE)
    )
    assert await register_search_attributes(client, client.namespace) == []  # idempotent

    root = tmp_path / "ops"
    root.mkdir()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "XDG_", "TEMPORAL_"))
        },
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "LETHE_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "LETHE_TEMPORAL_NAMESPACE": client.namespace,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
    }

    async def lethe(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_program, args, env, root)

    code, out, err = await lethe("init", "--json")
    assert code == 0, err
    assert (
        json.loads(out)["search_attributes"]
        == f"already registered on namespace {client.namespace}"
    )
    with (root / "lethe.toml").open("a") as fh:
        fh.write(SYSTEM.format(root=root))
    with sqlite3.connect(root / "crm.db") as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        conn.executemany("INSERT INTO contacts (email) VALUES (?)", [(EMAIL,), (LATE,)])

    code, out, err = await lethe("submit", EMAIL, "--verification", "operator", "--json")
    assert code == 0, err
    first = json.loads(out)
    # Received long ago (entered late, as from a letter): its answer deadline has passed.
    long_ago = (datetime.now(UTC) - timedelta(days=50)).strftime("%Y-%m-%d")
    code, out, err = await lethe(
        "submit", LATE, "--verification", "operator", "--received-at", long_ago, "--json"
    )
    assert code == 0, err
    late = json.loads(out)

    worker = await asyncio.create_subprocess_exec(
        LETHE, "worker", env=env, cwd=root,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        waiting = await eventually_listed(
            client, 'LetheStatus="awaiting_verification"', first["workflow_id"]
        )
        assert first["workflow_id"] in waiting
        overdue = await eventually_listed(client, "LetheOverdue=true", late["workflow_id"])
        assert late["workflow_id"] in overdue and first["workflow_id"] not in overdue

        code, _, err = await lethe("approve", first["request_id"], "--reason", "called back")
        assert code == 0, err
        handle = client.get_workflow_handle(first["workflow_id"])  # (its keys are init's)
        for _ in range(600):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        done = await eventually_listed(
            client,
            'LetheStatus="completed" AND LetheJurisdiction="gdpr" AND LetheSystems="crm"',
            first["workflow_id"],
        )
        assert first["workflow_id"] in done
        assert first["workflow_id"] not in await asyncio.to_thread(
            temporal_list, client, 'LetheStatus="awaiting_verification"'
        )
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)

    described = await client.get_workflow_handle(first["workflow_id"]).describe()
    attrs = described.typed_search_attributes
    assert attrs.get(STATUS) == "completed" and attrs.get(VERIFICATION) == "operator"
    assert attrs.get(SYSTEMS) == ["crm"] and attrs.get(OVERDUE) is False
    due = attrs.get(DUE_DATE)
    assert due is not None and due > datetime.now(UTC)
    # No identifier in any of them (the canary test checks every history of a full run).
    raw = str(described.raw_description.workflow_execution_info.search_attributes)
    assert "ada.search" not in raw.lower() and "example.org" not in raw.lower()
    assert "LetheStatus" in raw  # (what was searched is there)


PROCESSOR = """
[systems.lms]
connector = "sql"
role = "processor"
controller = "acme"
url = "sqlite+aiosqlite:///{root}/lms.db"
[[systems.lms.tables]]
table = "learners"
key = "email"
identifier = "email"
action = "delete"

[controllers.acme]
webhook_url_env = "ACME_DSR_URL"
secret_env = "ACME_DSR_SECRET"
answer_within_days = 0.00003
"""


@pytest.fixture
def acme() -> Iterator[Receiver]:
    """The controller's webhook: it takes the notice and never answers."""
    with controller_receiver(b"acme-shared-secret") as rx:
        yield rx


async def test_an_escalated_referral_is_found_by_status_with_the_temporal_cli(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, acme: Receiver
) -> None:
    """A processor-held system whose controller does not answer within its time (here about
    three seconds) is escalated to an operator: its child workflow tells the request's, which
    says ``LetheStatus="escalated"`` until the operator enters the instruction."""
    client = await fresh_namespace(dev_server_env.client)
    await register_search_attributes(client, client.namespace)
    root = tmp_path / "ops"
    root.mkdir()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "XDG_", "TEMPORAL_"))
        },
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "LETHE_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "LETHE_TEMPORAL_NAMESPACE": client.namespace,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
        "ACME_DSR_URL": acme.url,
        "ACME_DSR_SECRET": "acme-shared-secret",
    }

    async def lethe(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_program, args, env, root)

    code, _, err = await lethe("init", "--json")
    assert code == 0, err
    with (root / "lethe.toml").open("a") as fh:
        fh.write(SYSTEM.format(root=root) + PROCESSOR.format(root=root))
    for db, table in (("crm.db", "contacts"), ("lms.db", "learners")):
        with sqlite3.connect(root / db) as conn:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
            conn.executemany(f"INSERT INTO {table} (email) VALUES (?)", [(EMAIL,), (LATE,)])

    code, out, err = await lethe("submit", EMAIL, "--verification", "operator", "--json")
    assert code == 0, err
    filed = json.loads(out)
    wid, rid = filed["workflow_id"], filed["request_id"]
    worker = await asyncio.create_subprocess_exec(
        LETHE, "worker", env=env, cwd=root,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await eventually_listed(client, 'LetheStatus="awaiting_verification"', wid)
        code, _, err = await lethe("approve", rid, "--reason", "called back")
        assert code == 0, err
        escalated = await eventually_listed(client, 'LetheStatus="escalated"', wid)
        assert escalated == [wid]  # the request's workflow, not the system's child
        code, out, err = await lethe("status", rid, "--json")
        assert code == 0, err
        assert json.loads(out)["status"] == "escalated"  # as the ledger says

        code, _, err = await lethe(
            "controller-instruction", rid, "--system", "lms", "--erase",
            "--reason", "acme said erase", "--operator", "kim",
        )  # fmt: skip
        assert code == 0, err
        handle = client.get_workflow_handle(wid)
        for _ in range(600):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        assert wid not in await asyncio.to_thread(temporal_list, client, 'LetheStatus="escalated"')
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(STATUS) == "completed"
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
    assert len(acme.accepted) == 1  # the controller was told, and did not answer
    with sqlite3.connect(root / "lms.db") as conn:
        assert conn.execute("SELECT email FROM learners").fetchall() == [(LATE,)]
