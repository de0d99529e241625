"""``lethe connectors list|check|new``: what is installed, whether systems answer, a new one."""

from __future__ import annotations

from pathlib import Path

import click

from ..operations.connector_checks import installed_connectors, systems_answer
from ..runtime import load_registry
from ..scaffold import scaffold_connector
from ._app import app, console, emit_json, invocation_settings, json_option, run

__all__ = ["connectors_group"]

#: Exit status when a configured system does not answer (EX_UNAVAILABLE).
UNREACHABLE = 69


@app.group("connectors")
def connectors_group() -> None:
    """Connectors: what is installed, whether configured systems answer, a new one."""


@connectors_group.command("list")
@json_option
def list_connectors(as_json: bool) -> None:
    """Installed connector kinds, their versions and capabilities."""
    rows = installed_connectors()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['kind']:<14} v{r['version']:<6} {', '.join(r['capabilities']):<28} "
            f"{r['distribution']}",
            markup=False,
        )
        for spec in r.get("specs", []):
            console.print(
                f"  {r['kind']}:{spec['name']:<14} preset = \"{spec['name']}\"  "
                f"{spec['title']} ({spec['records']}), a spec of {r['kind']}",
                markup=False,
            )


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
    rows = run(systems_answer(invocation_settings(), timeout=timeout))
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
