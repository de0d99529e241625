"""Dependencies flow one way, read from every import statement (function-level ones too):

    vocabulary      the words and the status rule: the standard library only
      ↑
    connectors      the connector SDK: vocabulary only (no Temporal)
    ledger          the evidence: vocabulary (and its own migrations); no Temporal, no connectors
      ↑
    activities      every side effect: connectors, ledger, vocabulary
      ↑
    workflows       deterministic orchestration: what activities define, vocabulary
      ↑
    lethe           the front door and the composition (lethe.worker): everything below
    worker.py       the worker's entry point: lethe (nothing of Lethe's imports it)

A package that needs a word of another room takes it from ``vocabulary``; a rule two rooms
share moves down to where both may import it, never sideways through a re-export.
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Lethe's own top-level packages and modules.
OURS = frozenset(
    {"vocabulary", "connectors", "ledger", "activities", "workflows", "lethe", "worker"}
    | {"migrations", "tests"}
)

#: What workflow code must never touch: IO, clocks and randomness outside Temporal's.
NOT_DETERMINISTIC = frozenset(
    {"sqlalchemy", "structlog", "aiosqlite", "asyncpg", "httpx", "requests", "random", "time"}
)


@dataclass(frozen=True)
class Room:
    """Of Lethe's packages, those a room may import (besides itself); outside imports it must
    not make; and why, for the failure message."""

    ours: frozenset[str]
    why: str
    outside: frozenset[str] = frozenset()
    stdlib_only: bool = False


ROOMS = {
    "vocabulary": Room(
        frozenset(),
        "the words every room shares import nothing, so that every room may import them",
        stdlib_only=True,
    ),
    "connectors": Room(
        frozenset({"vocabulary"}),
        "connectors are plain async Python that a connector author installs alone",
        outside=frozenset({"temporalio"}),
    ),
    "ledger": Room(
        # migrations/: the ledger's own schema scripts (located by ledger.database).
        frozenset({"vocabulary", "migrations"}),
        "auditors read the ledger without a cluster and without the connectors",
        outside=frozenset({"temporalio"}),
    ),
    "activities": Room(
        frozenset({"vocabulary", "connectors", "ledger"}),
        "activities do the side effects with connectors and the ledger; they never orchestrate",
    ),
    "workflows": Room(
        frozenset({"vocabulary", "activities"}),
        "workflows are deterministic: they refer to activities and speak the vocabulary",
        outside=NOT_DETERMINISTIC,
    ),
    "lethe": Room(
        frozenset({"vocabulary", "connectors", "ledger", "activities", "workflows"}),
        "lethe composes (the worker's composition is lethe.worker); worker.py is only an"
        " entry point, and importing it back would make a cycle",
    ),
    "worker": Room(
        frozenset({"lethe", "vocabulary", "connectors", "ledger", "activities", "workflows"}),
        "worker.py is the top of the tree",
    ),
    "migrations": Room(
        frozenset({"ledger"}), "migrations follow the ledger's models, and nothing else"
    ),
}

#: Modules held to less than their room allows, and why.
NARROWER = {
    # Every command reads settings: they must not pull in the side effects to check a word.
    "lethe/settings.py": (
        frozenset({"activities", "workflows", "worker"}),
        "settings check their values against the vocabulary, not against the activities",
    ),
}


def imports_of(path: Path) -> set[str]:
    """The absolute modules ``path`` imports, anywhere in it (relative ones stay inside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def files_of(room: str) -> list[Path]:
    if room == "worker":
        return [ROOT / "worker.py"]
    files = sorted((ROOT / room).rglob("*.py"))
    assert files, f"no Python files under {room}/"
    return files


def test_every_top_level_package_has_a_room() -> None:
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    top |= {p.stem for p in ROOT.glob("*.py")}
    assert top <= OURS, f"new top-level code {sorted(top - OURS)}: give it a room in ROOMS"
    assert top - {"tests"} == set(ROOMS), "every room in ROOMS exists, and only those"


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_dependencies_flow_one_way(room: str) -> None:
    rule = ROOMS[room]
    problems = []
    for path in files_of(room):
        roots = {name.split(".")[0] for name in imports_of(path)}
        bad = ((roots & OURS) - {room} - rule.ours) | (roots & rule.outside)
        if rule.stdlib_only:
            bad |= roots - set(sys.stdlib_module_names) - {"__future__", room}
        if bad:
            problems.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    allowed = ", ".join(sorted(rule.ours)) or "nothing"
    assert not problems, (
        f"{room} may import {allowed} of Lethe's"
        + (f" (and not {', '.join(sorted(rule.outside))})" if rule.outside else "")
        + f": {rule.why}.\n  "
        + "\n  ".join(problems)
    )


@pytest.mark.parametrize("module", sorted(NARROWER))
def test_narrower_modules(module: str) -> None:
    forbidden, why = NARROWER[module]
    roots = {name.split(".")[0] for name in imports_of(ROOT / module)}
    assert not roots & forbidden, f"{module} imports {', '.join(sorted(roots & forbidden))}: {why}"


def _defined_in(module: str, name: str) -> bool:
    """Whether ``module``'s own source assigns ``name`` at its top level (a constant)."""
    source = importlib.import_module(module).__file__
    assert source is not None
    tree = ast.parse(Path(source).read_text())
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def test_workflows_take_from_activities_only_what_activities_define() -> None:
    """No back door: a ledger rule (or a connector's) re-exported by ``activities`` would
    reach the workflows past the rule above. What workflows need of the ledger's words is
    in ``vocabulary``; the rest they ask an activity for."""
    problems = []
    for path in files_of("workflows"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if node.module.split(".")[0] != "activities":
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name)
                home = getattr(value, "__module__", None)
                if isinstance(home, str):
                    ok = home.split(".")[0] == "activities"
                else:
                    ok = _defined_in(node.module, alias.name)
                if not ok:
                    problems.append(
                        f"{path.relative_to(ROOT)} takes {alias.name} from {node.module},"
                        f" which only passes it on (from {home or 'another package'})"
                    )
    assert not problems, (
        "workflows take from activities only the types and activities defined there; a word"
        " they need comes from vocabulary, anything else through an activity:\n  "
        + "\n  ".join(problems)
    )


def test_the_architecture_test_reads_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import worker as w\n    from ledger.proof import x\n")
    assert imports_of(sample) == {"worker", "ledger.proof"}


def test_the_command_line_asks_the_ledger_nothing_itself() -> None:
    """The command line parses, calls an operation (``lethe/operations/``) and prints: a query
    written in a command is a rule the HTTP API could not share (issue 14)."""
    problems = [
        f"{path.relative_to(ROOT)} imports sqlalchemy"
        for path in sorted((ROOT / "lethe" / "cli").rglob("*.py"))
        if any(name.split(".")[0] == "sqlalchemy" for name in imports_of(path))
    ]
    assert not problems, "queries belong to the ledger, called by an operation:\n  " + "\n  ".join(
        problems
    )
