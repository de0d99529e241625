"""Settings: embedded defaults, overridden by ``lethe.toml``, overridden by ``LETHE_*``.

    LETHE_HOME                  where the SQLite ledger, keys and dev-server data live (.lethe)
    LETHE_CONFIG                the configuration file (./lethe.toml if it exists)
    LETHE_DATABASE_URL          ledger database (default: SQLite under LETHE_HOME)
    LETHE_TEMPORAL_ADDRESS      host:port of the Temporal frontend (127.0.0.1:7233)
    LETHE_TEMPORAL_NAMESPACE    namespace (default)
    LETHE_TASK_QUEUE            task queue the workers poll (lethe)
    LETHE_TEMPORAL_TLS          1 to use TLS (implied by the client certificate or API key)
    LETHE_TEMPORAL_TLS_CA / _TLS_CERT / _TLS_KEY   PEM files for mTLS
    LETHE_TEMPORAL_API_KEY      API key (Temporal Cloud)
    LETHE_SMTP_HOST / _PORT     the mail server for verification codes and acknowledgements
    LETHE_PORTAL_PUBLIC_KEYS    comma-separated base64 Ed25519 keys of trusted privacy portals

Identity verification (``[verification]``: code_ttl_hours 72, code_attempts 5,
code_resends 3, portal_public_keys, portal_audience "lethe",
assertion_max_lifetime_seconds 600), mail (``[mail]``: smtp_host, smtp_port 587,
smtp_security starttls|tls|none, smtp_username, smtp_password_env, sender) and deadlines
(``[deadlines]``: timezone "UTC", reminder_days 7, and the policy's own promise:
policy_acknowledge_hours 24, policy_answer_days 45, policy_extension_days 0) have sections
of their own.

Systems are declared in ``lethe.toml`` as ``[systems.NAME]`` with ``connector = "…"`` and the
connector's options. Secrets are never written inline: an option ``x_env = "VAR"`` takes the
value of option ``x`` from the environment variable ``VAR``. The file's shape is checked when it
is loaded; the variables of systems, controllers and ``[mail]`` are read only where they are
used (the worker at start-up, ``lethe connectors check``), so commands that only read the
ledger (``list``, ``status``, ``audit``) or start requests (``submit``) run on a machine that
holds none of the systems' secrets.

Operator alerts (``[alerts]``): when a request needs a person (the acknowledgement deadline
passes, the answer deadline's reminder, the answer deadline passes, a controller does not
answer a referral in time, a system fails for good), the worker tells the operators::

    [alerts]
    mail_to = ["privacy-team@example.org"]     # through the [mail] server (smtp_host needed)
    webhook_url_env = "LETHE_ALERT_URL"         # and/or a JSON POST, signed as the
    secret_env = "LETHE_ALERT_SECRET"           #   controller webhook is (HMAC-SHA256)
    on = ["deadline_overdue", "referral_escalated", "system_failed"]   # default: all of them

The events are acknowledgement_overdue, deadline_reminder, deadline_overdue,
referral_escalated, system_failed, system_unserved, request_stalled and payload_refused. An
alert carries no personal data (request id, pseudonym, jurisdiction, what happened, the
deadline, the ``Next:`` command); one that cannot be delivered is recorded as an
``alert_failed`` event and never holds up the request. The webhook's variables, like the
controllers', are read only by the worker.

A system is controller-held (the default) or processor-held for a named controller
(``role = "processor"``, ``controller = "NAME"``); each such controller has a
``[controllers.NAME]`` section saying how it is told (``webhook_url_env``, ``secret_env``)
and how long it has to answer. ``[retention]`` tunes the sweeper and crypto-shredding.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connectors import (
    IDENTIFIER_KINDS,
    Connector,
    ConnectorConfigError,
    ConnectorRegistry,
    format_validation_error,
)
from vocabulary import ALERT_EVENTS

from .assertions import read_public_keys
from .deadlines import JURISDICTIONS, Rule, policy_rule, zone
from .errors import ConfigError

__all__ = [
    "AlertSettings",
    "ControllerConfig",
    "DeadlineSettings",
    "ErasureDefaults",
    "MailSettings",
    "RetentionSettings",
    "Settings",
    "SystemConfig",
    "TemporalSettings",
    "VerificationSettings",
    "build_connectors",
    "load_settings",
]

SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# host:port, the host a name, an IPv4 address or a bracketed IPv6 address; no scheme.
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")


@dataclass(frozen=True)
class TemporalSettings:
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "lethe"
    tls: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ErasureDefaults:
    jurisdiction: str = "gdpr"
    verification: str = "operator"
    verification_timeout_hours: float = 72.0
    attempt_limit: int = 6
    erase_timeout_seconds: int = 900
    heartbeat_timeout_seconds: int = 60


@dataclass(frozen=True)
class VerificationSettings:
    """How identity is verified: emailed codes, and which privacy portals are trusted."""

    code_ttl_hours: float = 72.0
    code_attempts: int = 5
    #: New codes an operator may have sent for one request (``lethe verify --resend``).
    code_resends: int = 3
    portal_public_keys: tuple[str, ...] = ()
    portal_audience: str = "lethe"
    assertion_max_lifetime_seconds: int = 600


@dataclass(frozen=True)
class MailSettings:
    """The SMTP server that carries codes and acknowledgements; none configured: no mail."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    sender: str = "privacy@localhost"

    def smtp_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The SMTP password, read from ``smtp_password_env`` when the mailer is built."""
        if not self.smtp_password_env:
            return None
        env = os.environ if env is None else env
        return _env_ref("[mail] smtp_password_env", self.smtp_password_env, env)


@dataclass(frozen=True)
class DeadlineSettings:
    """The controller's time zone, the reminder's lead, and the policy's own promise."""

    timezone: str = "UTC"
    reminder_days: float = 7.0
    policy_acknowledge_hours: int = 24
    policy_answer_days: int = 45
    policy_extension_days: int = 0

    def policy(self) -> Rule:
        return policy_rule(
            self.policy_acknowledge_hours, self.policy_answer_days, self.policy_extension_days
        )


