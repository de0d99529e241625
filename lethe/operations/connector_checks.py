"""Connectors: which kinds are installed, and whether each configured system answers.

A system answers when its connector's ``check()`` returns within the time given; a connector
that fails, is not implemented or crashes does not hide the other systems' answers.
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import entry_points
from typing import Any

from connectors import Connector, ConnectorError, redact
from connectors._registry import ENTRY_POINT_GROUP

from ..errors import ConfigError
from ..runtime import load_registry
from ..settings import Settings, build_connectors

__all__ = ["installed_connectors", "systems_answer"]


def installed_connectors() -> list[dict[str, Any]]:
    """Each installed connector kind: its version, capabilities, class, distribution and
    the first line of its module's docstring."""
    distributions = {
        ep.name: (ep.dist.name, ep.dist.version) if ep.dist else ("", "")
        for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    rows = []
    for kind, cls in load_registry().kinds().items():
        dist, dist_version = distributions.get(kind, ("", ""))
        module_doc = (sys.modules[cls.__module__].__doc__ or "").strip()
        rows.append(
            {
                "kind": kind,
                "version": cls.version,
                "capabilities": sorted(c.value for c in cls.capabilities),
                "class": f"{cls.__module__}:{cls.__qualname__}",
                "distribution": f"{dist} {dist_version}".strip(),
                "summary": module_doc.splitlines()[0] if module_doc else "",
                # Specs a connector ships (the presets of ``http``), by name.
                "specs": list(specs()) if callable(specs := getattr(cls, "specs", None)) else [],
            }
        )
    return rows


async def _check_one(name: str, connector: Connector, timeout: float) -> dict[str, Any]:
    row: dict[str, Any] = {"system": name, "connector": connector.kind}
    try:
        await asyncio.wait_for(connector.check(), timeout)
        row["ok"] = True
    except TimeoutError:
        row |= {"ok": False, "error": f"no answer within {timeout:g}s"}
    except ConnectorError as exc:
        row |= {"ok": False, "error": redact(str(exc))}
    except NotImplementedError as exc:
        row |= {"ok": False, "error": f"check() is not implemented ({redact(str(exc))})"}
    except Exception as exc:  # a connector bug must not hide the other systems' answers
        row |= {"ok": False, "error": f"connector crashed: {type(exc).__name__}"}
    finally:
        await connector.aclose()
    return row


async def systems_answer(settings: Settings, *, timeout: float) -> list[dict[str, Any]]:
    """Each configured system, by name: ``ok``, or the ``error`` its connector gave (its
    text scrubbed like a log line)."""
    if not settings.systems:
        where = settings.config_path or "lethe.toml"
        raise ConfigError(f"no systems are configured; declare [systems.NAME] in {where}")
    built = build_connectors(settings.systems, load_registry(), settings.environ)
    return list(
        await asyncio.gather(*(_check_one(n, c, timeout) for n, c in sorted(built.items())))
    )
