"""Acceptance: whoever reaches the Temporal frontend without Lethe's keys cannot steer a
request. The real ``temporal`` CLI sends an unencrypted ``approve`` signal, a forged one (it
claims the real payload key's id) and an unencrypted ``cancel_request`` update to a running
request on the dev server, served by the real worker and ledger: nothing changes, the
update's caller is told why, the signals are recorded as ``payload_refused`` events that
``lethe status`` shows, and the workflow is not wedged (the operator's own cancel works).
A workflow started by the CLI with a plain input fails at once with the refusal.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger import Ledger, RequestEvent
from lethe.demo.systems import SUBJECT, seed_demo_systems
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, TemporalSettings, build_connectors

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

BIN = Path(sys.executable).parent


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def refusals(ledger: Ledger, rid: str, count: int) -> list[RequestEvent]:
    for _ in range(300):
        found = [e for e in await ledger.events(rid) if e.kind == "payload_refused"]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: {count} refusal(s) never recorded")


async def test_the_temporal_cli_without_keys_changes_nothing(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    key_environment: dict[str, str],
    tmp_path: Path,
    task_queue: str,
) -> None:
    client = dev_server_env.client
    address = client.service_client.config.target_host
    demo = seed_demo_systems(tmp_path / "systems")
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(address=address, task_queue=task_queue),
        systems=dict(demo.systems),
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    temporal = [str(BIN / "temporal"), "--address", address, "--namespace", client.namespace]
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "TEMPORAL_"))}
    operator = {
        **shell,
        **key_environment,
        "LETHE_HOME": str(settings.home),
        "LETHE_DATABASE_URL": settings.database_url,
        "LETHE_TEMPORAL_ADDRESS": address,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
    }
    try:
        async with worker_module.build_worker(
            client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            signing_key=Ed25519PrivateKey.generate(),
        ):
            draft = validate_request(settings, email=SUBJECT.email, verification="operator")
            done = await submit_request(
                draft, settings=settings, ledger=ledger, client=client, keys=keys
            )
            rid, wid = done.request_id, done.workflow_id
            plain = json.dumps({"operator": "mallory", "reason": "trust me"})

            # An unencrypted approve, as anyone with the frontend's address can send it.
            code, out = await run(
                *temporal, "workflow", "signal", "--workflow-id", wid, "--name", "approve",
                "--input", plain, env=shell, cwd=tmp_path,
            )  # fmt: skip
            assert code == 0, out  # the server takes any signal; the workflow refuses it
            # A forged one: the codec's encoding and the real key's id, and no key.
            code, out = await run(
                *temporal, "workflow", "signal", "--workflow-id", wid, "--name", "approve",
                "--input-meta", "encoding=binary/encrypted",
                "--input-meta", f"encryption-key-id={keys.key_ids()['payload']}",
                "--input-base64", "--input", base64.b64encode(secrets.token_bytes(64)).decode(),
                env=shell, cwd=tmp_path,
            )  # fmt: skip
            assert code == 0, out
            first, forged = await refusals(ledger, rid, 2)
            assert first.detail["signal"] == "approve" and first.actor == "unknown"
            assert "is not encrypted" in first.detail["reason"]
            assert "does not authenticate" in forged.detail["reason"]

            # An unencrypted cancel_request update: rejected, and the caller is told why.
            code, out = await run(
                *temporal, "workflow", "update", "execute", "--workflow-id", wid,
                "--name", "cancel_request", "--input", plain, env=shell, cwd=tmp_path,
            )  # fmt: skip
            assert code != 0
            assert "refused: the payload is not encrypted" in out, out

            # Nothing changed: still waiting for an operator, nothing erased, not cancelled.
            rec = await ledger.require_request(rid)
            assert rec.status == "awaiting_verification" and await ledger.outcomes(rid) == []
            code, out = await run(str(BIN / "lethe"), "status", rid, env=operator, cwd=tmp_path)
            flat = " ".join(out.split())
            assert code == 0, out
            assert "Refused: 2 signal(s) not encrypted under the payload key" in flat
            assert "Next: an operator confirms who asks: lethe approve" in flat

            # Not wedged: the operator's own (encrypted) update goes through.
            code, out = await run(
                str(BIN / "lethe"), "cancel", rid, "--reason", "filed twice",
                env=operator, cwd=tmp_path,
            )  # fmt: skip
            assert code == 0, out
            handle = client.get_workflow_handle(wid)
            assert (await asyncio.wait_for(handle.result(), 60))["status"] == "cancelled"

            # A start with a plain input fails at once, with the reason.
            code, out = await run(
                *temporal, "workflow", "start", "--type", "ErasureWorkflow",
                "--task-queue", task_queue, "--workflow-id", "erasure/er-forged",
                "--input", json.dumps({"request_id": "er-forged"}), env=shell, cwd=tmp_path,
            )  # fmt: skip
            assert code == 0, out
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(client.get_workflow_handle("erasure/er-forged").result(), 60)
            cause = failed.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "PayloadRefused"
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