@dataclass(frozen=True)
class SystemConfig:
    """A system as configured. ``options`` are as written: ``x_env = "VAR"`` references stay
    unresolved until :meth:`resolved_options` reads them where the connector is built."""

    name: str
    connector: str
    options: Mapping[str, Any] = field(repr=False)
    role: str = "controller"  # controller | processor
    controller: str | None = None  # processor-held: the controller whose data it is

    def resolved_options(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The options with every ``x_env`` reference replaced by the variable's value."""
        return _walk_options(self.name, self.options, os.environ if env is None else env)


@dataclass(frozen=True)
class ControllerConfig:
    """A controller we hold data for as a processor, and how a referral reaches it."""

    name: str
    webhook_url_env: str
    secret_env: str
    answer_within_days: float = 14.0
    disclose: tuple[str, ...] = ()  # identifiers the contract lets us send (default: none)
    status_callback: str | None = None

    def webhook(self, env: Mapping[str, str] | None = None) -> tuple[str, str]:
        """The webhook URL and signing secret, read from their variables and checked."""
        env = os.environ if env is None else env
        where = f"[controllers.{self.name}]"
        url = _env_ref(f"{where} webhook_url_env", self.webhook_url_env, env)
        if not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"{where}: ${self.webhook_url_env} is not an http(s) URL")
        if self.disclose and not _private_channel(url):
            raise ConfigError(
                f"{where} disclose sends the person's identifiers: ${self.webhook_url_env} must"
                " be an https URL (plain http only to a loopback address)"
            )
        return url, _env_ref(f"{where} secret_env", self.secret_env, env)


@dataclass(frozen=True)
class AlertSettings:
    """Who is told when a request needs an operator, and of which events."""

    mail_to: tuple[str, ...] = ()
    webhook_url_env: str | None = None
    secret_env: str | None = None
    on: tuple[str, ...] = ALERT_EVENTS

    @property
    def configured(self) -> bool:
        return bool(self.mail_to or self.webhook_url_env)

    def webhook(self, env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
        """The alert webhook's URL and signing secret, read from their variables; None if
        no webhook is configured."""
        if not self.webhook_url_env or not self.secret_env:
            return None
        env = os.environ if env is None else env
        url = _env_ref("[alerts] webhook_url_env", self.webhook_url_env, env)
        if not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"[alerts]: ${self.webhook_url_env} is not an http(s) URL")
        return url, _env_ref("[alerts] secret_env", self.secret_env, env)


