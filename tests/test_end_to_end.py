"""One erasure, end to end, on a real Temporal dev server with the real worker and ledger."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger import SystemOutcomeRecord
from lethe.assertions import mint_assertion, public_key_text
from lethe.demo.systems import SUBJECT, check_bystanders, seed_demo_systems
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import (
    Settings,
    SystemConfig,
    TemporalSettings,
    VerificationSettings,
    build_connectors,
)
from tests.support.workers import start_worker
from workflows import ErasurePolicy, ErasureWorkflow, OperatorApproval

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

PORTAL = Ed25519PrivateKey.generate()

FAST = ErasurePolicy(
    heartbeat_timeout_seconds=3, retry_initial_seconds=0.5, retry_max_interval_seconds=1
)


def settings_for(
    tmp_path: Path,
    env: WorkflowEnvironment,
    task_queue: str,
    systems: dict[str, SystemConfig],
    database_url: str | None = None,
) -> Settings:
    return Settings(
        home=tmp_path / ".lethe",
        database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(
            address=env.client.service_client.config.target_host, task_queue=task_queue
        ),
        systems=systems,
        verification=VerificationSettings(
            portal_public_keys=(public_key_text(PORTAL.public_key()),)
        ),
    )


async def test_demo_systems_end_to_end_without_plaintext_in_history(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    ledger_url: str,
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    settings = settings_for(tmp_path, dev_server_env, task_queue, demo.systems, ledger_url)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    client = dev_server_env.client
    try:
        async with worker_module.build_worker(
            client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=Ed25519PrivateKey.generate(),
        ):
            draft = validate_request(settings, email=SUBJECT.email.upper(), verification="operator")
            done = await submit_request(
                draft, settings=settings, ledger=ledger, client=client, keys=keys
            )
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            await handle.signal(
                ErasureWorkflow.approve, OperatorApproval("kim", "called the member")
            )
            result = await handle.result()

            # What the history holds, read raw (no codec) and decoded (with the codec).
            history = await handle.fetch_history()
            raw = history.to_json()
            decoded_texts = []
            for event in history.events:
                for attr in (
                    "workflow_execution_started_event_attributes",
                    "activity_task_completed_event_attributes",
                ):
                    if event.HasField(attr):  # type: ignore[arg-type]
                        payloads = getattr(event, attr)
                        payloads = payloads.input if hasattr(payloads, "input") else payloads.result
                        for p in await client.data_converter.payload_codec.decode(
                            payloads.payloads
                        ):  # type: ignore[union-attr]
                            decoded_texts.append(p.data.decode())
        outcomes = {o.system: o for o in await ledger.outcomes(done.request_id)}
        rec = await ledger.require_request(done.request_id)
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()

    assert result.status == "completed_with_exceptions"
    assert rec.status == "completed_with_exceptions" and rec.verified_at is not None
    assert {k: o.outcome for k, o in outcomes.items()} == {
        "forum": "erased",
        "crm": "retained",
        "newsletter": "erased",
        "backups": "retained",
    }
    assert outcomes["crm"].legal_basis == "gdpr-17-3-b"
    assert outcomes["forum"].residual == {} and outcomes["forum"].verified_at is not None
    checked, problems = check_bystanders(demo)
    assert problems == [] and checked > 40

    email = SUBJECT.email.encode()
    assert email not in raw.encode().lower()
    assert base64.b64encode(email) not in raw.encode()
    assert decoded_texts, "the decoded history should hold the workflow input"
    assert any(done.subject_ref in t for t in decoded_texts)  # the pseudonym is what travels
    assert not any(SUBJECT.email in t.lower() for t in decoded_texts)

    # The operator's view of the same history, through the `temporal` CLI.
    shown = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "show",
            "--address",
            settings.temporal.address,
            "-w",
            done.workflow_id,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert done.workflow_id in shown and SUBJECT.email not in shown.lower()


def _rows_of(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY 1").fetchall() for n in names}


async def _erase_in_demo_systems(
    env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    systems: dict[str, SystemConfig],
    jurisdiction: str,
) -> tuple[str, dict[str, SystemOutcomeRecord]]:
    """One request for the demo person under ``jurisdiction``, through the real worker."""
    settings = settings_for(tmp_path, env, task_queue, systems)
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    try:
        async with worker_module.build_worker(
            env.client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=Ed25519PrivateKey.generate(),
        ):
            draft = validate_request(
                settings,
                email=SUBJECT.email,
                jurisdiction=jurisdiction,
                assertion=mint_assertion(PORTAL, SUBJECT.email, audience="lethe"),
            )
            done = await submit_request(
                draft, settings=settings, ledger=ledger, client=env.client, keys=keys, policy=FAST
            )
            handle = env.client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            result = await asyncio.wait_for(handle.result(), timeout=90)
        outcomes = {o.system: o for o in await ledger.outcomes(done.request_id)}
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
    return result.status, outcomes


async def test_a_ccpa_request_keeps_invoices_under_the_ccpa_basis(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    status, outcomes = await _erase_in_demo_systems(
        dev_server_env, keys, tmp_path, task_queue, demo.systems, "ccpa"
    )
    assert status == "completed_with_exceptions"
    crm = outcomes["crm"]
    assert (crm.outcome, crm.legal_basis) == ("retained", "ccpa-105-d-8")
    assert [r["legal_basis"] for r in crm.evidence["retained"]] == ["ccpa-105-d-8"]
    checked, problems = check_bystanders(demo)
    assert problems == [] and checked > 40


async def test_a_request_under_a_law_the_rule_has_no_basis_for_fails_that_system(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    # The invoice rule names a basis for GDPR requests only: a CCPA request keeps nothing
    # without a basis and erases nothing from the CRM; the other systems go ahead.
    demo = seed_demo_systems(tmp_path / "systems")
    crm = demo.systems["crm"]
    rules = [
        {**r, "legal_basis": {"gdpr": "gdpr-17-3-b"}} if r["action"] == "retain" else r
        for r in crm.options["tables"]
    ]
    systems = {**demo.systems, "crm": replace(crm, options={**crm.options, "tables": rules})}
    before = _rows_of(demo.db("crm"))
    status, outcomes = await _erase_in_demo_systems(
        dev_server_env, keys, tmp_path, task_queue, systems, "ccpa"
    )
    assert status == "partially_failed"
    assert outcomes["crm"].outcome == "failed" and outcomes["crm"].legal_basis is None
    error = outcomes["crm"].error or ""
    assert "crm: retain rule invoices has no legal basis for a ccpa request" in error
    after = _rows_of(demo.db("crm"))
    # The contact and notes are still there too; the connector's receipts table, created
    # for the erase, holds no receipt.
    assert after.pop("lethe_erasure_receipts", []) == [] and after == before
    assert outcomes["newsletter"].outcome == "erased"


async def _wait_for(path: Path, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if path.exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path.name} never appeared")


async def test_killing_the_worker_mid_request_erases_every_system_once(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    key_environment: dict[str, str],
    tmp_path: Path,
    task_queue: str,
) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    marker = tmp_path / "markers"
    marker.mkdir()
    # forum and newsletter pause before erasing: the worker is killed during forum's pause.
    lines = []
    for name, cfg in demo.systems.items():
        lines.append(f"[systems.{name}]")
        slow = name in {"forum", "newsletter"}
        slow_kind = f"tests.support.slow_sql:Slow{cfg.connector.capitalize()}Connector"
        connector = slow_kind if slow else cfg.connector
        lines.append(f"connector = {json.dumps(connector)}")
        if slow:
            lines.append(f"delay_seconds = {4 if name == 'forum' else 0.5}")
            lines.append(f"marker_dir = {json.dumps(str(marker))}")
        for key, value in cfg.options.items():
            if key != "tables":
                lines.append(f"{key} = {json.dumps(value)}")
        for table in cfg.options.get("tables", []):
            lines.append(f"[[systems.{name}.tables]]")
            for k, v in table.items():
                if isinstance(v, dict):
                    v = "{ " + ", ".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items()) + " }"
                    lines.append(f"{k} = {v}")
                else:
                    lines.append(f"{k} = {json.dumps(v)}")
    (tmp_path / "lethe.toml").write_text("\n".join(lines) + "\n")
    settings = settings_for(tmp_path, dev_server_env, task_queue, demo.systems)
    ledger = await open_ledger(settings, keys)
    log = tmp_path / "worker.log"
    first = start_worker(tmp_path, settings, key_environment, log)
    second = None
    try:
        client = dev_server_env.client
        draft = validate_request(
            settings,
            email=SUBJECT.email,
            assertion=mint_assertion(PORTAL, SUBJECT.email, audience="lethe"),
        )
        assert draft.verification == "preverified"
        done = await submit_request(
            draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
        )
        await _wait_for(marker / "forum.started")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert not (marker / "forum.deletions").exists()

        second = start_worker(tmp_path, settings, key_environment, log)
        handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
        result = await asyncio.wait_for(handle.result(), timeout=90)
        outcomes = await ledger.outcomes(done.request_id)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
        await ledger.dispose()

    assert result.status == "completed_with_exceptions", log.read_text()[-3000:]
    assert sorted(o.system for o in outcomes) == ["backups", "crm", "forum", "newsletter"]
    by_system = {o.system: o for o in outcomes}
    assert by_system["forum"].outcome == "erased" and by_system["forum"].attempts == 2
    assert by_system["forum"].counts == {
        "posts.anonymized": 2,
        "topics_watch.deleted": 1,
        "users.deleted": 1,
    }
    for name in ("forum", "newsletter"):
        assert (marker / f"{name}.deletions").read_text().splitlines() == [done.request_id]
    assert check_bystanders(demo)[1] == []
    assert second is not None and second.returncode == 0  # it stopped cleanly on SIGTERM
