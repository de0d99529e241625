"""Settings: embedded defaults, overridden by ``lethe.toml``, overridden by ``LETHE_*``.

    LETHE_HOME                  where the SQLite ledger, keys and dev-server data live (.lethe,
                                or ``[paths] home`` of the configuration file)
    LETHE_CONFIG                the configuration file; else the first that exists of
                                ./lethe.toml, $XDG_CONFIG_HOME/lethe/lethe.toml (~/.config/…)
                                and /etc/lethe/lethe.toml
    LETHE_DATABASE_URL          ledger database (default: SQLite under LETHE_HOME)
    LETHE_TEMPORAL_ADDRESS      host:port of the Temporal frontend (127.0.0.1:7233)
    LETHE_TEMPORAL_NAMESPACE    namespace (default)
    LETHE_TASK_QUEUE            task queue the workers poll (lethe)
    LETHE_TEMPORAL_TLS          1 to use TLS, 0 not to (implied by a client certificate or API key)
    LETHE_TEMPORAL_TLS_CA       PEM file of the server's certificate authority
    LETHE_TEMPORAL_TLS_CERT     PEM file of the client certificate (mTLS), with ...
    LETHE_TEMPORAL_TLS_KEY      ... the PEM file of its private key
    LETHE_TEMPORAL_API_KEY      API key (Temporal Cloud)
    LETHE_TEMPORAL_TLS_SERVER_NAME  the name the server's TLS certificate is checked against
    LETHE_TEMPORAL_PROFILE      the profile of the Temporal CLI's temporal.toml to read

Each LETHE_TEMPORAL_* setting left unset (here and in the file) is taken from the Temporal
CLI's own client configuration when there is one (``temporalio.envconfig``: TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_GRPC_META_*, TEMPORAL_PROFILE
and the temporal.toml at TEMPORAL_CONFIG_FILE or ~/.config/temporalio/temporal.toml).
    LETHE_SMTP_HOST             the mail server for verification codes and acknowledgements
    LETHE_SMTP_PORT             its port (587)
    LETHE_PORTAL_PUBLIC_KEYS    comma-separated base64 Ed25519 keys of trusted privacy portals

Each variable overrides one key of a section (``ENVIRONMENT`` below says which) and is checked
as that key is; an empty variable counts as unset.

Identity verification (``[verification]``: code_ttl_hours 72, code_attempts 5,
code_resends 3, portal_public_keys, portal_audience "lethe",
assertion_max_lifetime_seconds 600), mail (``[mail]``: smtp_host, smtp_port 587,
smtp_security starttls|tls|none, smtp_username, smtp_password_env, sender) and deadlines
(``[deadlines]``: timezone "UTC", reminder_days 7, and the policy's own promise:
policy_acknowledge_hours 24, policy_answer_days 45, policy_extension_days 0) have sections
of their own. Each section is one model below: its defaults, its bounds, its checks. A key the
model does not know is refused with its path, so a typo fails at load.

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
referral_escalated, system_failed, system_unserved, request_stalled, payload_refused,
manual_task_opened, manual_task_overdue and processor_overdue. An
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from connectors import IDENTIFIER_KINDS, ConnectorConfigError
from vocabulary import ALERT_EVENTS

from .assertions import read_public_keys
from .deadlines import JURISDICTIONS, Rule, policy_rule, zone
from .errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from connectors import Connector, ConnectorRegistry

__all__ = [
    "ENVIRONMENT",
    "MAX_CACHED_WORKFLOWS",
    "AlertSettings",
    "CodecServerSettings",
    "ControllerConfig",
    "DeadlineSettings",
    "DrpSettings",
    "ErasureDefaults",
    "IssuerSettings",
    "MailSettings",
    "OidcSettings",
    "RetentionSettings",
    "Settings",
    "SystemConfig",
    "TemporalSettings",
    "VerificationSettings",
    "WebSettings",
    "WorkerSettings",
    "build_connectors",
    "config_candidates",
    "load_settings",
    "user_config",
]

#: ``[worker] max_cached_workflows`` by default. Temporal's own default is 1,000; a cached
#: request costs the worker 0.3-0.45 MiB (its sandbox and state), so 1,000 requests parked at
#: the identity gate took it to 499 MiB of the 512 MiB target (``python -m tests.bench
#: parked_requests``). A request evicted is replayed from its history when it has work again;
#: fewer cached than requests in flight at once makes the worker wait for room and replay
#: (measured at 250: workflow tasks timed out under a burst of intake), hence not lower.
MAX_CACHED_WORKFLOWS = 500

SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# host:port, the host a name, an IPv4 address or a bracketed IPv6 address; no scheme.
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")


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


def _variable(var: str) -> str:
    if not _VARIABLE.match(var):
        raise ValueError("expected the name of an environment variable")
    return var


#: An ``x_env`` key: the name of the variable that holds ``x``, read where ``x`` is used.
EnvVar = Annotated[str, AfterValidator(_variable)]


# -- the sections: one model each, carrying defaults, bounds and checks ------------------------


class _Section(BaseModel):
    # Frozen; an unknown key is an error; an empty string is never "use the default".
    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)


class _Ledger(_Section):
    database_url: str | None = None
    database_url_env: EnvVar | None = None


class _Paths(_Section):
    #: Where keys, the SQLite ledger and dev-server data live; relative to the file's directory.
    home: Path | None = None


class TemporalSettings(_Section):
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "lethe"
    tls: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_server_name: str | None = None  # the name the server's certificate is checked against
    api_key_env: EnvVar | None = None
    #: Never from the file: LETHE_TEMPORAL_API_KEY, or read from ``api_key_env`` at load.
    api_key: str | None = Field(default=None, repr=False)
    #: The profile of the Temporal CLI's configuration (temporal.toml) to read; TEMPORAL_PROFILE
    #: when unset.
    profile: str | None = None
    #: What the Temporal CLI's own configuration (``TEMPORAL_*`` variables, temporal.toml)
    #: says, as ``Client.connect`` arguments: used for what Lethe's settings leave unset
    #: (:func:`lethe.temporal.connect_options`). Never from the file.
    _client_config: Mapping[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def client_config(self) -> Mapping[str, Any]:
        return self._client_config

    @field_validator("address")
    @classmethod
    def _host_port(cls, address: str) -> str:
        match = _HOST_PORT.match(address)
        if match is None or not 1 <= int(match.group(1)) <= 65535:
            raise ValueError(f"must be host:port, like 127.0.0.1:7233, not {address!r}")
        return address

    @model_validator(mode="after")
    def _client_pair(self) -> TemporalSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS client authentication needs both a certificate and a key")
        return self


class ErasureDefaults(_Section):
    jurisdiction: str = Field(default="gdpr", alias="default_jurisdiction")
    verification: str = Field(default="operator", alias="default_verification")
    verification_timeout_hours: float = Field(default=72.0, gt=0)
    attempt_limit: int = Field(default=6, ge=1, le=100)
    erase_timeout_seconds: int = Field(default=900, ge=1)
    heartbeat_timeout_seconds: int = Field(default=60, ge=1)

    @field_validator("jurisdiction")
    @classmethod
    def _known(cls, jurisdiction: str) -> str:
        if jurisdiction not in JURISDICTIONS:
            raise ValueError(f"must be one of {', '.join(JURISDICTIONS)}")
        return jurisdiction


def _http_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip()
    if not url.startswith(("https://", "http://")) or " " in url:
        raise ValueError("must be an http(s) URL")
    return url


class VerificationSettings(_Section):
    """How identity is verified: emailed codes, and which privacy portals are trusted."""

    code_ttl_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    code_attempts: int = Field(default=5, ge=1, le=20)
    #: New codes an operator may have sent for one request (``lethe verify --resend``).
    code_resends: int = Field(default=3, ge=0, le=10)
    portal_public_keys: tuple[str, ...] = ()
    portal_audience: str = "lethe"
    assertion_max_lifetime_seconds: int = Field(default=600, ge=10, le=3600)
    #: The portal's published keys (a JWKS), looked up by the assertion's ``kid``.
    portal_jwks_url: str | None = Field(default=None, max_length=2000)
    #: How long a fetched key set is used before it is fetched again.
    portal_jwks_cache_seconds: int = Field(default=300, ge=1, le=86400)
    #: An unknown ``kid`` refreshes the set at most this often.
    portal_jwks_refresh_seconds: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("portal_jwks_url")
    @classmethod
    def _jwks_url(cls, url: str | None) -> str | None:
        return _http_url(url)

    @field_validator("portal_public_keys")
    @classmethod
    def _keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        try:  # a bad key is a configuration error now, not at the first request
            read_public_keys(keys)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return keys


class MailSettings(_Section):
    """The SMTP server that carries codes and acknowledgements; none configured: no mail."""

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password_env: EnvVar | None = None
    sender: str = "privacy@localhost"

    @field_validator("sender")
    @classmethod
    def _address(cls, sender: str) -> str:
        if "@" not in sender:
            raise ValueError("must be an email address")
        return sender

    def smtp_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The SMTP password, read from ``smtp_password_env`` when the mailer is built."""
        if self.smtp_password_env is None:
            return None
        env = os.environ if env is None else env
        return _env_ref("[mail] smtp_password_env", self.smtp_password_env, env)


