"""The settings schema, table by table: every bound at its edge, every ``LETHE_*`` variable
over the file, every section's unknown keys, and no empty string taken for "the default"."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

import lethe.settings as settings_module
from lethe.assertions import public_key_text
from lethe.errors import ConfigError
from lethe.settings import ENVIRONMENT, ControllerConfig, Settings, load_settings

CONTROLLER = '[controllers.acme]\nwebhook_url_env = "ACME_URL"\nsecret_env = "ACME_SECRET"\n'

# (section, key, the bound itself or the nearest accepted value, just past it)
LOWER: list[tuple[str, str, float, float]] = [
    ("erasure", "verification_timeout_hours", 0.01, 0),
    ("erasure", "attempt_limit", 1, 0),
    ("erasure", "erase_timeout_seconds", 1, 0),
    ("erasure", "heartbeat_timeout_seconds", 1, 0),
    ("controllers.acme", "answer_within_days", 0.01, 0),
    ("retention", "sweep_every_minutes", 1, 0),
    ("retention", "sweep_limit", 1, 0),
    ("retention", "shred_grace_days", 0, -0.01),
    ("retention", "hold_review_days", 1, 0),
    ("verification", "code_ttl_hours", 0.01, 0),
    ("verification", "code_attempts", 1, 0),
    ("verification", "code_resends", 0, -1),
    ("verification", "assertion_max_lifetime_seconds", 10, 9),
    ("verification", "portal_jwks_cache_seconds", 1, 0),
    ("verification", "portal_jwks_refresh_seconds", 0, -1),
    ("oidc", "jwks_cache_seconds", 1, 0),
    ("oidc", "jwks_refresh_seconds", 0, -1),
    ("drp", "max_lifetime_seconds", 10, 9),
    ("mail", "smtp_port", 1, 0),
    ("deadlines", "reminder_days", 0, -0.01),
    ("deadlines", "policy_acknowledge_hours", 0, -1),
    ("deadlines", "policy_answer_days", 1, 0),
    ("deadlines", "policy_extension_days", 0, -1),
    ("codec_server", "port", 1, 0),
    ("worker", "metrics_port", 1, 0),
    ("worker", "max_concurrent_activities", 1, 0),
    ("worker", "max_concurrent_workflow_tasks", 2, 1),
    ("worker", "workflow_task_pollers", 2, 1),
    ("worker", "activity_task_pollers", 1, 0),
    ("worker", "max_cached_workflows", 0, -1),
    ("worker", "graceful_shutdown_seconds", 0, -0.01),
    ("web", "port", 0, -1),
    ("web", "max_body_bytes", 1024, 1023),
    ("web", "requester_calls_per_minute", 1, 0),
]
UPPER: list[tuple[str, str, float, float]] = [
    ("erasure", "attempt_limit", 100, 101),
    ("retention", "sweep_limit", 2000, 2001),
    ("verification", "code_ttl_hours", 720, 720.01),
    ("verification", "code_attempts", 20, 21),
    ("verification", "code_resends", 10, 11),
    ("verification", "assertion_max_lifetime_seconds", 3600, 3601),
    ("verification", "portal_jwks_cache_seconds", 86400, 86401),
    ("verification", "portal_jwks_refresh_seconds", 3600, 3601),
    ("oidc", "jwks_cache_seconds", 86400, 86401),
    ("oidc", "jwks_refresh_seconds", 3600, 3601),
    ("drp", "max_lifetime_seconds", 3600, 3601),
    ("mail", "smtp_port", 65535, 65536),
    ("deadlines", "reminder_days", 90, 90.01),
    ("deadlines", "policy_acknowledge_hours", 720, 721),
    ("deadlines", "policy_answer_days", 365, 366),
    ("deadlines", "policy_extension_days", 365, 366),
    ("codec_server", "port", 65535, 65536),
    ("worker", "metrics_port", 65535, 65536),
    ("worker", "max_concurrent_activities", 10000, 10001),
    ("worker", "max_concurrent_workflow_tasks", 10000, 10001),
    ("worker", "workflow_task_pollers", 100, 101),
    ("worker", "activity_task_pollers", 100, 101),
    ("worker", "max_cached_workflows", 100_000, 100_001),
    ("worker", "graceful_shutdown_seconds", 3600, 3600.01),
    ("web", "port", 65535, 65536),
    ("web", "max_body_bytes", 16 * 1024 * 1024, 16 * 1024 * 1024 + 1),
    ("web", "requester_calls_per_minute", 1000, 1001),
]
EDGES = LOWER + UPPER


def _section_models() -> dict[str, type[BaseModel]]:
    """The file's sections and their models (a controller's, under ``controllers.acme``)."""
    models: dict[str, type[BaseModel]] = {}
    for name, info in settings_module._File.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            models[name] = info.annotation
    models["controllers.acme"] = ControllerConfig
    return models


def _bounded(kinds: tuple[type, ...]) -> set[tuple[str, str]]:
    return {
        (section, info.alias or key)
        for section, model in _section_models().items()
        for key, info in model.model_fields.items()
        if any(isinstance(m, kinds) for m in info.metadata)
    }


def test_the_tables_hold_every_bounded_key() -> None:
    assert {(s, k) for s, k, *_ in LOWER} == _bounded((annotated_types.Ge, annotated_types.Gt))
    assert {(s, k) for s, k, *_ in UPPER} == _bounded((annotated_types.Le, annotated_types.Lt))


def _write(tmp_path: Path, section: str, body: str) -> Path:
    path = tmp_path / "lethe.toml"
    path.write_text(
        (CONTROLLER + body) if section == "controllers.acme" else f"[{section}]\n{body}"
    )
    return path


def _value(s: Settings, section: str, key: str) -> Any:
    model = s.controllers["acme"] if section == "controllers.acme" else getattr(s, section)
    return getattr(model, key)


def _toml(value: float) -> str:
    return repr(value)


@pytest.mark.parametrize(("section", "key", "accepted", "refused"), EDGES)
def test_a_bound_from_the_file(
    tmp_path: Path, section: str, key: str, accepted: float, refused: float
) -> None:
    """The edge is taken as written (0 stays 0, never "the default"); one step past it is
    refused with the file and the key."""
    _write(tmp_path, section, f"{key} = {_toml(accepted)}\n")
    assert _value(load_settings({}, cwd=tmp_path), section, key) == accepted
    path = _write(tmp_path, section, f"{key} = {_toml(refused)}\n")
    with pytest.raises(ConfigError) as err:
        load_settings({}, cwd=tmp_path)
    assert str(err.value).startswith(f"{path}: {section}.{key}: Input should be")


ENV_EDGES = [
    (var, section, key, accepted, refused)
    for var, (section, key, _) in ENVIRONMENT.items()
    for s, k, accepted, refused in EDGES
    if (s, k) == (section, key)
]


def test_the_environment_has_bounded_keys_to_check() -> None:
    assert {var for var, *_ in ENV_EDGES} == {"LETHE_SMTP_PORT"}


@pytest.mark.parametrize(("var", "section", "key", "accepted", "refused"), ENV_EDGES)
def test_a_bound_from_the_environment(
    tmp_path: Path, var: str, section: str, key: str, accepted: float, refused: float
) -> None:
    s = load_settings({var: str(accepted)}, cwd=tmp_path)
    assert _value(s, section, key) == accepted
    with pytest.raises(ConfigError) as err:
        load_settings({var: str(refused)}, cwd=tmp_path)
    assert str(err.value).startswith(f"{var}: {section}.{key}: Input should be")


# -- each LETHE_* variable over the file ------------------------------------------------------

PORTAL_KEYS = [public_key_text(Ed25519PrivateKey.generate().public_key()) for _ in range(3)]

# variable: (what the file says, the variable's value, what is read, its value then)
OVERRIDES: dict[str, tuple[str, str, Callable[[Settings], Any], Any]] = {
    "LETHE_DATABASE_URL": (
        '[ledger]\ndatabase_url = "sqlite:///file.db"\ndatabase_url_env = "UNSET_DB_URL"\n',
        "sqlite:///env.db",
        lambda s: s.database_url,
        "sqlite:///env.db",
    ),
    "LETHE_TEMPORAL_ADDRESS": (
        '[temporal]\naddress = "file:7233"\n',
        "env:7233",
        lambda s: s.temporal.address,
        "env:7233",
    ),
    "LETHE_TEMPORAL_NAMESPACE": (
        '[temporal]\nnamespace = "file"\n',
        "env",
        lambda s: s.temporal.namespace,
        "env",
    ),
    "LETHE_TASK_QUEUE": (
        '[temporal]\ntask_queue = "file"\n',
        "env",
        lambda s: s.temporal.task_queue,
        "env",
    ),
    "LETHE_TEMPORAL_TLS": ("[temporal]\ntls = true\n", "0", lambda s: s.temporal.tls, False),
    "LETHE_TEMPORAL_TLS_CA": (
        '[temporal]\ntls_ca = "file-ca.pem"\n',
        "env-ca.pem",
        lambda s: s.temporal.tls_ca,
        Path("env-ca.pem"),
    ),
    "LETHE_TEMPORAL_TLS_CERT": (
        '[temporal]\ntls_cert = "file.pem"\ntls_key = "file.key"\n',
        "env.pem",
        lambda s: (s.temporal.tls_cert, s.temporal.tls_key, s.temporal.tls),
        (Path("env.pem"), Path("file.key"), True),
    ),
    "LETHE_TEMPORAL_TLS_KEY": (
        '[temporal]\ntls_cert = "file.pem"\ntls_key = "file.key"\n',
        "env.key",
        lambda s: (s.temporal.tls_cert, s.temporal.tls_key),
        (Path("file.pem"), Path("env.key")),
    ),
    "LETHE_TEMPORAL_API_KEY": (
        '[temporal]\napi_key_env = "UNSET_API_KEY"\n',
        "tk-env",
        lambda s: (s.temporal.api_key, s.temporal.tls),
        ("tk-env", True),
    ),
    "LETHE_TEMPORAL_TLS_SERVER_NAME": (
        '[temporal]\ntls_server_name = "file.internal"\n',
        "env.internal",
        lambda s: s.temporal.tls_server_name,
        "env.internal",
    ),
    "LETHE_TEMPORAL_PROFILE": (
        '[temporal]\nprofile = "UNSET"\n',  # an unknown profile: read only with the variable
        "default",
        lambda s: s.temporal.profile,
        "default",
    ),
    "LETHE_SMTP_HOST": (
        '[mail]\nsmtp_host = "file.example.org"\n',
        "env.example.org",
        lambda s: s.mail.smtp_host,
        "env.example.org",
    ),
    "LETHE_SMTP_PORT": ("[mail]\nsmtp_port = 25\n", "2525", lambda s: s.mail.smtp_port, 2525),
    "LETHE_PORTAL_PUBLIC_KEYS": (
        f'[verification]\nportal_public_keys = ["{PORTAL_KEYS[0]}"]\n',
        f" {PORTAL_KEYS[1]}, ,{PORTAL_KEYS[2]} ",
        lambda s: s.verification.portal_public_keys,
        (PORTAL_KEYS[1], PORTAL_KEYS[2]),
    ),
}


def test_every_variable_has_an_override_case() -> None:
    assert set(OVERRIDES) == set(ENVIRONMENT)


@pytest.mark.parametrize("var", sorted(OVERRIDES))
def test_a_variable_overrides_the_file(tmp_path: Path, var: str) -> None:
    toml, value, read, expected = OVERRIDES[var]
    (tmp_path / "lethe.toml").write_text(toml)
    if "UNSET" not in toml:  # the file alone (an empty variable is unset) says otherwise
        assert read(load_settings({var: ""}, cwd=tmp_path)) != expected
    assert read(load_settings({var: value}, cwd=tmp_path)) == expected


def test_home_and_config_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text('[temporal]\nnamespace = "here"\n')
    other = tmp_path / "other.toml"
    other.write_text('[temporal]\nnamespace = "there"\n')
    s = load_settings({"LETHE_HOME": "state", "LETHE_CONFIG": str(other)}, cwd=tmp_path)
    assert (s.home, s.config_path, s.temporal.namespace) == (tmp_path / "state", other, "there")
    assert load_settings({"LETHE_HOME": ""}, cwd=tmp_path).home == tmp_path / ".lethe"


def test_the_docstring_lists_every_variable() -> None:
    doc = settings_module.__doc__ or ""
    listed = set(re.findall(r"^    (LETHE_[A-Z_]+) ", doc, flags=re.MULTILINE))
    assert listed == set(ENVIRONMENT) | {"LETHE_HOME", "LETHE_CONFIG"}


# -- TLS: implied, or said --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "tls"),
    [
        ({"LETHE_TEMPORAL_API_KEY": "tk"}, True),
        ({"LETHE_TEMPORAL_API_KEY": "tk", "LETHE_TEMPORAL_TLS": "0"}, False),
        ({"LETHE_TEMPORAL_TLS": "yes"}, True),
        ({}, False),
    ],
)
def test_tls_is_implied_by_an_api_key_unless_the_variable_says(
    tmp_path: Path, env: dict[str, str], tls: bool
) -> None:
    assert load_settings(env, cwd=tmp_path).temporal.tls is tls


def test_tls_must_be_a_yes_or_a_no(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^LETHE_TEMPORAL_TLS: temporal\.tls: Input should be"):
        load_settings({"LETHE_TEMPORAL_TLS": "ture"}, cwd=tmp_path)


# -- unknown keys, inline secrets, empty strings ----------------------------------------------


@pytest.mark.parametrize("section", sorted(_section_models()))
def test_an_unknown_key_is_refused_with_its_path(tmp_path: Path, section: str) -> None:
    path = _write(tmp_path, section, "tiemout = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings({}, cwd=tmp_path)
    assert str(err.value) == f"{path}: {section}.tiemout: Extra inputs are not permitted"


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text('[sytems.crm]\nconnector = "sql"\n')
    with pytest.raises(ConfigError, match=r"lethe\.toml: sytems: Extra inputs are not permitted"):
        load_settings({}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[temporal]\napi_key = "tk-9f8e7d"\n',
            "[temporal] api_key is a secret: write api_key_env",
        ),
        ('[mail]\nsmtp_password = "hunter2"\n', "[mail] smtp_password is a secret"),
        (CONTROLLER + 'secret = "hunter2"\n', "[controllers.acme] secret is a secret"),
    ],
)
def test_a_sections_secret_is_never_inline(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "lethe.toml").write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings({}, cwd=tmp_path)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value) and "tk-9f8e7d" not in str(err.value)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("ledger", "database_url"),  # was: a SQLite ledger under LETHE_HOME
        ("temporal", "address"),
        ("temporal", "namespace"),
        ("temporal", "task_queue"),
        ("temporal", "tls_ca"),
        ("erasure", "default_jurisdiction"),
        ("erasure", "default_verification"),
        ("verification", "portal_audience"),
        ("mail", "smtp_host"),
        ("mail", "smtp_security"),
        ("mail", "sender"),
        ("deadlines", "timezone"),
    ],
)
def test_an_empty_string_is_refused_not_taken_for_the_default(
    tmp_path: Path, section: str, key: str
) -> None:
    path = _write(tmp_path, section, f'{key} = ""\n')
    with pytest.raises(ConfigError) as err:
        load_settings({}, cwd=tmp_path)
    assert str(err.value).startswith(f"{path}: {section}.{key}: ")


def test_a_controllers_name_is_its_sections(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(CONTROLLER + 'name = "other"\n')
    with pytest.raises(ConfigError, match=r"\[controllers\.acme\] name: the section's name"):
        load_settings({}, cwd=tmp_path)
    (tmp_path / "lethe.toml").write_text(CONTROLLER.replace("acme", "Acme"))
    with pytest.raises(ConfigError, match=r"\[controllers\.Acme\] name: must be lower-case"):
        load_settings({}, cwd=tmp_path)
