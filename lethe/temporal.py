"""Connecting to Temporal: the payload codec, TLS or API key, and a clear error if unreachable."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig

from .codec import EncryptionCodec, FailureConverter, PayloadConverter
from .errors import ConfigError, UnreachableError
from .keys import Keyring
from .settings import TemporalSettings
from .tracing import client_interceptors

__all__ = [
    "connect",
    "connect_options",
    "data_converter",
    "prometheus_runtime",
    "temporal_runtime",
]

_RUNTIME: Runtime | None = None


def _logging() -> LoggingConfig:
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )


def prometheus_runtime(bind_address: str) -> Runtime:
    """A runtime like :func:`temporal_runtime` whose SDK metrics (polls, task latencies,
    slots, schedule-to-start…) are served in the Prometheus format on ``bind_address``
    (the worker passes them on at its own ``/metrics``: ``lethe.health``)."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=_logging(),
            metrics=PrometheusConfig(bind_address=bind_address, durations_as_seconds=True),
        )
    )


def temporal_runtime() -> Runtime:
    """The SDK runtime of this process: the Temporal core's own log lines (which it would
    otherwise print to stderr in a format of its own) forwarded into the ``temporalio.core``
    logger, so they are scrubbed and rendered like every other line (JSON in JSON mode)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime(telemetry=TelemetryConfig(logging=_logging()))
    return _RUNTIME


def data_converter(keys: Keyring) -> DataConverter:
    """Every payload encrypted; failure messages and stack traces moved into payloads too.
    A payload not encrypted under ``keys.payload`` is refused where it is read (``codec``)."""
    return dataclasses.replace(
        DataConverter.default,
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(keys.payload, retired=keys.retired_payload),
        failure_converter_class=FailureConverter,
    )


def _read(path: object) -> bytes | None:
    if path is None:
        return None
    try:
        with open(str(path), "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read TLS file {path}: {exc.strerror}") from None


_LETHE_TLS = ("tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name")


def _tls(t: TemporalSettings) -> TLSConfig | bool:
    """TLS as Lethe's settings say; where they say nothing about it, as the Temporal CLI's
    configuration (``t.client_config``) does."""
    if not t.model_fields_set & set(_LETHE_TLS) and not t.api_key and "tls" in t.client_config:
        profile_tls: TLSConfig | bool = t.client_config["tls"]
        return profile_tls
    if not t.tls and t.tls_server_name is None:
        return False
    if t.tls_ca is None and t.tls_cert is None and t.tls_server_name is None:
        return True
    return TLSConfig(
        server_root_ca_cert=_read(t.tls_ca),
        client_cert=_read(t.tls_cert),
        client_private_key=_read(t.tls_key),
        domain=t.tls_server_name,
    )


def connect_options(t: TemporalSettings) -> dict[str, Any]:
    """``Client.connect``'s arguments: Lethe's settings (lethe.toml, ``LETHE_TEMPORAL_*``),
    and, for what they leave unset, the Temporal CLI's configuration (``TEMPORAL_*``,
    temporal.toml: its API key, TLS and gRPC metadata)."""
    return {
        "target_host": t.address,
        "namespace": t.namespace,
        "api_key": t.api_key or t.client_config.get("api_key"),
        "tls": _tls(t),
        "rpc_metadata": dict(t.client_config.get("rpc_metadata") or {}),
    }


async def connect(
    t: TemporalSettings, keys: Keyring, *, timeout: float = 10.0, runtime: Runtime | None = None
) -> Client:
    interceptors = client_interceptors()  # OTEL_* asking for traces without the extra: here
    try:
        return await asyncio.wait_for(
            Client.connect(
                **connect_options(t),
                data_converter=data_converter(keys),
                runtime=runtime or temporal_runtime(),
                interceptors=interceptors,
            ),
            timeout=timeout,
        )
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise UnreachableError(
            f"cannot reach Temporal at {t.address} (namespace {t.namespace}): {_why(exc)}"
            " — is `lethe dev` running, or LETHE_TEMPORAL_ADDRESS set?"
        ) from None


def _why(exc: BaseException) -> str:
    text = str(exc)
    for needle, said in (
        ("ConnectionRefused", "connection refused"),
        ("dns error", "unknown host"),
        ("timed out", "timed out"),
        ("Namespace", "namespace not found"),
        ("certificate", "TLS certificate rejected"),
    ):
        if needle.lower() in text.lower():
            return said
    if isinstance(exc, TimeoutError) or not text:
        return "no answer"
    return text.splitlines()[0][:120]
