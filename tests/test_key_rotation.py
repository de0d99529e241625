"""``lethe keys rotate``: new payload and vault keys while the old ones still decrypt. A request
started (its workflow input encrypted, its identifiers sealed) under the old keys finishes under
the new ones, on a real worker against the dev server; the ledger records the new keys, and a
machine that holds only the old ones is refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.testing import WorkflowEnvironment

from ledger import Ledger, LedgerError, SubjectVault, VaultError, create_ledger_engine
from ledger.vault import key_id_of
from lethe.keys import load_keyring
from tests.support.cli import LETHE, run_program

from .test_pii_canary import payloads

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

EMAIL = "ada@example.org"
BYSTANDER = "ada@example.org.uk"

CONFIG = """
[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"

[retention]
install_schedule = false
"""


def key_ids_in(history: History) -> set[str]:
    found: set[str] = set()
    for p in payloads(history):
        assert isinstance(p, Payload)
        if b"encryption-key-id" in p.metadata:
            found.add(p.metadata["encryption-key-id"].decode())
    return found


async def test_a_request_started_under_the_old_keys_finishes_under_the_new(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    root = tmp_path / "ops"
    root.mkdir()
    (root / "lethe.toml").write_text(CONFIG.format(root=root))
    with sqlite3.connect(root / "crm.db") as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        conn.executemany("INSERT INTO contacts (email) VALUES (?)", [(EMAIL,), (BYSTANDER,)])
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "XDG_", "TEMPORAL_"))
        },
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "LETHE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "LETHE_TASK_QUEUE": task_queue,
        "LETHE_OPERATOR": "kim",
    }

    async def lethe(*args: str, **extra: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_program, args, {**env, **extra}, root)

    keys = root / ".lethe" / "keys"
    assert (await lethe("init"))[0] == 0
    old = {n: (keys / f"{n}.key").read_text().strip() for n in ("payload", "vault")}
    code, out, err = await lethe("submit", EMAIL, "--verification", "operator", "--json")
    assert code == 0, err
    submitted = json.loads(out)
    rid, wid = submitted["request_id"], submitted["workflow_id"]

    code, out, err = await lethe("keys", "rotate", "--payload", "--vault", "--json")
    assert code == 0, err
    rotated = {r["key"]: r for r in json.loads(out)}
    assert set(rotated) == {"payload", "vault"}
    for name, r in rotated.items():
        retired = Path(r["retired"])
        assert retired.read_text().strip() == old[name]  # the old key, kept
        assert stat.S_IMODE(retired.stat().st_mode) == 0o600
        assert (keys / f"{name}.key").read_text().strip() != old[name]
        assert r["new_id"] != r["old_id"]
    with sqlite3.connect(root / ".lethe" / "lethe.db") as conn:
        recorded = dict(conn.execute("SELECT purpose, key_id FROM ledger_keys"))
    assert recorded["payload"] == rotated["payload"]["new_id"]
    assert recorded["vault"] == rotated["vault"]["new_id"]

    # A machine holding only the old payload key is refused now, before anything is written.
    code, _, err = await lethe("list", LETHE_PAYLOAD_KEY=old["payload"])
    assert code == 78 and len(err.strip().splitlines()) == 1, err
    assert "payload key was rotated on" in err and "created with" not in err, err
    assert f"(id {rotated['payload']['new_id']})" in err
    assert f"this one (id {rotated['payload']['old_id']})" in err

    worker = await asyncio.create_subprocess_exec(
        LETHE, "worker", env=env, cwd=root,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(100):  # until the worker polls
            code, _, err = await lethe("approve", rid, "--reason", "called back")
            if "no worker polls" not in err:
                break
            await asyncio.sleep(0.2)
        assert code == 0, err
        status = ""
        for _ in range(600):
            code, out, _ = await lethe("status", rid, "--json")
            status = json.loads(out)["status"] if code == 0 else ""
            if status not in ("", "received", "awaiting_verification", "erasing"):
                break
            await asyncio.sleep(0.2)
        assert status == "completed"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 120)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    with sqlite3.connect(root / "crm.db") as conn:
        assert [r[0] for r in conn.execute("SELECT email FROM contacts")] == [BYSTANDER]
    # The history holds payloads under both keys: the input under the old, what came after
    # (the approval, the activities) under the new.
    history = await dev_server_env.client.get_workflow_handle(wid).fetch_history()
    assert key_ids_in(History(events=history.events)) == {
        rotated["payload"]["old_id"],
        rotated["payload"]["new_id"],
    }

    # The request's identifiers are still sealed under the old vault key: without the retired
    # key they do not open.
    retired_vault = Path(rotated["vault"]["retired"])
    aside = retired_vault.with_suffix(".aside")
    retired_vault.rename(aside)
    with pytest.raises(LedgerError, match="nor a retired key"):
        await identifiers(root, rid)
    aside.rename(retired_vault)

    # --rewrap: the data key wrapped again under the new vault key; then the retired vault key
    # can go, and the old request still reads.
    code, out, err = await lethe("keys", "rotate", "--rewrap", "--json")
    assert code == 0, err
    rewrap = json.loads(out)["rewrap"]
    assert rewrap["rewrapped"] == 1 and rewrap["vault_key"] == rotated["vault"]["new_id"]
    assert rewrap["retired_unused"] == [rotated["vault"]["old_id"]]
    assert rewrap["retired_still_sealing"] == {} and rewrap["codes_pending_until"] is None
    retired_vault.unlink()
    assert await identifiers(root, rid) == {"email": EMAIL}
    code, out, err = await lethe("status", rid, "--json")
    assert code == 0 and json.loads(out)["status"] == "completed", err
    code, out, err = await lethe("keys", "rotate", "--rewrap")  # nothing left to rewrap
    assert code == 0 and "0 vault entries rewrapped" in out, err


async def identifiers(root: Path, request_id: str) -> dict[str, str]:
    """The request's identifiers, read with the keys the home holds now."""
    home = root / ".lethe"
    keys = load_keyring(home, {})
    ledger = Ledger(
        create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}"),
        SubjectVault(keys.vault, keys.retired_vault),
    )
    try:
        return (await ledger.read_identifiers(request_id))[1]
    finally:
        await ledger.engine.dispose()


