"""The keys Lethe needs, from the environment or from files under the home directory.

    pseudonym   HMAC key that turns an email into a pseudonym (same person, same pseudonym)
    vault       master key that wraps each request's data key in the subject vault
    payload     AES key of the Temporal payload codec (a second layer over every payload)

    signing     Ed25519 seed that signs the proof log's tree heads (its public half is what
                auditors verify certificates with: ``lethe audit public-key``)

Each is 32 random bytes: ``LETHE_<NAME>_KEY`` (base64) if set, else ``<home>/keys/<name>.key``,
created with mode 0600 on first use. Every worker and every CLI that talks to the same ledger
and cluster must share them; losing the vault key makes open requests unreadable, and losing
the signing key means new tree heads are signed by a new key (old certificates still verify
with the old public key).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import ConfigError

__all__ = ["KEY_NAMES", "Keyring", "load_keyring", "load_signing_key"]

KEY_NAMES = ("pseudonym", "vault", "payload")


@dataclass(frozen=True, repr=False)
class Keyring:
    pseudonym: bytes
    vault: bytes
    payload: bytes

    def __repr__(self) -> str:
        return "Keyring(<hidden>)"


def _from_env(name: str, value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"LETHE_{name.upper()}_KEY is not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"LETHE_{name.upper()}_KEY must decode to 32 bytes, not {len(key)}")
    return key


def _from_file(name: str, path: Path, create: bool) -> bytes:
    try:
        if not path.exists():
            if not create:
                raise ConfigError(
                    f"{name} key missing: set LETHE_{name.upper()}_KEY or create {path}"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        # A home that cannot hold the keys (LETHE_HOME on a read-only or missing path, a file
        # where a directory should be) is a setting to fix, not a bug.
        why = exc.strerror if isinstance(exc, OSError) else "not text"
        raise ConfigError(
            f"cannot keep the {name} key at {path}: {why} (set LETHE_HOME to a writable "
            f"directory, or LETHE_{name.upper()}_KEY)"
        ) from None
    try:
        return _from_env(name, text)
    except ConfigError:
        raise ConfigError(f"{path} does not hold a base64 32-byte key") from None


def load_keyring(
    home: Path, env: Mapping[str, str] | None = None, *, create: bool = True
) -> Keyring:
    env = os.environ if env is None else env
    keys = {}
    for name in KEY_NAMES:
        value = env.get(f"LETHE_{name.upper()}_KEY")
        keys[name] = (
            _from_env(name, value)
            if value
            else _from_file(name, home / "keys" / f"{name}.key", create)
        )
    return Keyring(**keys)


def load_signing_key(
    home: Path, env: Mapping[str, str] | None = None, *, create: bool = True
) -> Ed25519PrivateKey:
    """The proof log's Ed25519 key: ``LETHE_SIGNING_KEY`` or ``<home>/keys/signing.key``."""
    env = os.environ if env is None else env
    value = env.get("LETHE_SIGNING_KEY")
    seed = (
        _from_env("signing", value)
        if value
        else _from_file("signing", home / "keys" / "signing.key", create)
    )
    return Ed25519PrivateKey.from_private_bytes(seed)
