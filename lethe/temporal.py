"""Connecting to Temporal: the payload codec, TLS or API key, and a clear error if unreachable."""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from .codec import EncryptionCodec, FailureConverter, PayloadConverter
from .errors import ConfigError, UnreachableError
from .keys import Keyring
from .settings import TemporalSettings

__all__ = ["connect", "data_converter"]


def data_converter(keys: Keyring) -> DataConverter:
    """Every payload encrypted; failure messages and stack traces moved into payloads too.
    A payload not encrypted under ``keys.payload`` is refused where it is read (``codec``)."""
    return dataclasses.replace(
        DataConverter.default,
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(keys.payload),
        failure_converter_class=FailureConverter,
    )


def _tls(t: TemporalSettings) -> TLSConfig | bool:
    if not t.tls:
        return False

    def read(path: object) -> bytes | None:
        if path is None:
            return None
        try:
            with open(str(path), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read TLS file {path}: {exc.strerror}") from None

    if t.tls_ca is None and t.tls_cert is None:
        return True
    return TLSConfig(
        server_root_ca_cert=read(t.tls_ca),
        client_cert=read(t.tls_cert),
        client_private_key=read(t.tls_key),
    )


async def connect(t: TemporalSettings, keys: Keyring, *, timeout: float = 10.0) -> Client:
    try:
        return await asyncio.wait_for(
            Client.connect(
                t.address,
                namespace=t.namespace,
                api_key=t.api_key,
                tls=_tls(t),
                data_converter=data_converter(keys),
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