@dataclass(frozen=True)
class RetentionSettings:
    """The retention sweeper (a Temporal Schedule) and crypto-shredding."""

    sweep_every_minutes: int = 60
    sweep_limit: int = 200
    shred_grace_days: float = 30.0
    hold_review_days: int = 90
    install_schedule: bool = True  # create/update the Schedule when a worker starts


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    erasure: ErasureDefaults = field(default_factory=ErasureDefaults)
    systems: Mapping[str, SystemConfig] = field(default_factory=dict)
    config_path: Path | None = None
    controllers: Mapping[str, ControllerConfig] = field(default_factory=dict)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: Where ``x_env`` references are read from when systems and controllers are built.
    environ: Mapping[str, str] = field(
        default_factory=lambda: os.environ, repr=False, compare=False
    )


# -- the file's shape -----------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _LedgerSection(_Section):
    database_url: str | None = None
    database_url_env: str | None = None


class _TemporalSection(_Section):
    address: str | None = None
    namespace: str | None = None
    task_queue: str | None = None
    tls: bool | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    api_key_env: str | None = None


class _ErasureSection(_Section):
    default_jurisdiction: str | None = None
    default_verification: str | None = None
    verification_timeout_hours: float | None = Field(default=None, gt=0)
    attempt_limit: int | None = Field(default=None, ge=1, le=100)
    erase_timeout_seconds: int | None = Field(default=None, ge=1)
    heartbeat_timeout_seconds: int | None = Field(default=None, ge=1)


class _ControllerSection(_Section):
    webhook_url_env: str
    secret_env: str
    answer_within_days: float = Field(default=14.0, gt=0)
    disclose: list[str] = Field(default_factory=list)
    status_callback: str | None = None


class _RetentionSection(_Section):
    sweep_every_minutes: int | None = Field(default=None, ge=1)
    sweep_limit: int | None = Field(default=None, ge=1, le=2000)
    shred_grace_days: float | None = Field(default=None, ge=0)
    hold_review_days: int | None = Field(default=None, ge=1)
    install_schedule: bool | None = None


class _VerificationSection(_Section):
    code_ttl_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    code_attempts: int | None = Field(default=None, ge=1, le=20)
    code_resends: int | None = Field(default=None, ge=0, le=10)
    portal_public_keys: list[str] | None = None
    portal_audience: str | None = Field(default=None, min_length=1)
    assertion_max_lifetime_seconds: int | None = Field(default=None, ge=10, le=3600)


class _MailSection(_Section):
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: str | None = None
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    sender: str | None = None


class _DeadlinesSection(_Section):
    timezone: str | None = None
    reminder_days: float | None = Field(default=None, ge=0, le=90)
    policy_acknowledge_hours: int | None = Field(default=None, ge=0, le=24 * 30)
    policy_answer_days: int | None = Field(default=None, ge=1, le=365)
    policy_extension_days: int | None = Field(default=None, ge=0, le=365)


class _AlertsSection(_Section):
    mail_to: list[str] = Field(default_factory=list)
    webhook_url_env: str | None = None
    secret_env: str | None = None
    on: list[str] | None = None


class _File(_Section):
    ledger: _LedgerSection = Field(default_factory=_LedgerSection)
    temporal: _TemporalSection = Field(default_factory=_TemporalSection)
    erasure: _ErasureSection = Field(default_factory=_ErasureSection)
    systems: dict[str, dict[str, Any]] = Field(default_factory=dict)
    controllers: dict[str, _ControllerSection] = Field(default_factory=dict)
    retention: _RetentionSection = Field(default_factory=_RetentionSection)
    verification: _VerificationSection = Field(default_factory=_VerificationSection)
    mail: _MailSection = Field(default_factory=_MailSection)
    deadlines: _DeadlinesSection = Field(default_factory=_DeadlinesSection)
    alerts: _AlertsSection = Field(default_factory=_AlertsSection)


# -- resolution -------------------------------------------------------------------------------


_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _variable_name(where: str, var: object) -> str:
    if not isinstance(var, str) or not _VARIABLE.match(var):
        raise ConfigError(f"{where}: expected the name of an environment variable")
    return var


def _env_ref(where: str, var: str, env: Mapping[str, str]) -> str:
    _variable_name(where, var)
    value = env.get(var)
    if value is None or value == "":
        raise ConfigError(f"{where} names ${var}, which is not set")
    return value


def _looks_secret(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in _SECRET_WORDS)


