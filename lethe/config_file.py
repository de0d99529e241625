"""``lethe.toml`` as ``lethe init`` writes it, and the settings as ``lethe config show``
prints them: where each came from, no secret's value (a database URL's password is masked,
a key or API key is named by where it comes from, never shown)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .keys import ALL_KEYS
from .settings import Settings, config_candidates

__all__ = ["config_template", "settings_shown", "write_config"]


def config_template() -> str:
    """The commented ``lethe.toml`` (every key at its default, commented out)."""
    return (resources.files("lethe") / "templates" / "lethe.toml").read_text()


def write_config(path: Path) -> bool:
    """Write the commented template at ``path`` unless a file is there; whether it wrote."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(config_template())
    return True


def _masked_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    # Query parameters may carry a password too (``?password=``): keep only their names.
    if parsed.query:
        parsed = parsed.set(query={k: "***" for k in parsed.query})
    return parsed.render_as_string(hide_password=True)


def _key_source(settings: Settings, name: str) -> str:
    var = f"LETHE_{name.upper()}_KEY"
    if settings.environ.get(var):
        return var
    path = settings.home / "keys" / f"{name}.key"
    return str(path) if path.exists() else f"missing ({path}: run `lethe init`)"


def settings_shown(settings: Settings) -> dict[str, Any]:
    """What this invocation uses, secrets masked: for ``lethe config show``."""
    t = settings.temporal
    env = settings.environ
    cwd = Path.cwd()
    return {
        "config": str(settings.config_path) if settings.config_path else None,
        "config_source": settings.config_source,
        "config_searched": [str(p) for _, p in config_candidates(env, cwd)]
        if not env.get("LETHE_CONFIG")
        else [env["LETHE_CONFIG"]],
        "home": str(settings.home),
        "ledger": _masked_url(settings.database_url),
        "temporal": {
            "address": t.address,
            "namespace": t.namespace,
            "task_queue": t.task_queue,
            "tls": t.tls,
            "tls_ca": str(t.tls_ca) if t.tls_ca else None,
            "tls_cert": str(t.tls_cert) if t.tls_cert else None,
            "tls_server_name": t.tls_server_name,
            "api_key": "set" if t.api_key or t.client_config.get("api_key") else None,
            # From the Temporal CLI's configuration (TEMPORAL_*, temporal.toml): names only.
            "profile": t.profile or env.get("TEMPORAL_PROFILE") or None,
            "grpc_metadata": sorted(t.client_config.get("rpc_metadata") or {}),
        },
        "keys": {name: _key_source(settings, name) for name in ALL_KEYS},
        "systems": {name: system.connector for name, system in sorted(settings.systems.items())},
        "mail": settings.mail.smtp_host,
    }
