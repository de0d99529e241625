"""``lethe connectors new NAME``: a connector package that is tested before it is written.

The package has a pyproject with its ``lethe.connectors`` entry point, a connector skeleton
whose methods raise ``NotImplementedError`` and a conformance test that adopts the kit, with a
harness to fill in. Its tests run at once and fail until both are written. The files are
templates installed with Lethe (``lethe/templates/connector/``), so they read as the files
they become.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from .errors import LetheError

__all__ = ["Scaffold", "scaffold_connector", "validate_connector_name"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def validate_connector_name(name: str, installed: set[str]) -> str:
    if not _NAME.match(name) or name.endswith("_") or "__" in name:
        raise LetheError(
            f"connector name {name!r} must be 2-40 lower-case letters, digits or single '_',"
            " starting with a letter (it becomes the kind, the module and the entry point)"
        )
    if keyword.iskeyword(name):
        raise LetheError(f"connector name {name!r} is a Python keyword")
    if name in installed:
        raise LetheError(f"a connector named {name!r} is already installed; choose another name")
    return name


@dataclass(frozen=True)
class Scaffold:
    kind: str
    root: Path
    files: tuple[str, ...]


def _class_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_")) + "Connector"


#: The package's files, as templates shipped with Lethe (``lethe/templates/connector``): a
#: ``.tmpl`` file each, ``${kind}``-style placeholders, the folder ``package`` named for it.
TEMPLATES = resources.files("lethe") / "templates" / "connector"


def _templates(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _templates(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".tmpl"):
            yield prefix + entry.name.removesuffix(".tmpl"), entry.read_text(encoding="utf-8")


def _files(kind: str) -> dict[str, str]:
    cls = _class_name(kind)
    names = {
        "kind": kind,
        "cls": cls,
        "base": cls.removesuffix("Connector"),
        "options": cls.removesuffix("Connector") + "Options",
        "pkg": f"lethe_{kind}",
        "dist": f"lethe-connector-{kind.replace('_', '-')}",
        "system": kind.replace("_", "-"),
        "env": kind.upper(),
    }
    files = {}
    for rel, text in _templates(TEMPLATES):
        path = names["pkg"] + rel.removeprefix("package") if rel.startswith("package/") else rel
        files[path] = Template(text).substitute(names)
    if not files:
        raise LetheError(f"the connector templates are missing from this install ({TEMPLATES})")
    return files


def scaffold_connector(name: str, parent: Path, installed: set[str]) -> Scaffold:
    """Write the package under ``parent``; refuse to touch anything that exists."""
    kind = validate_connector_name(name, installed)
    root = parent / f"lethe-connector-{kind.replace('_', '-')}"
    if root.exists():
        raise LetheError(f"{root} already exists; not overwriting it")
    if not parent.is_dir():
        raise LetheError(f"{parent} is not a directory")
    files = _files(kind)
    # Written beside the target and renamed into place: nothing half-written on failure.
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.rename(staging, root)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LetheError(f"cannot write {root}: {exc.strerror or exc}") from None
    return Scaffold(kind=kind, root=root, files=tuple(sorted(files)))