def _walk_options(
    system: str, options: Mapping[str, Any], env: Mapping[str, str] | None
) -> dict[str, Any]:
    """Check a system's options and, given ``env``, replace ``x_env`` references by values.

    Without ``env`` (at load) the references are only checked and kept; inline secrets are
    refused either way.
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        where = f"system {system!r}: option {key!r}"
        if key.endswith("_env") and isinstance(value, str):
            target = key[: -len("_env")]
            if target in options:
                raise ConfigError(f"system {system!r}: give {target!r} or {key!r}, not both")
            if env is None:
                out[key] = _variable_name(where, value)
            else:
                out[target] = _env_ref(where, value, env)
            continue
        if _looks_secret(key) and isinstance(value, str):
            raise ConfigError(f'{where} is a secret: write {key}_env = "VAR" and set VAR instead')
        if key == "url" and isinstance(value, str):
            try:
                if make_url(value).password:
                    raise ConfigError(
                        f'{where} holds a password: write url_env = "VAR" and set VAR instead'
                    )
            except ArgumentError:
                pass  # the connector's own validation names the problem
        if isinstance(value, dict):
            value = _walk_options(system, value, env)
        elif isinstance(value, list):
            value = [_walk_options(system, v, env) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def _read_file(path: Path) -> _File:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Settings from defaults, the config file and the environment, validated."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    home = Path(env.get("LETHE_HOME") or cwd / ".lethe")
    if not home.is_absolute():
        home = cwd / home

    path = config_path or (Path(env["LETHE_CONFIG"]) if env.get("LETHE_CONFIG") else None)
    if path is not None and not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    if path is None and (cwd / "lethe.toml").exists():
        path = cwd / "lethe.toml"
    cfg = _read_file(path) if path else _File()

    database_url = (
        env.get("LETHE_DATABASE_URL")
        or (
            _env_ref("[ledger] database_url_env", cfg.ledger.database_url_env, env)
            if cfg.ledger.database_url_env
            else None
        )
        or cfg.ledger.database_url
        or f"sqlite+aiosqlite:///{home / 'lethe.db'}"
    )
    try:
        make_url(database_url)
    except ArgumentError:
        raise ConfigError("the ledger database URL is not a SQLAlchemy URL") from None

    t = cfg.temporal
    api_key = env.get("LETHE_TEMPORAL_API_KEY") or (
        _env_ref("[temporal] api_key_env", t.api_key_env, env) if t.api_key_env else None
    )

    def opt_path(env_name: str, value: str | None) -> Path | None:
        raw = env.get(env_name) or value
        return Path(raw) if raw else None

    tls_cert = opt_path("LETHE_TEMPORAL_TLS_CERT", t.tls_cert)
    tls_key = opt_path("LETHE_TEMPORAL_TLS_KEY", t.tls_key)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("TLS client authentication needs both a certificate and a key")
    temporal = TemporalSettings(
        address=env.get("LETHE_TEMPORAL_ADDRESS") or t.address or TemporalSettings.address,
        namespace=env.get("LETHE_TEMPORAL_NAMESPACE") or t.namespace or TemporalSettings.namespace,
        task_queue=env.get("LETHE_TASK_QUEUE") or t.task_queue or TemporalSettings.task_queue,
        tls=(
            _truthy(env["LETHE_TEMPORAL_TLS"])
            if env.get("LETHE_TEMPORAL_TLS")
            else bool(t.tls) or tls_cert is not None or api_key is not None
        ),
        tls_ca=opt_path("LETHE_TEMPORAL_TLS_CA", t.tls_ca),
        tls_cert=tls_cert,
        tls_key=tls_key,
        api_key=api_key,
    )

    address = _HOST_PORT.match(temporal.address)
    if address is None or not 1 <= int(address.group(1)) <= 65535:
        raise ConfigError(
            f"the Temporal address must be host:port, like 127.0.0.1:7233, not "
            f"{temporal.address!r} (LETHE_TEMPORAL_ADDRESS or [temporal] address)"
        )

    e = cfg.erasure
    d = ErasureDefaults()
    erasure = ErasureDefaults(
        jurisdiction=e.default_jurisdiction or d.jurisdiction,
        verification=e.default_verification or d.verification,
        verification_timeout_hours=e.verification_timeout_hours or d.verification_timeout_hours,
        attempt_limit=e.attempt_limit or d.attempt_limit,
        erase_timeout_seconds=e.erase_timeout_seconds or d.erase_timeout_seconds,
        heartbeat_timeout_seconds=e.heartbeat_timeout_seconds or d.heartbeat_timeout_seconds,
    )
    if erasure.jurisdiction not in JURISDICTIONS:
        raise ConfigError(
            f"[erasure] default_jurisdiction must be one of {', '.join(JURISDICTIONS)}"
        )

    controllers = _controllers(cfg.controllers)
    systems: dict[str, SystemConfig] = {}
    for name, raw in cfg.systems.items():
        if not SYSTEM_NAME.match(name):
            raise ConfigError(
                f"system name {name!r} must be lower-case letters, digits, '-' or '_'"
            )
        options = dict(raw)
        connector = options.pop("connector", None)
        if not isinstance(connector, str) or not connector:
            raise ConfigError(f'system {name!r}: missing connector = "…"')
        role, controller = _role(name, options.pop("role", "controller"), options, controllers)
        options.pop("controller", None)
        systems[name] = SystemConfig(
            name, connector, _walk_options(name, options, None), role, controller
        )

    mail = _mail(cfg.mail, env)
    r, rd = cfg.retention, RetentionSettings()
    retention = RetentionSettings(
        sweep_every_minutes=r.sweep_every_minutes or rd.sweep_every_minutes,
        sweep_limit=r.sweep_limit or rd.sweep_limit,
        shred_grace_days=rd.shred_grace_days if r.shred_grace_days is None else r.shred_grace_days,
        hold_review_days=r.hold_review_days or rd.hold_review_days,
        install_schedule=rd.install_schedule if r.install_schedule is None else r.install_schedule,
    )
    return Settings(
        home=home,
        database_url=database_url,
        temporal=temporal,
        erasure=erasure,
        systems=systems,
        config_path=path,
        controllers=controllers,
        retention=retention,
        verification=_verification(cfg.verification, env),
        mail=mail,
        deadlines=_deadlines(cfg.deadlines),
        alerts=_alerts(cfg.alerts, mail),
        environ=env,
    )


def _verification(v: _VerificationSection, env: Mapping[str, str]) -> VerificationSettings:
    d = VerificationSettings()
    from_env = env.get("LETHE_PORTAL_PUBLIC_KEYS")
    keys = (
        tuple(k.strip() for k in from_env.split(",") if k.strip())
        if from_env
        else tuple(v.portal_public_keys or ())
    )
    read_public_keys(keys)  # a bad key is a configuration error now, not at the first request
    return VerificationSettings(
        code_ttl_hours=v.code_ttl_hours or d.code_ttl_hours,
        code_attempts=v.code_attempts or d.code_attempts,
        code_resends=d.code_resends if v.code_resends is None else v.code_resends,  # 0: none
        portal_public_keys=keys,
        portal_audience=v.portal_audience or d.portal_audience,
        assertion_max_lifetime_seconds=(
            v.assertion_max_lifetime_seconds or d.assertion_max_lifetime_seconds
        ),
    )


def _mail(m: _MailSection, env: Mapping[str, str]) -> MailSettings:
    d = MailSettings()
    security = m.smtp_security or d.smtp_security
    if security not in {"starttls", "tls", "none"}:
        raise ConfigError("[mail] smtp_security must be starttls, tls or none")
    port = env.get("LETHE_SMTP_PORT")
    try:
        smtp_port = int(port) if port else (m.smtp_port or d.smtp_port)
    except ValueError:
        raise ConfigError("LETHE_SMTP_PORT must be a port number") from None
    sender = m.sender or d.sender
    if "@" not in sender:
        raise ConfigError("[mail] sender must be an email address")
    return MailSettings(
        smtp_host=env.get("LETHE_SMTP_HOST") or m.smtp_host,
        smtp_port=smtp_port,
        smtp_security=security,
        smtp_username=m.smtp_username,
        smtp_password_env=(
            _variable_name("[mail] smtp_password_env", m.smtp_password_env)
            if m.smtp_password_env is not None
            else None
        ),
        sender=sender,
    )


_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _alerts(a: _AlertsSection, mail: MailSettings) -> AlertSettings:
    on = tuple(ALERT_EVENTS if a.on is None else a.on)
    for event in on:
        if event not in ALERT_EVENTS:
            raise ConfigError(
                f"[alerts] on: unknown event {event!r} (known: {', '.join(ALERT_EVENTS)})"
            )
    for address in a.mail_to:
        if not _ADDRESS.match(address):
            raise ConfigError(f"[alerts] mail_to: {address!r} is not an email address")
    if a.mail_to and not mail.smtp_host:
        raise ConfigError(
            "[alerts] mail_to needs a mail server: set [mail] smtp_host (or LETHE_SMTP_HOST)"
        )
    if (a.webhook_url_env is None) != (a.secret_env is None):
        raise ConfigError("[alerts] webhook_url_env and secret_env go together: give both")
    return AlertSettings(
        mail_to=tuple(a.mail_to),
        webhook_url_env=(
            _variable_name("[alerts] webhook_url_env", a.webhook_url_env)
            if a.webhook_url_env is not None
            else None
        ),
        secret_env=(
            _variable_name("[alerts] secret_env", a.secret_env)
            if a.secret_env is not None
            else None
        ),
        on=tuple(dict.fromkeys(on)),
    )


def _deadlines(dl: _DeadlinesSection) -> DeadlineSettings:
    d = DeadlineSettings()
    timezone = dl.timezone or d.timezone
    try:
        zone(timezone)
    except ValueError as exc:
        raise ConfigError(f"[deadlines] timezone: {exc}") from None

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    return DeadlineSettings(
        timezone=timezone,
        reminder_days=pick(dl.reminder_days, d.reminder_days),
        policy_acknowledge_hours=int(pick(dl.policy_acknowledge_hours, d.policy_acknowledge_hours)),
        policy_answer_days=dl.policy_answer_days or d.policy_answer_days,
        policy_extension_days=int(pick(dl.policy_extension_days, d.policy_extension_days)),
    )


def _private_channel(url: str) -> bool:
    """https, or plain http that never leaves this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _controllers(sections: Mapping[str, _ControllerSection]) -> dict[str, ControllerConfig]:
    out: dict[str, ControllerConfig] = {}
    for name, c in sections.items():
        where = f"[controllers.{name}]"
        if not SYSTEM_NAME.match(name):
            raise ConfigError(
                f"controller name {name!r} must be lower-case letters, digits, '-' or '_'"
            )
        unknown = sorted(set(c.disclose) - IDENTIFIER_KINDS)
        if unknown:
            raise ConfigError(
                f"{where} disclose: unknown identifier {unknown[0]!r} "
                f"(known: {', '.join(sorted(IDENTIFIER_KINDS))})"
            )
        out[name] = ControllerConfig(
            name=name,
            webhook_url_env=_variable_name(f"{where} webhook_url_env", c.webhook_url_env),
            secret_env=_variable_name(f"{where} secret_env", c.secret_env),
            answer_within_days=c.answer_within_days,
            disclose=tuple(c.disclose),
            status_callback=c.status_callback,
        )
    return out


