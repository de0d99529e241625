"""What ``lethe submit`` checks of the configuration before it writes anything: whatever the
worker would refuse, as far as it can be known without the secrets.

The worker builds every configured system's connector when it starts, and refuses to start
(exit 78) on an unknown connector kind or options the connector rejects. A request submitted
under such a configuration would be recorded and then wait for a worker that never comes.
So submit validates every system's options against its connector's ``Options``, the way the
worker does, with one difference: it never reads a secret (``url_env``, ``hash_secret_env``,
…: only the worker and ``lethe connectors check`` do). A secret's option is given stand-in
values instead, and a problem counts only if it is there whatever the stand-in.

What cannot be checked without the secrets, and is not: the secrets themselves (set? a valid
URL? the right password?), whether the systems are reachable (``lethe connectors check``),
checks a connector makes only when it is constructed, and the controllers', mail server's and
alert webhook's variables (each is one line when the worker starts).

For the request at hand it also refuses a system whose retain rule names no legal basis for
the request's jurisdiction (the worker would fail that system, changing nothing there).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors import ConnectorConfigError, ConnectorRegistry

from .errors import ConfigError
from .settings import Settings, SystemConfig

__all__ = ["check_systems"]

#: Stand-ins for a secret option: the shapes secrets take (a database URL, a web URL, a key).
STAND_INS = (
    "sqlite+aiosqlite:///lethe-preflight.db",
    "https://preflight.invalid/",
    "redis://preflight.invalid:6379/0",
    "postgresql+asyncpg://preflight@preflight.invalid/preflight",
    "preflight-stand-in-" + "0" * 32,
)

Path = tuple[str | int, ...]


def check_systems(
    settings: Settings,
    registry: ConnectorRegistry,
    *,
    jurisdiction: str | None = None,
    systems: Sequence[str] | None = None,
) -> None:
    """Raise :class:`ConfigError` (one line) for what the worker would refuse.

    Every configured system is checked (the worker builds them all); ``systems`` (those the
    request names) are also checked for a retain rule without a basis for ``jurisdiction``.
    """
    for name, cfg in settings.systems.items():
        options = _validated(name, cfg, registry)
        if options is not None and jurisdiction is not None and name in (systems or ()):
            _basis_for(name, options, jurisdiction)


def _validated(name: str, cfg: SystemConfig, registry: ConnectorRegistry) -> BaseModel | None:
    """The system's options as the connector reads them (with stand-ins for its secrets), or
    None when the stand-ins could not satisfy it (then only what fails for all is refused)."""
    try:
        cls = registry.resolve(cfg.connector)
    except ConnectorConfigError as exc:
        raise ConfigError(f"system {name!r}: {exc} (the worker would not start)") from None
    secrets: list[Path] = []
    options = _with_slots(cfg.options, (), secrets)
    informative: set[str] | None = None  # problems where every stand-in was accepted
    fields: set[str] | None = None  # problems outside the secrets' own fields
    choices = (
        itertools.product(STAND_INS, repeat=len(secrets))
        if len(secrets) <= 2
        else ((s,) * len(secrets) for s in STAND_INS)
    )
    for combo in choices:
        candidate = _fill(options, dict(zip(secrets, combo, strict=True)))
        try:
            return cls.Options.model_validate(candidate)
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
        found = {_line(e) for e in errors if not _under(tuple(e["loc"]), secrets)}
        fields = found if fields is None else fields & found
        if len(found) == len(errors):  # the secrets' fields took their stand-ins, so the
            # connector's whole-options checks ran: what they refuse, they refuse for all
            informative = found if informative is None else informative & found
    common = informative if informative is not None else fields
    if common:
        first = sorted(common)[0]
        raise ConfigError(
            f"system {name!r} ({cfg.connector}): {first} (the worker would not start)"
        )
    return None  # every problem left depends on the stand-in: the secret decides


def _line(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "options"
    return f"{where}: {error['msg']}"


def _under(loc: Path, secrets: Sequence[Path]) -> bool:
    return any(loc[: len(s)] == s for s in secrets)


def _with_slots(options: Mapping[str, Any], at: Path, secrets: list[Path]) -> dict[str, Any]:
    """``options`` with each ``x_env`` reference turned into a slot ``x`` (its path noted)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key.endswith("_env") and isinstance(value, str):
            target = key[: -len("_env")]
            secrets.append((*at, target))
            out[target] = None
        elif isinstance(value, Mapping):
            out[key] = _with_slots(value, (*at, key), secrets)
        elif isinstance(value, list):
            out[key] = [
                _with_slots(v, (*at, key, i), secrets) if isinstance(v, Mapping) else v
                for i, v in enumerate(value)
            ]
        else:
            out[key] = value
    return out


def _fill(value: Any, stand_ins: Mapping[Path, str], at: Path = ()) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, stand_ins, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, stand_ins, (*at, i)) for i, v in enumerate(value)]
    return stand_ins.get(at, value)


def _basis_for(name: str, options: BaseModel, jurisdiction: str) -> None:
    """A rule that keeps rows must name a basis under the request's law (``sql``'s tables,
    and any connector whose rules answer ``retention_for``)."""
    for rule in getattr(options, "tables", None) or ():
        retention_for = getattr(rule, "retention_for", None)
        if getattr(rule, "action", None) != "retain" or not callable(retention_for):
            continue
        if retention_for(jurisdiction) is None:
            raise ConfigError(
                f"system {name!r}: retain rule {getattr(rule, 'name', '?')} names no legal"
                f" basis for a {jurisdiction} request (the worker would fail {name} for it):"
                f" add {jurisdiction} to the rule's legal_basis (and note, days), or leave"
                f" {name} out with --systems"
            )
