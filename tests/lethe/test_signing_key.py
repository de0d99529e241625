"""The proof log's signing key: from LETHE_SIGNING_KEY, or created once under the home."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lethe.errors import ConfigError
from lethe.keys import load_signing_key


def raw(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_created_once_private_and_reused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no signing key at .*: run `lethe init`"):
        load_signing_key(tmp_path, {})  # only `lethe init` (and demo, dev) makes keys
    first = load_signing_key(tmp_path, {}, create=True)
    assert raw(first) == raw(load_signing_key(tmp_path, {}, create=False))
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "signing.key").st_mode) == 0o600


def test_from_the_environment(tmp_path: Path) -> None:
    seed = secrets.token_bytes(32)
    env = {"LETHE_SIGNING_KEY": base64.b64encode(seed).decode()}
    assert raw(load_signing_key(tmp_path, env)) == raw(load_signing_key(tmp_path, env))
    assert not (tmp_path / "keys").exists()
    with pytest.raises(ConfigError, match="LETHE_SIGNING_KEY must decode to 32 bytes"):
        load_signing_key(tmp_path, {"LETHE_SIGNING_KEY": base64.b64encode(b"short").decode()})