class DeadlineSettings(_Section):
    """The controller's time zone, the reminder's lead, and the policy's own promise."""

    timezone: str = "UTC"
    reminder_days: float = Field(default=7.0, ge=0, le=90)
    policy_acknowledge_hours: int = Field(default=24, ge=0, le=24 * 30)
    policy_answer_days: int = Field(default=45, ge=1, le=365)
    policy_extension_days: int = Field(default=0, ge=0, le=365)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, timezone: str) -> str:
        zone(timezone)  # ValueError naming the unknown zone
        return timezone

    def policy(self) -> Rule:
        return policy_rule(
            self.policy_acknowledge_hours, self.policy_answer_days, self.policy_extension_days
        )


class ControllerConfig(_Section):
    """A controller we hold data for as a processor, and how a referral reaches it
    (``[controllers.NAME]``; the name is the section's)."""

    name: str
    webhook_url_env: EnvVar
    secret_env: EnvVar
    answer_within_days: float = Field(default=14.0, gt=0)
    disclose: tuple[str, ...] = ()  # identifiers the contract lets us send (default: none)
    status_callback: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not SYSTEM_NAME.match(name):
            raise ValueError("must be lower-case letters, digits, '-' or '_'")
        return name

    @field_validator("disclose")
    @classmethod
    def _identifiers(cls, disclose: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(disclose) - IDENTIFIER_KINDS)
        if unknown:
            known = ", ".join(sorted(IDENTIFIER_KINDS))
            raise ValueError(f"unknown identifier {unknown[0]!r} (known: {known})")
        return disclose

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


