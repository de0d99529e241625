"""Where the configuration is found (LETHE_CONFIG, ./lethe.toml, the user's, the system's),
what ``lethe config show`` prints (secrets masked), and the ``lethe.toml`` ``lethe init``
writes."""

from __future__ import annotations

import base64
import json
import secrets
import tomllib
from pathlib import Path

import pytest

from lethe import settings as settings_module
from lethe.config_file import config_template
from lethe.errors import ConfigError
from lethe.settings import load_settings
from tests.support.cli import lethe, one_line_error


def _file(path: Path, queue: str, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[temporal]\ntask_queue = "{queue}"\n{extra}')
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    cwd = tmp_path / "work"
    cwd.mkdir()
    system = tmp_path / "etc" / "lethe" / "lethe.toml"
    monkeypatch.setattr(settings_module, "SYSTEM_CONFIG", system)
    return {
        "cwd": cwd,
        "explicit": tmp_path / "elsewhere" / "mine.toml",
        "./lethe.toml": cwd / "lethe.toml",
        "user": tmp_path / "xdg" / "lethe" / "lethe.toml",
        "system": system,
    }


def test_the_first_file_found_wins_in_order(places: dict[str, Path], tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    cwd = places["cwd"]
    assert load_settings(env, cwd=cwd).config_path is None
    order = ["system", "user", "./lethe.toml"]
    for source in order:  # each one added is found before those added earlier
        _file(places[source], f"q-{source.strip('./')}")
        found = load_settings(env, cwd=cwd)
        assert found.config_path == places[source] and found.config_source == source
        assert found.temporal.task_queue == f"q-{source.strip('./')}"
    _file(places["explicit"], "q-explicit")
    found = load_settings({**env, "LETHE_CONFIG": str(places["explicit"])}, cwd=cwd)
    assert found.config_source == "LETHE_CONFIG" and found.temporal.task_queue == "q-explicit"


def test_the_user_s_directory_without_xdg_is_under_home(
    places: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    _file(home / ".config" / "lethe" / "lethe.toml", "q-home")
    for env in ({"HOME": str(home)}, {"HOME": str(home), "XDG_CONFIG_HOME": "relative/ignored"}):
        assert load_settings(env, cwd=places["cwd"]).temporal.task_queue == "q-home"


def test_a_named_file_that_does_not_exist_is_refused(places: dict[str, Path]) -> None:
    _file(places["./lethe.toml"], "q-cwd")  # not a fallback for a file that was named
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"LETHE_CONFIG": str(places["explicit"])}, cwd=places["cwd"])


def test_the_home_of_a_file_is_relative_to_the_file(
    places: dict[str, Path], tmp_path: Path
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    _file(places["user"], "q", '[paths]\nhome = "state"\n')
    settings = load_settings(env, cwd=places["cwd"])
    assert settings.home == places["user"].parent / "state"
    assert settings.database_url.endswith(str(places["user"].parent / "state" / "lethe.db"))
    assert load_settings({**env, "LETHE_HOME": "mine"}, cwd=places["cwd"]).home == (
        places["cwd"] / "mine"
    )


def test_config_show_names_the_file_and_ledger_and_masks_secrets(
    bare_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _file(tmp_path / "conf" / "lethe.toml", "q-shown", '[systems.crm]\nconnector = "sql"\n'
                   'url_env = "CRM_URL"\n[[systems.crm.tables]]\ntable = "c"\nkey = "email"\n'
                   'identifier = "email"\naction = "delete"\n')  # fmt: skip
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    said = {
        "LETHE_CONFIG": str(config),
        "LETHE_DATABASE_URL": "postgresql+asyncpg://lethe:hunter2pw@db.internal/lethe?password=q2secret",
        "LETHE_TEMPORAL_API_KEY": "tmprl-api-key-xyz",
        "LETHE_VAULT_KEY": key,
        "CRM_URL": "postgresql://crm:crmsecret@crm/crm",
    }
    for var, value in said.items():
        monkeypatch.setenv(var, value)
    assert lethe("config", "show") == 0
    text = capsys.readouterr().out
    assert lethe("config", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    for secret in ("hunter2pw", "q2secret", "tmprl-api-key-xyz", key, "crmsecret"):
        assert secret not in text and secret not in json.dumps(shown)
    assert f"{config} (found by LETHE_CONFIG)" in text
    assert "postgresql+asyncpg://lethe:***@db.internal/lethe" in text
    assert shown["config"] == str(config) and shown["config_source"] == "LETHE_CONFIG"
    assert shown["keys"]["vault"] == "LETHE_VAULT_KEY"
    assert "run `lethe init`" in shown["keys"]["pseudonym"]
    assert shown["temporal"]["api_key"] == "set" and shown["temporal"]["tls"] is True
    assert shown["temporal"]["task_queue"] == "q-shown" and shown["systems"] == {"crm": "sql"}
    assert not bare_home.exists()  # nothing was made


def test_config_show_with_a_bad_file_is_one_line(
    bare_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lethe.toml").write_text("[temporal]\nadress = 1\n")
    assert lethe("config", "show") == 78
    assert "adress" in one_line_error(capsys)


def test_init_writes_a_commented_config_once(
    bare_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("init") == 0
    out = capsys.readouterr().out
    written = tmp_path / "lethe.toml"
    assert f"config: created {written}" in out
    assert f"keys: in {bare_home / 'keys'}" in out
    assert written.read_text() == config_template()
    assert tomllib.loads(written.read_text()) == {}  # every key commented out: the defaults
    assert all(line.startswith("#") for line in written.read_text().splitlines() if line.strip())
    assert load_settings().config_path == written
    written.write_text(written.read_text() + '\n[temporal]\ntask_queue = "mine"\n')
    assert lethe("init", "--json") == 0
    assert json.loads(capsys.readouterr().out)["config"] == f"found {written}"
    assert 'task_queue = "mine"' in written.read_text()  # never overwritten


def test_init_with_a_named_config_writes_none(
    bare_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    named = _file(tmp_path / "conf" / "x.toml", "q")
    monkeypatch.setenv("LETHE_CONFIG", str(named))
    assert lethe("init") == 0
    assert f"config: found {named}" in capsys.readouterr().out
    assert not (tmp_path / "lethe.toml").exists()


def test_a_refused_init_writes_no_config(
    lethe_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lethe_home / "keys" / "vault.key").unlink()
    assert lethe("init") == 78
    one_line_error(capsys)
    assert not (tmp_path / "lethe.toml").exists()
