"""``lethe connectors list|check|new``: what is installed, whether systems answer, a new one."""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from connectors import Connector, ConnectorError, redact
from connectors._registry import ENTRY_POINT_GROUP

from ..errors import ConfigError
from ..runtime import load_registry
from ..scaffold import scaffold_connector
from ..settings import build_connectors, load_settings
from ._app import app, console, emit_json, json_option, run

__all__ = ["connectors_group"]

#: Exit status when a configured system does not answer (EX_UNAVAILABLE).
UNREACHABLE = 69


@app.group("connectors")
def connectors_group() -> None:
    """Connectors: what is installed, whether configured systems answer, a new one."""


def _installed() -> list[dict[str, Any]]:
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
            }
        )
    return rows


@connectors_group.command("list")
@json_option
def list_connectors(as_json: bool) -> None:
    """Installed connector kinds, their versions and capabilities."""
    rows = _installed()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['kind']:<14} v{r['version']:<6} {', '.join(r['capabilities']):<28} "
            f"{r['distribution']}",
            markup=False,
        )


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


@connectors_group.command("check")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each system.",
)
@json_option
def check(timeout: float, as_json: bool) -> int:
    """Check that every configured system is reachable; non-zero exit if any is not."""
    settings = load_settings()
    if not settings.systems:
        where = settings.config_path or "lethe.toml"
        raise ConfigError(f"no systems are configured; declare [systems.NAME] in {where}")
    built = build_connectors(settings.systems, load_registry(), settings.environ)

    async def go() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*(_check_one(n, c, timeout) for n, c in sorted(built.items())))
        )

    rows = run(go())
    if as_json:
        emit_json(rows)
    else:
        width = max(len(r["system"]) for r in rows)
        for r in rows:
            state = "ok" if r["ok"] else f"FAILED  {r['error']}"
            console.print(
                f"{r['system']:<{width}}  {r['connector']:<12}  {state}",
                soft_wrap=True,
                markup=False,
            )
    return 0 if all(r["ok"] for r in rows) else UNREACHABLE


@connectors_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the package directory.",
)
@json_option
def new(name: str, parent: Path, as_json: bool) -> None:
    """Scaffold a connector package whose conformance test fails until it is written."""
    installed = set(load_registry().kinds())
    made = scaffold_connector(name, parent, installed)
    if as_json:
        emit_json({"kind": made.kind, "path": str(made.root), "files": list(made.files)})
        return
    lines = [
        f"Created {made.root}/ for connector {made.kind!r}:",
        *(f"  {f}" for f in made.files),
        f"Next: cd {made.root} && pip install -e '.[test]' && pytest",
        "  (the conformance test fails until connector.py and its harness are written;",
        "  see docs/writing-a-connector.md)",
    ]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