def test_rotating_a_key_given_by_the_environment_is_refused(
    lethe_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.cli import lethe, one_line_error

    before = (lethe_home / "keys" / "vault.key").read_text()
    monkeypatch.setenv("LETHE_VAULT_KEY", before.strip())
    assert lethe("keys", "rotate", "--vault") == 78
    assert "LETHE_VAULT_RETIRED_KEYS" in one_line_error(capsys)
    assert lethe("keys", "rotate") == 2
    assert (lethe_home / "keys" / "vault.key").read_text() == before
    assert not (lethe_home / "keys" / "retired").exists()


def test_the_vault_opens_under_a_retired_key_and_seals_under_the_new() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = SubjectVault(old).seal("er-1", {"email": EMAIL})
    rotated = SubjectVault(new, [old])
    assert rotated.open("er-1", sealed.key_id, sealed.wrapped_key, sealed.ciphertext) == {
        "email": EMAIL
    }
    assert rotated.seal("er-2", {"email": EMAIL}).key_id == key_id_of(new)
    with pytest.raises(VaultError, match="nor a retired key"):
        SubjectVault(new).open("er-1", sealed.key_id, sealed.wrapped_key, sealed.ciphertext)
    # What was hashed under the old key's derivation still checks.
    assert rotated.derive_keys("p")[1] == SubjectVault(old).derive_key("p")
    # Rewrapped, the entry opens under the new key alone; the ciphertext is unchanged.
    rewrapped = rotated.rewrap("er-1", sealed.key_id, sealed.wrapped_key)
    assert SubjectVault(new).open("er-1", key_id_of(new), rewrapped, sealed.ciphertext) == {
        "email": EMAIL
    }
    with pytest.raises(VaultError, match="does not authenticate"):  # bound to its request
        SubjectVault(new).open("er-2", key_id_of(new), rewrapped, sealed.ciphertext)
    with pytest.raises(VaultError, match="nor a retired key"):
        SubjectVault(new).rewrap("er-1", sealed.key_id, sealed.wrapped_key)
