"""The keys Lethe needs, from the environment or from files under the home directory.

    pseudonym   HMAC key that turns an email into a pseudonym (same person, same pseudonym)
    vault       master key that wraps each request's data key in the subject vault
    payload     AES key of the Temporal payload codec (a second layer over every payload)

    signing     Ed25519 seed that signs the proof log's tree heads (its public half is what
                auditors verify certificates with: ``lethe audit public-key``)

Each is 32 random bytes: ``LETHE_<NAME>_KEY`` (base64) if set, else ``<home>/keys/<name>.key``
(mode 0600, in a 0700 directory). Only ``lethe init`` (and ``lethe demo``, ``lethe dev``)
creates the files (:func:`create_keys`); every other command and the worker only read them,
and say what to run when one is missing. Every worker and every CLI that talks to the same
ledger and cluster must share them: the ledger records the ids of the first three
(``ledger.key_ids``) and refuses a worker or command that holds others. Losing the vault key
makes open requests unreadable, and losing the signing key means new tree heads are signed by
a new key (old certificates still verify with the old public key).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.vault import key_id_of

from .errors import ConfigError

__all__ = [
    "KEY_NAMES",
    "ROTATABLE",
    "Keyring",
    "Rotated",
    "create_keys",
    "load_keyring",
    "load_signing_key",
    "rotate_key_files",
    "undo_rotation",
]

KEY_NAMES = ("pseudonym", "vault", "payload")
#: Every key ``lethe init`` makes: the keyring's, and the proof log's signing key.
ALL_KEYS = (*KEY_NAMES, "signing")


#: The keys ``lethe keys rotate`` replaces; the old one stays, retired, to read what it wrote.
ROTATABLE = ("payload", "vault")


@dataclass(frozen=True, repr=False)
class Keyring:
    pseudonym: bytes
    vault: bytes
    payload: bytes
    #: Keys rotated out: they decrypt (payloads, vault entries) but never encrypt.
    retired_payload: tuple[bytes, ...] = ()
    retired_vault: tuple[bytes, ...] = ()

    def __repr__(self) -> str:
        return "Keyring(<hidden>)"

    def key_ids(self) -> dict[str, str]:
        """Each key's id (a labelled hash: names the key, reveals nothing of it)."""
        return {name: key_id_of(getattr(self, name)) for name in KEY_NAMES}

    def retired_ids(self) -> dict[str, set[str]]:
        """The ids of the retired keys, by purpose."""
        return {
            name: {key_id_of(k) for k in getattr(self, f"retired_{name}")} for name in ROTATABLE
        }


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
                    f"no {name} key at {path}: run `lethe init` to create the keys and the"
                    f" ledger (or set LETHE_{name.upper()}_KEY, or LETHE_HOME to where they are)"
                )
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def retired_dir(home: Path) -> Path:
    return home / "keys" / "retired"


def _retired(name: str, home: Path, env: Mapping[str, str]) -> tuple[bytes, ...]:
    """``LETHE_<NAME>_RETIRED_KEYS`` (comma-separated base64), else the files
    ``<home>/keys/retired/<name>-<id>.key`` that ``lethe keys rotate`` leaves."""
    text = env.get(f"LETHE_{name.upper()}_RETIRED_KEYS")
    if text:
        return tuple(_from_env(name, part.strip()) for part in text.split(",") if part.strip())
    where = retired_dir(home)
    if not where.is_dir():
        return ()
    return tuple(_from_file(name, path, False) for path in sorted(where.glob(f"{name}-*.key")))


def load_keyring(
    home: Path, env: Mapping[str, str] | None = None, *, create: bool = False
) -> Keyring:
    env = os.environ if env is None else env
    keys: dict[str, Any] = {}
    for name in KEY_NAMES:
        value = env.get(f"LETHE_{name.upper()}_KEY")
        keys[name] = (
            _from_env(name, value)
            if value
            else _from_file(name, home / "keys" / f"{name}.key", create)
        )
    for name in ROTATABLE:
        keys[f"retired_{name}"] = _retired(name, home, env)
    return Keyring(**keys)


@dataclass(frozen=True)
class Rotated:
    """A key ``lethe keys rotate`` replaced: the old one now lies retired at ``retired``."""

    name: str
    old_id: str
    new_id: str
    retired: Path
    current: Path


def rotate_key_files(home: Path, names: Sequence[str], env: Mapping[str, str]) -> list[Rotated]:
    """For each of ``names`` (payload, vault): the current key file copied to
    ``keys/retired/<name>-<id>.key``, then a new key written in its place (0600). Keys given
    by ``LETHE_<NAME>_KEY`` are refused: they are rotated where they are kept."""
    for name in names:
        if name not in ROTATABLE:
            raise ConfigError(f"only the {' and '.join(ROTATABLE)} keys rotate, not {name}")
        if env.get(f"LETHE_{name.upper()}_KEY"):
            var = f"LETHE_{name.upper()}"
            raise ConfigError(
                f"{var}_KEY is set: rotate it where it is kept (a new key in {var}_KEY, the old"
                f" one added to {var}_RETIRED_KEYS; the next worker or command records the new"
                " one)"
            )
    done: list[Rotated] = []
    for name in names:
        current = home / "keys" / f"{name}.key"
        old = _from_file(name, current, False)
        old_id = key_id_of(old)
        retired = retired_dir(home) / f"{name}-{old_id}.key"
        retired.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not retired.exists():
            fd = os.open(retired, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64encode(old) + b"\n")
        new = secrets.token_bytes(32)
        staged = current.with_name(f".{name}.key.new")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(new) + b"\n")
        os.replace(staged, current)
        done.append(Rotated(name, old_id, key_id_of(new), retired, current))
    return done


def undo_rotation(done: Sequence[Rotated]) -> None:
    """Put the old keys back in place (a rotation the ledger refused to record)."""
    for r in done:
        os.replace(r.retired, r.current)


def load_signing_key(
    home: Path, env: Mapping[str, str] | None = None, *, create: bool = False
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


def create_keys(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Make every key that is neither set in the environment nor on disk (``lethe init``).

    Returns, per key, where it comes from: ``created <path>``, ``found <path>`` or
    ``LETHE_<NAME>_KEY``. Every key is read back, so a malformed one is an error here.
    """
    env = os.environ if env is None else env
    said: dict[str, str] = {}
    for name in ALL_KEYS:
        variable = f"LETHE_{name.upper()}_KEY"
        if env.get(variable):
            _from_env(name, env[variable])
            said[name] = variable
            continue
        path = home / "keys" / f"{name}.key"
        existed = path.exists()
        _from_file(name, path, create=True)
        said[name] = f"{'found' if existed else 'created'} {path}"
    return said