class CodecServerSettings(_Section):
    """``lethe codec-server``: decodes payloads for the Temporal Web UI and ``temporal
    --codec-endpoint``. Its bearer tokens are never in the file: ``tokens_env`` names the
    variable that holds them, ``NAME:TOKEN`` pairs separated by commas (NAME is who the
    ledger records for each decode)."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8089, ge=1, le=65535)
    #: Browser origins allowed to call it (the Web UI's, e.g. http://localhost:8233).
    cors_origins: tuple[str, ...] = ()
    tokens_env: EnvVar = "LETHE_CODEC_TOKENS"

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path not in ("", "/")
            ):
                raise ValueError(f"an origin is scheme://host[:port], not {origin!r}")
        return tuple(o.rstrip("/") for o in origins)

    def tokens(self, env: Mapping[str, str]) -> dict[str, str]:
        """Who each token is (token -> name), from ``tokens_env``; refused if none is set."""
        text = env.get(self.tokens_env, "")
        found: dict[str, str] = {}
        for item in _comma_list(text):
            name, sep, token = item.partition(":")
            if not sep or not name.strip() or len(token.strip()) < 16:
                raise ConfigError(
                    f"{self.tokens_env}: each entry is NAME:TOKEN with a token of 16 characters"
                    " or more"
                )
            found[token.strip()] = name.strip()
        if not found:
            raise ConfigError(
                f"the codec server needs bearer tokens: set {self.tokens_env} to NAME:TOKEN[,…]"
            )
        return found


class WorkerSettings(_Section):
    """``lethe worker``: how much it takes on at once, how it stops, and where it serves
    /metrics, /healthz and /readyz (no port: not served)."""

    max_concurrent_activities: int = Field(default=50, ge=1, le=10_000)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2, le=10_000)
    workflow_task_pollers: int = Field(default=5, ge=2, le=100)
    activity_task_pollers: int = Field(default=5, ge=1, le=100)
    #: Workflow executions kept in memory between their tasks (Temporal's sticky cache);
    #: one evicted is replayed from its history when it next has work. Each costs the
    #: worker its sandbox and state (docs/architecture.md, Performance).
    max_cached_workflows: int = Field(default=MAX_CACHED_WORKFLOWS, ge=0, le=100_000)
    #: On SIGTERM, how long activities under way may run to their end before they are
    #: cancelled (and retried by another worker).
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0, le=3600)

    #: Loopback by default; a container or a pod sets 0.0.0.0 for its scraper.
    metrics_bind: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)


class AlertSettings(_Section):
    """Who is told when a request needs an operator, and of which events."""

    mail_to: tuple[str, ...] = ()
    webhook_url_env: EnvVar | None = None
    secret_env: EnvVar | None = None
    on: tuple[str, ...] = ALERT_EVENTS

    @field_validator("mail_to")
    @classmethod
    def _addresses(cls, mail_to: tuple[str, ...]) -> tuple[str, ...]:
        for address in mail_to:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an email address")
        return mail_to

    @field_validator("on")
    @classmethod
    def _events(cls, on: tuple[str, ...]) -> tuple[str, ...]:
        for event in on:
            if event not in ALERT_EVENTS:
                known = ", ".join(ALERT_EVENTS)
                raise ValueError(f"unknown event {event!r} (known: {known})")
        return tuple(dict.fromkeys(on))

    @model_validator(mode="after")
    def _webhook_pair(self) -> AlertSettings:
        if (self.webhook_url_env is None) != (self.secret_env is None):
            raise ValueError("webhook_url_env and secret_env go together: give both")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.mail_to) or self.webhook_url_env is not None

    def webhook(self, env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
        """The alert webhook's URL and signing secret, read from their variables; None if
        no webhook is configured."""
        if self.webhook_url_env is None or self.secret_env is None:
            return None
        env = os.environ if env is None else env
        url = _env_ref("[alerts] webhook_url_env", self.webhook_url_env, env)
        if not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"[alerts]: ${self.webhook_url_env} is not an http(s) URL")
        return url, _env_ref("[alerts] secret_env", self.secret_env, env)


class RetentionSettings(_Section):
    """The retention sweeper (a Temporal Schedule) and crypto-shredding."""

    sweep_every_minutes: int = Field(default=60, ge=1)
    sweep_limit: int = Field(default=200, ge=1, le=2000)
    shred_grace_days: float = Field(default=30.0, ge=0)
    hold_review_days: int = Field(default=90, ge=1)
    install_schedule: bool = True  # create/update the Schedule when a worker starts


class WebSettings(_Section):
    """``lethe serve``: where it listens, how much it reads, how often a requester may try."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: The largest request body read, in bytes; a larger one is refused (413), unread.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: Requesters' calls (a code, a status) per minute, per request and per client address.
    requester_calls_per_minute: int = Field(default=10, ge=1, le=1000)


