"""`lethe init` makes the keys and the ledger; nothing else does; the ledger knows its keys.

A command or worker holding other keys than the ledger was made with is refused in one line
(exit 78) before it writes anything or reaches Temporal; one pointed at a missing ledger or
missing keys is told to run `lethe init`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sqlite3
import stat
from pathlib import Path

import pytest

from ledger import create_ledger_engine, key_ids_of, upgrade_schema
from lethe.errors import ConfigError
from lethe.keys import load_keyring
from lethe.runtime import Runtime
from lethe.settings import load_settings
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_keys_and_a_private_ledger_once(
    bare_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("init") == 0
    out = capsys.readouterr().out
    for name in ("pseudonym", "vault", "payload", "signing"):
        assert f"{name} key: created {bare_home / 'keys' / name}.key" in out
        assert mode(bare_home / "keys" / f"{name}.key") == 0o600
    assert f"ledger: created sqlite+aiosqlite:///{bare_home / 'lethe.db'}" in out
    assert mode(bare_home / "keys") == 0o700 and mode(bare_home / "lethe.db") == 0o600
    keys = load_keyring(bare_home)
    assert lethe("init", "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["ledger_created"] is False and again["key_ids_recorded"] == []
    assert all(how.startswith("found ") for how in again["keys"].values())
    assert again["key_ids"] == keys.key_ids()
    assert load_keyring(bare_home) == keys  # nothing was replaced


def test_the_ledger_s_write_ahead_files_are_private_too(lethe_home: Path) -> None:
    """SQLite gives its -wal and -shm files the database file's mode: 0600."""
    with sqlite3.connect(lethe_home / "lethe.db") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        wal, shm = (lethe_home / "lethe.db-wal", lethe_home / "lethe.db-shm")
        assert wal.exists() and shm.exists()
        assert mode(wal) == 0o600 and mode(shm) == 0o600


def test_init_tightens_a_ledger_an_older_lethe_left_readable(bare_home: Path) -> None:
    async def older() -> None:
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{bare_home / 'lethe.db'}")
        await upgrade_schema(engine, "0007_sealed_events")
        await engine.dispose()

    bare_home.mkdir()
    asyncio.run(older())
    (bare_home / "lethe.db").chmod(0o644)
    assert lethe("init") == 0
    assert mode(bare_home / "lethe.db") == 0o600


@pytest.mark.parametrize(
    "args",
    [
        ("submit", "ada@example.org"),
        ("list",),
        ("status", "er-1"),
        ("approve", "er-1", "--reason", "called back"),
        ("hold", "list"),
        ("worker",),
    ],
)
def test_no_command_but_init_makes_keys_or_a_ledger(
    bare_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    (tmp_path / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    assert lethe(*args) == 78
    assert "run `lethe init`" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lethe.toml"]
    # Keys given by the environment, but still no ledger: the same answer, nothing made.
    for name in ("PSEUDONYM", "VAULT", "PAYLOAD", "SIGNING"):
        monkeypatch.setenv(f"LETHE_{name}_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    assert lethe(*args) == 78
    assert "no ledger at" in (err := one_line_error(capsys)) and "run `lethe init`" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lethe.toml"]


async def recorded_key_ids() -> dict[str, str]:
    engine = create_ledger_engine(load_settings().database_url)
    try:
        return await key_ids_of(engine)
    finally:
        await engine.dispose()


def other_keys(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setenv(f"LETHE_{name}_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


@pytest.mark.parametrize("key", ["VAULT", "PSEUDONYM", "PAYLOAD"])
@pytest.mark.parametrize(
    "args",
    [
        ("submit", "ada@example.org", "--verification", "operator"),
        ("worker",),
        ("list",),
    ],
)
def test_other_keys_than_the_ledger_s_are_refused_before_anything_is_written(
    lethe_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    args: tuple[str, ...],
) -> None:
    """A shell or worker with another key used to submit "successfully" (and the worker then
    looped on a decode error). Now: one line, exit 78, no row, no workflow (no Temporal is
    running here: the refusal comes before any connection)."""
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    recorded = asyncio.run(recorded_key_ids())
    other_keys(monkeypatch, key)
    assert lethe(*args) == 78
    err = one_line_error(capsys)
    purpose = key.lower()
    assert f"the ledger was created with another {purpose} key (id {recorded[purpose]})" in err
    assert f"LETHE_{key}_KEY" in err and "nothing was written" in err
    assert written(lethe_home) == {}


def test_a_ledger_older_than_the_record_adopts_the_keys_of_its_first_writer(
    bare_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    other_keys(monkeypatch, "VAULT", "PSEUDONYM", "PAYLOAD")

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        engine = create_ledger_engine(settings.database_url)
        await upgrade_schema(engine, "0007_sealed_events")
        assert await key_ids_of(engine) == {}
        with pytest.raises(ConfigError, match="run `lethe migrate`"):
            await Runtime.open(settings)  # behind: no command but `lethe migrate` migrates
        await upgrade_schema(engine)
        assert await key_ids_of(engine) == {}
        rt = await Runtime.open(settings)
        await rt.close()
        adopted = await key_ids_of(engine)
        await engine.dispose()
        return adopted, rt.keys.key_ids()

    bare_home.mkdir()
    adopted, held = asyncio.run(scenario())
    assert adopted == held
    other_keys(monkeypatch, "VAULT")  # from now on, a vault key of its own is refused
    with pytest.raises(Exception, match="another vault key"):
        asyncio.run(Runtime.open(settings))


def test_init_will_not_make_new_keys_for_a_ledger_made_with_others(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lethe_home / "keys" / "vault.key").unlink()  # the vault key was lost (or is elsewhere)
    assert lethe("init") == 78
    err = one_line_error(capsys)
    assert "exists and was made with a vault key" in err and "bring its keys" in err
    assert not (lethe_home / "keys" / "vault.key").exists()
    left = sorted(os.listdir(lethe_home / "keys"))
    assert left == ["payload.key", "pseudonym.key", "signing.key"]