def _role(
    system: str,
    role: Any,
    options: Mapping[str, Any],
    controllers: Mapping[str, ControllerConfig],
) -> tuple[str, str | None]:
    """A system is controller-held (default) or processor-held for a declared controller."""
    controller = options.get("controller")
    if role == "controller":
        if controller is not None:
            raise ConfigError(
                f'system {system!r}: controller = … needs role = "processor" (data we hold '
                "for another controller)"
            )
        return "controller", None
    if role != "processor":
        raise ConfigError(f'system {system!r}: role must be "controller" or "processor"')
    if not isinstance(controller, str) or not controller:
        raise ConfigError(f'system {system!r}: role = "processor" needs controller = "NAME"')
    if controller not in controllers:
        raise ConfigError(
            f"system {system!r} is held for controller {controller!r}, which has no "
            f"[controllers.{controller}] section (webhook_url_env, secret_env)"
        )
    return "processor", controller


def build_connectors(
    systems: Mapping[str, SystemConfig],
    registry: ConnectorRegistry,
    env: Mapping[str, str] | None = None,
) -> dict[str, Connector]:
    """Construct (and so validate) every configured system's connector, reading its secrets
    from ``env`` (the process environment by default)."""
    built: dict[str, Connector] = {}
    for name, cfg in systems.items():
        options = cfg.resolved_options(env)
        try:
            built[name] = registry.build(name, cfg.connector, options)
        except ConnectorConfigError as exc:
            raise ConfigError(str(exc)) from None
    return built