class OidcSettings(_Section):
    """Bearer tokens from an OpenID Connect issuer for ``lethe serve``'s operators and auditors
    (beside API clients' tokens). Off while ``issuer`` is unset."""

    issuer: str | None = Field(default=None, max_length=2000)
    #: The ``aud`` a token must carry.
    audience: str = Field(default="lethe", min_length=1, max_length=200)
    #: The claim listing what the holder may do: a space-separated string or a list.
    scope_claim: str = Field(default="scope", min_length=1, max_length=100)
    #: The claim's values and the Lethe scope (intake, operate, audit) each grants; a value
    #: equal to a Lethe scope grants it unless mapped otherwise.
    scope_map: dict[str, str] = {}
    #: The claim naming the person; recorded as the actor ``oidc:<value>``.
    actor_claim: str = Field(default="sub", min_length=1, max_length=100)
    jwks_cache_seconds: int = Field(default=300, ge=1, le=86400)
    jwks_refresh_seconds: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, url: str | None) -> str | None:
        return _http_url(url)

    @field_validator("scope_map")
    @classmethod
    def _scopes(cls, mapping: dict[str, str]) -> dict[str, str]:
        for value, scope in mapping.items():
            if scope not in ("intake", "operate", "audit"):
                raise ValueError(f"{value!r} maps to {scope!r}: scopes are intake, operate, audit")
        return mapping


