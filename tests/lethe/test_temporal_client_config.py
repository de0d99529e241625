"""The Temporal client's configuration: Lethe's own settings (lethe.toml, ``LETHE_TEMPORAL_*``)
and, for what they leave unset, what the ``temporal`` CLI reads (``temporalio.envconfig``: the
``TEMPORAL_*`` variables and temporal.toml profiles), TLS server name and gRPC metadata
included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from lethe.errors import ConfigError
from lethe.settings import load_settings
from lethe.temporal import connect_options
from tests.support.cli import lethe, one_line_error

PROFILES = """
[profile.default]
address = "127.0.0.1:7233"

[profile.prod]
address = "prod.tmprl.example:7233"
namespace = "prod-ns"
[profile.prod.tls]
server_name = "frontend.internal"
[profile.prod.grpc_meta]
x-team = "privacy"
"""


def test_the_temporal_variables_are_read(tmp_path: Path) -> None:
    env = {
        "TEMPORAL_ADDRESS": "t.example:7233",
        "TEMPORAL_NAMESPACE": "ns-t",
        "TEMPORAL_API_KEY": "k-123",
        "TEMPORAL_GRPC_META_X_TEAM": "privacy",
    }
    t = load_settings(env, cwd=tmp_path).temporal
    assert (t.address, t.namespace) == ("t.example:7233", "ns-t")
    options = connect_options(t)
    assert options["target_host"] == "t.example:7233" and options["namespace"] == "ns-t"
    assert options["api_key"] == "k-123" and options["tls"] is True  # an API key implies TLS
    assert options["rpc_metadata"] == {"x-team": "privacy"}


def test_lethe_s_own_names_are_aliases_that_win(tmp_path: Path) -> None:
    env = {
        "TEMPORAL_ADDRESS": "t.example:7233",
        "TEMPORAL_NAMESPACE": "ns-t",
        "LETHE_TEMPORAL_ADDRESS": "l.example:7233",
        "LETHE_TEMPORAL_API_KEY": "lethe-key",
        "TEMPORAL_API_KEY": "cli-key",
    }
    options = connect_options(load_settings(env, cwd=tmp_path).temporal)
    assert options["target_host"] == "l.example:7233" and options["namespace"] == "ns-t"
    assert options["api_key"] == "lethe-key"
    (tmp_path / "lethe.toml").write_text('[temporal]\nnamespace = "from-file"\n')
    t = load_settings(env, cwd=tmp_path).temporal
    assert t.namespace == "from-file"  # the file is Lethe's own setting: it wins too
    assert load_settings({}, cwd=tmp_path).temporal.address == "127.0.0.1:7233"


def test_a_temporal_toml_profile_with_tls_server_name_and_grpc_metadata(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(PROFILES)
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"}
    t = load_settings(env, cwd=tmp_path).temporal
    assert (t.address, t.namespace) == ("prod.tmprl.example:7233", "prod-ns")
    options = connect_options(t)
    assert isinstance(options["tls"], TLSConfig) and options["tls"].domain == "frontend.internal"
    assert options["rpc_metadata"] == {"x-team": "privacy"}
    # The profile may also be named in lethe.toml; the default profile has no TLS.
    (tmp_path / "lethe.toml").write_text('[temporal]\nprofile = "default"\n')
    options = connect_options(
        load_settings({"TEMPORAL_CONFIG_FILE": str(config)}, cwd=tmp_path).temporal
    )
    assert options["tls"] is False and options["target_host"] == "127.0.0.1:7233"
    # The user's temporal.toml (where the temporal CLI keeps it) is found without a variable.
    user = tmp_path / "xdg" / "temporalio" / "temporal.toml"
    user.parent.mkdir(parents=True)
    user.write_text(PROFILES)
    t = load_settings(
        {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TEMPORAL_PROFILE": "prod"}, cwd=tmp_path / "xdg"
    ).temporal
    assert t.namespace == "prod-ns"


def test_lethe_s_tls_server_name(tmp_path: Path) -> None:
    env = {"LETHE_TEMPORAL_TLS": "1", "LETHE_TEMPORAL_TLS_SERVER_NAME": "frontend.internal"}
    options = connect_options(load_settings(env, cwd=tmp_path).temporal)
    assert isinstance(options["tls"], TLSConfig) and options["tls"].domain == "frontend.internal"


def test_a_bad_client_configuration_is_one_line(
    bare_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(PROFILES)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    monkeypatch.setenv("TEMPORAL_PROFILE", "nosuch")
    with pytest.raises(ConfigError, match="Temporal client configuration"):
        load_settings()
    assert lethe("config", "show") == 78
    assert "Temporal client configuration" in one_line_error(capsys)
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    monkeypatch.delenv("LETHE_TEMPORAL_ADDRESS")
    assert lethe("config", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)["temporal"]
    assert shown["address"] == "prod.tmprl.example:7233" and shown["grpc_metadata"] == ["x-team"]
    assert shown["profile"] == "prod"


@pytest.mark.devserver
async def test_a_command_reaches_temporal_through_a_temporal_toml_profile(
    dev_server_env: WorkflowEnvironment,
    lethe_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    task_queue: str,
) -> None:
    """No LETHE_TEMPORAL_ADDRESS: the profile the temporal CLI would use says where."""
    from tests.support.cli import Lethe

    from .test_cli import CONFIG

    (tmp_path / "lethe.toml").write_text(CONFIG)
    address = dev_server_env.client.service_client.config.target_host
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.local]\naddress = "{address}"\nnamespace = "default"\n'
        '[profile.local.grpc_meta]\nx-team = "privacy"\n'
    )
    env = {
        "TEMPORAL_CONFIG_FILE": str(config),
        "TEMPORAL_PROFILE": "local",
        "LETHE_TASK_QUEUE": task_queue,  # no worker: the workflow waits, started
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "PATH": "/usr/bin:/bin",
    }
    code, out, err = await Lethe(env, tmp_path)(
        "submit", "ada@example.org", "--verification", "operator", "--json"
    )
    assert code == 0, err
    described = await dev_server_env.client.get_workflow_handle(
        json.loads(out)["workflow_id"]
    ).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
