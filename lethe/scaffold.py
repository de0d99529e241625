"""``lethe connectors new NAME``: a connector package that is tested before it is written.

The package has a pyproject with its ``lethe.connectors`` entry point, a connector skeleton
whose methods raise ``NotImplementedError`` and a conformance test that adopts the kit, with a
harness to fill in. Its tests run at once and fail until both are written.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def _files(kind: str) -> dict[str, str]:
    cls = _class_name(kind)
    pkg = f"lethe_{kind}"
    dist = f"lethe-connector-{kind.replace('_', '-')}"
    return {
        "pyproject.toml": f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "Lethe connector for {kind}"
requires-python = ">=3.11"
# Lethe itself is not listed: install this package into the environment Lethe runs in. (Lethe
# is not published on PyPI; the PyPI project called "lethe" is an unrelated library, and
# listing it here would install that instead.)
dependencies = []

[project.optional-dependencies]
test = ["pytest>=8.2", "pytest-asyncio>=1.0", "hypothesis>=6.100"]

# How Lethe finds the connector once the package is installed (`lethe connectors list`).
[project.entry-points."lethe.connectors"]
{kind} = "{pkg}.connector:{cls}"

[tool.setuptools.packages.find]
include = ["{pkg}*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
''',
        f"{pkg}/__init__.py": f'''"""Lethe connector for {kind}."""

from .connector import {cls}, {cls[: -len("Connector")]}Options

__all__ = ["{cls}", "{cls[: -len("Connector")]}Options"]
''',
        f"{pkg}/connector.py": f'''"""Erase a data subject from {kind}.

Read docs/writing-a-connector.md in Lethe. In short: find only the subject's data (identifiers
are bound parameters or escaped, never query text; an empty identifier matches nothing);
count before changing and refuse beyond ``max_items`` (``guard_blast_radius``); return outcome
values; raise TransientError (retried, with retry_after for a 429) or PermanentError; never put
an identifier in a message. A repeat with the same ``request_id`` (the erase's idempotency key)
changes nothing and replays what the first call did: keep a receipt with the change, or, if the
system has no transactions, in ``self.journal`` (``receipt_of`` / ``replayed``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from connectors import (
    BaseConnector,
    Capability,
    ConnectorOptions,
    Outcome,
    Plan,
    Residual,
    Subject,
)

__all__ = ["{cls}", "{cls[: -len("Connector")]}Options"]


class {cls[: -len("Connector")]}Options(ConnectorOptions):
    """Options of a [systems.NAME] section with connector = "{kind}". Unknown keys are errors;
    secrets come by environment variable: write url_env = "VAR" in lethe.toml."""

    url: str = Field(description="Where the {kind} system answers")


class {cls}(BaseConnector):
    kind: ClassVar[str] = "{kind}"
    version: ClassVar[str] = "0.1.0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {{Capability.ERASE, Capability.VERIFY, Capability.PLAN}}
    )
    Options: ClassVar[type[ConnectorOptions]] = {cls[: -len("Connector")]}Options

    async def check(self) -> None:
        raise NotImplementedError("{kind}: check() is not written yet (connector.py)")

    async def plan(self, subject: Subject) -> Plan:
        raise NotImplementedError("{kind}: plan() is not written yet (connector.py)")

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        raise NotImplementedError("{kind}: erase() is not written yet (connector.py)")

    async def verify(self, subject: Subject) -> Residual:
        raise NotImplementedError("{kind}: verify() is not written yet (connector.py)")
''',
        "tests/test_conformance.py": f'''"""The conformance kit against the {kind} connector.

It fails until the connector (connector.py) and the harness below are written. The harness
puts people into a *test* instance of {kind} and reads every record back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from connectors import Connector, ConnectorRegistry
from connectors.testing import ConformanceSuite, Harness, Person, Seeded


class {cls[: -len("Connector")]}Harness:
    def __init__(self, tmp_path: Any) -> None:
        self.options: dict[str, Any] = {{"url": "TODO: a test instance of {kind}"}}

    def build(self, **options: Any) -> Connector:
        return ConnectorRegistry().build(
            "test", "{pkg}.connector:{cls}", {{**self.options, **options}}
        )

    async def seed(self, people: Sequence[Person]) -> Seeded:
        # Put exactly these people into the test system (replace what was there) and say
        # which records hold each person's data and which strings identify them.
        raise NotImplementedError("{kind}: seed() in tests/test_conformance.py is not written yet")

    async def snapshot(self) -> Mapping[Any, Any]:
        # Every record of the test system, by key, as comparable values.
        raise NotImplementedError(
            "{kind}: snapshot() in tests/test_conformance.py is not written yet"
        )


class Test{cls}(ConformanceSuite):
    kind = "{kind}"
    # The identifier kinds your test configuration looks people up by. Only {{"email"}} leaves
    # out the not-searched test; left unset, the kit finds out by itself.
    # identifier_kinds = frozenset({{"email", "username"}})

    @pytest.fixture
    def harness(self, tmp_path: Any) -> Harness:
        return {cls[: -len("Connector")]}Harness(tmp_path)

    # Optional: transient_fault, permanent_fault and (HTTP APIs) rate_limit_fault fixtures:
    # async context managers yielding a connector that meets the fault (see connectors.testing;
    # where a configuration meets it: return built_with(harness, url="http://127.0.0.1:1")).
''',
        "README.md": f"""# {dist}

A Lethe connector for {kind}.

```sh
pip install -e '.[test]'     # into the environment where Lethe is installed
pytest                       # the conformance kit; fails until connector.py is written
lethe connectors list        # {kind} appears once the package is installed
```

Configure a system in `lethe.toml`:

```toml
[systems.my-{kind.replace("_", "-")}]
connector = "{kind}"
url_env = "{kind.upper()}_URL"
max_items = 100
```
""",
    }


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