class DrpSettings(_Section):
    """The Data Rights Protocol endpoints of ``lethe serve`` (``/drp/…``): off while
    ``business_id`` is unset. ``agents``: each Authorized Agent's id and its base64 Ed25519
    verify key, as the DRP service directory lists them."""

    business_id: str | None = Field(default=None, max_length=200)
    agents: dict[str, str] = {}
    #: The longest ``issued-at`` to ``expires-at`` span of a signed request accepted.
    max_lifetime_seconds: int = Field(default=600, ge=10, le=3600)

    @field_validator("agents")
    @classmethod
    def _agent_keys(cls, agents: dict[str, str]) -> dict[str, str]:
        for agent, key in agents.items():
            try:
                read_public_keys([key])
            except ConfigError:
                raise ValueError(f"agent {agent!r}: not base64 of 32 Ed25519 key bytes") from None
        return agents


class IssuerSettings(_Section):
    """Who issues certificates of erasure and answers questions about them (shown at the top
    of the HTML certificate; not part of what the proof log signs)."""

    organisation: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=200)


class _File(_Section):
    """``lethe.toml``: its sections, each absent one at its defaults."""

    ledger: _Ledger = _Ledger()
    paths: _Paths = _Paths()
    temporal: TemporalSettings = TemporalSettings()
    erasure: ErasureDefaults = ErasureDefaults()
    systems: dict[str, dict[str, Any]] = {}
    controllers: dict[str, ControllerConfig] = {}
    retention: RetentionSettings = RetentionSettings()
    verification: VerificationSettings = VerificationSettings()
    mail: MailSettings = MailSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    alerts: AlertSettings = AlertSettings()
    codec_server: CodecServerSettings = CodecServerSettings()
    worker: WorkerSettings = WorkerSettings()
    web: WebSettings = WebSettings()
    issuer: IssuerSettings = IssuerSettings()
    oidc: OidcSettings = OidcSettings()
    drp: DrpSettings = DrpSettings()

    @field_validator("controllers", mode="before")
    @classmethod
    def _named(cls, sections: Any) -> Any:
        """A controller's name is its section's: ``[controllers.NAME]``."""
        if not isinstance(sections, dict):
            return sections
        return {
            name: {"name": name, **section} if isinstance(section, dict) else section
            for name, section in sections.items()
        }

    @model_validator(mode="after")
    def _across_sections(self) -> _File:
        for name, controller in self.controllers.items():
            if controller.name != name:
                raise ValueError(f"[controllers.{name}] name: the section's name is its name")
        if self.alerts.mail_to and self.mail.smtp_host is None:
            raise ValueError(
                "[alerts] mail_to needs a mail server: set [mail] smtp_host (or LETHE_SMTP_HOST)"
            )
        return self


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
class Settings:
    home: Path
    database_url: str
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    erasure: ErasureDefaults = field(default_factory=ErasureDefaults)
    systems: Mapping[str, SystemConfig] = field(default_factory=dict)
    config_path: Path | None = None
    #: How the file was found: LETHE_CONFIG, ./lethe.toml, user, system (None: no file).
    config_source: str | None = None
    controllers: Mapping[str, ControllerConfig] = field(default_factory=dict)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    codec_server: CodecServerSettings = field(default_factory=CodecServerSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    issuer: IssuerSettings = field(default_factory=IssuerSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    drp: DrpSettings = field(default_factory=DrpSettings)
    #: Where ``x_env`` references are read from when systems and controllers are built.
    environ: Mapping[str, str] = field(
        default_factory=lambda: os.environ, repr=False, compare=False
    )


# -- the environment ---------------------------------------------------------------------------


class _Override(NamedTuple):
    section: str
    key: str
    parse: Callable[[str], Any] = str  # the model then parses numbers, booleans and paths


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


#: Each ``LETHE_*`` variable and the ``[section] key`` it overrides. Its value is checked as the
#: key's is; it also sets aside the file's ``key_env`` reference, if any.
ENVIRONMENT: Mapping[str, _Override] = {
    "LETHE_DATABASE_URL": _Override("ledger", "database_url"),
    "LETHE_TEMPORAL_ADDRESS": _Override("temporal", "address"),
    "LETHE_TEMPORAL_NAMESPACE": _Override("temporal", "namespace"),
    "LETHE_TASK_QUEUE": _Override("temporal", "task_queue"),
    "LETHE_TEMPORAL_TLS": _Override("temporal", "tls"),
    "LETHE_TEMPORAL_TLS_CA": _Override("temporal", "tls_ca"),
    "LETHE_TEMPORAL_TLS_CERT": _Override("temporal", "tls_cert"),
    "LETHE_TEMPORAL_TLS_KEY": _Override("temporal", "tls_key"),
    "LETHE_TEMPORAL_API_KEY": _Override("temporal", "api_key"),
    "LETHE_TEMPORAL_TLS_SERVER_NAME": _Override("temporal", "tls_server_name"),
    "LETHE_TEMPORAL_PROFILE": _Override("temporal", "profile"),
    "LETHE_SMTP_HOST": _Override("mail", "smtp_host"),
    "LETHE_SMTP_PORT": _Override("mail", "smtp_port"),
    "LETHE_PORTAL_PUBLIC_KEYS": _Override("verification", "portal_public_keys", _comma_list),
}


def _overlay(raw: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Write the set ``LETHE_*`` variables over the file's keys; which key came from which."""
    origin: dict[tuple[str, ...], str] = {}
    for var, (section, key, parse) in ENVIRONMENT.items():
        text = env.get(var)
        if not text:
            continue  # an empty variable is unset
        values = raw.setdefault(section, {})
        if not isinstance(values, dict):
            continue  # the file's section is not a table: validation says so
        values.pop(f"{key}_env", None)
        values[key] = parse(text)
        origin[section, key] = var
    return origin


# -- reading the file --------------------------------------------------------------------------


def _looks_secret(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in _SECRET_WORDS)


def _no_inline_secrets(raw: Mapping[str, Any], where: str = "") -> None:
    """A section's secret is named by ``x_env``, never written (systems: :func:`_walk_options`)."""
    for key, value in raw.items():
        if isinstance(value, dict) and key != "systems":
            _no_inline_secrets(value, f"{where}.{key}" if where else key)
        elif where and _looks_secret(key) and not key.endswith("_env"):
            raise ConfigError(
                f'[{where}] {key} is a secret: write {key}_env = "VAR" and set VAR instead'
            )


def _explain(err: ValidationError, path: Path | None, origin: Mapping[tuple[str, ...], str]) -> str:
    """One line: each problem, where it came from (the variable, or the file) and its key;
    input values are not echoed (they may be secrets)."""

    def one(e: ErrorDetails) -> str:
        loc = tuple(str(part) for part in e["loc"])
        said = e.get("ctx", {}).get("error", e["msg"])
        if e["type"] != "value_error":  # pydantic's own: type, bound, unknown key
            what = f"{'.'.join(loc)}: {e['msg']}"
        elif len(loc) > 1:  # a key's check
            what = f"[{'.'.join(loc[:-1])}] {loc[-1]}: {said}"
        elif loc:  # a section's rule
            what = f"[{loc[0]}] {said}"
        else:  # a rule across sections
            what = str(said)
        source = origin.get(loc[:2]) or (str(path) if path else None)
        return f"{source}: {what}" if source else what

    return "; ".join(one(e) for e in err.errors(include_input=False, include_url=False))


def _read(path: Path | None, env: Mapping[str, str]) -> _File:
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        _no_inline_secrets(raw)
    origin = _overlay(raw, env)
    try:
        return _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path, origin)) from None


#: The system's configuration file, the last place looked.
SYSTEM_CONFIG = Path("/etc/lethe/lethe.toml")


def user_config(env: Mapping[str, str]) -> Path:
    """The user's configuration file: ``$XDG_CONFIG_HOME/lethe/lethe.toml`` (``~/.config``)."""
    base = env.get("XDG_CONFIG_HOME")
    if not base or not Path(base).is_absolute():  # the XDG rule: a relative one is ignored
        home = env.get("HOME")
        base = str(Path(home) / ".config") if home else str(Path.home() / ".config")
    return Path(base) / "lethe" / "lethe.toml"


def config_candidates(env: Mapping[str, str], cwd: Path) -> list[tuple[str, Path]]:
    """Where a configuration file is looked for when LETHE_CONFIG is not set, in order."""
    return [
        ("./lethe.toml", cwd / "lethe.toml"),
        ("user", user_config(env)),
        ("system", SYSTEM_CONFIG),
    ]


def _config_path(
    given: Path | None, env: Mapping[str, str], cwd: Path
) -> tuple[Path | None, str | None]:
    """The configuration file and how it was found: given, LETHE_CONFIG (which must exist),
    else the first of :func:`config_candidates` that exists; (None, None) if none does."""
    if given is None and env.get("LETHE_CONFIG"):
        given, source = Path(env["LETHE_CONFIG"]), "LETHE_CONFIG"
    else:
        source = "given"
    if given is not None:
        if not given.exists():
            raise ConfigError(f"configuration file {given} does not exist")
        return given, source
    for source, path in config_candidates(env, cwd):
        if path.is_file():
            return path, source
    return None, None


# -- load --------------------------------------------------------------------------------------


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Settings from defaults, the config file and the environment, validated."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    path, source = _config_path(config_path, env, cwd)
    cfg = _read(path, env)
    if env.get("LETHE_HOME"):
        home = cwd / env["LETHE_HOME"]
    elif cfg.paths.home is not None and path is not None:
        home = path.parent.absolute() / cfg.paths.home.expanduser()
    else:
        home = cwd / ".lethe"
    return Settings(
        home=home,
        database_url=_database_url(cfg.ledger, env, home),
        temporal=_temporal(cfg.temporal, env),
        erasure=cfg.erasure,
        systems=_systems(cfg.systems, cfg.controllers),
        config_path=path,
        config_source=source,
        controllers=cfg.controllers,
        retention=cfg.retention,
        verification=cfg.verification,
        mail=cfg.mail,
        deadlines=cfg.deadlines,
        alerts=cfg.alerts,
        codec_server=cfg.codec_server,
        worker=cfg.worker,
        web=cfg.web,
        issuer=cfg.issuer,
        oidc=cfg.oidc,
        drp=cfg.drp,
        environ=env,
    )


def _database_url(ledger: _Ledger, env: Mapping[str, str], home: Path) -> str:
    """LETHE_DATABASE_URL, else ``[ledger] database_url_env`` (read now: every command needs
    the ledger), else ``database_url``, else SQLite under LETHE_HOME."""
    url = ledger.database_url
    if ledger.database_url_env is not None:
        url = _env_ref("[ledger] database_url_env", ledger.database_url_env, env)
    if url is None:
        return f"sqlite+aiosqlite:///{home / 'lethe.db'}"
    if _sqlalchemy_url(url) is None:
        raise ConfigError("the ledger database URL is not a SQLAlchemy URL")
    return url


def _sqlalchemy_url(url: str) -> URL | None:
    """SQLAlchemy's reading of ``url``, None if it is not a URL. SQLAlchemy is imported here,
    when a URL is checked, not with this module: a command that loads no settings (``--help``)
    does not pay for it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        return None


def _temporal(t: TemporalSettings, env: Mapping[str, str]) -> TemporalSettings:
    """The API key from ``api_key_env`` (read now: every command may talk to Temporal); TLS
    implied by a client certificate or an API key unless LETHE_TEMPORAL_TLS says otherwise."""
    if t.api_key_env is not None:
        t = t.model_copy(update={"api_key": _env_ref("[temporal] api_key_env", t.api_key_env, env)})
    if not env.get("LETHE_TEMPORAL_TLS") and (t.tls_cert is not None or t.api_key is not None):
        t = t.model_copy(update={"tls": True})
    return _with_temporal_profile(t, env)


def _temporal_config_file(env: Mapping[str, str]) -> Path:
    """Where the Temporal CLI (and ``temporalio.envconfig``) looks for temporal.toml."""
    if env.get("TEMPORAL_CONFIG_FILE"):
        return Path(env["TEMPORAL_CONFIG_FILE"])
    return user_config(env).parent.parent / "temporalio" / "temporal.toml"


def _with_temporal_profile(t: TemporalSettings, env: Mapping[str, str]) -> TemporalSettings:
    """The Temporal CLI's client configuration (``temporalio.envconfig``: the ``TEMPORAL_*``
    variables and the temporal.toml profile), for what Lethe's own settings (lethe.toml,
    ``LETHE_TEMPORAL_*``) leave unset: Lethe's win where both say something. Read only when
    there is one (a variable or the file): ``temporalio`` is not imported otherwise."""
    if (
        t.profile is None
        and not any(k.startswith("TEMPORAL_") and v for k, v in env.items())
        and not _temporal_config_file(env).is_file()
    ):
        return t
    from temporalio.envconfig import ClientConfigProfile

    file = _temporal_config_file(env)
    try:
        profile = ClientConfigProfile.load(
            t.profile,
            # The file found as the temporal CLI finds it, in *this* environment (the bridge
            # would look at the process's own HOME and XDG_CONFIG_HOME).
            config_source=file if file.is_file() else None,
            disable_file=not file.is_file() and "TEMPORAL_CONFIG_FILE" not in env,
            override_env_vars={k: v for k, v in env.items() if v},
        )
        config = dict(profile.to_client_connect_config())
    except Exception as exc:  # the bridge's own errors: a bad file, an unknown profile
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"the Temporal client configuration (TEMPORAL_* variables, temporal.toml) cannot be"
            f" read: {first}"
        ) from None
    update: dict[str, Any] = {}
    for field_name, key in (("address", "target_host"), ("namespace", "namespace")):
        if field_name not in t.model_fields_set and config.get(key):
            update[field_name] = config[key]
    if update:
        try:  # the profile's address is checked as Lethe's own is
            TemporalSettings.model_validate({**t.model_dump(), **update})
        except ValidationError as exc:
            raise ConfigError(
                "the Temporal client configuration (TEMPORAL_* variables, temporal.toml): "
                + _explain(exc, None, {})
            ) from None
        t = t.model_copy(update=update)
    t._client_config = config
    return t


# -- [systems.NAME] ----------------------------------------------------------------------------


def _systems(
    sections: Mapping[str, Mapping[str, Any]], controllers: Mapping[str, ControllerConfig]
) -> dict[str, SystemConfig]:
    """Each ``[systems.NAME]``: its connector, whose data it is, and its options as written."""
    systems: dict[str, SystemConfig] = {}
    for name, section in sections.items():
        if not SYSTEM_NAME.match(name):
            raise ConfigError(
                f"system name {name!r} must be lower-case letters, digits, '-' or '_'"
            )
        options = dict(section)
        connector = options.pop("connector", None)
        if not isinstance(connector, str) or not connector:
            raise ConfigError(f'system {name!r}: missing connector = "…"')
        role = options.pop("role", "controller")
        controller = options.pop("controller", None)
        _check_role(name, role, controller, controllers)
        systems[name] = SystemConfig(
            name, connector, _walk_options(name, options, None), role, controller
        )
    return systems


def _check_role(
    system: str, role: Any, controller: Any, controllers: Mapping[str, ControllerConfig]
) -> None:
    """A system is controller-held (default) or processor-held for a declared controller."""
    if role == "controller":
        if controller is not None:
            raise ConfigError(
                f'system {system!r}: controller = … needs role = "processor" (data we hold '
                "for another controller)"
            )
        return
    if role != "processor":
        raise ConfigError(f'system {system!r}: role must be "controller" or "processor"')
    if not isinstance(controller, str) or not controller:
        raise ConfigError(f'system {system!r}: role = "processor" needs controller = "NAME"')
    if controller not in controllers:
        raise ConfigError(
            f"system {system!r} is held for controller {controller!r}, which has no "
            f"[controllers.{controller}] section (webhook_url_env, secret_env)"
        )


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
            parsed = _sqlalchemy_url(value)  # not a URL: the connector's validation says so
            if parsed is not None and parsed.password:
                raise ConfigError(
                    f'{where} holds a password: write url_env = "VAR" and set VAR instead'
                )
        if isinstance(value, dict):
            value = _walk_options(system, value, env)
        elif isinstance(value, list):
            value = [_walk_options(system, v, env) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


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
