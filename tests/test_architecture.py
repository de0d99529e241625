"""Dependencies flow one way: connectors ← ledger/activities ← workflows ← lethe/worker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    # connectors are plain async Python: no Temporal, nothing of ours.
    "connectors": {"temporalio", "activities", "workflows", "ledger", "lethe", "worker"},
    # the ledger is read by auditors without a cluster.
    "ledger": {"temporalio", "activities", "workflows", "lethe", "worker"},
    "activities": {"workflows", "lethe", "worker"},
    # workflows: deterministic orchestration, talking only to activities.
    "workflows": {
        "lethe",
        "worker",
        "ledger",
        "connectors",
        "sqlalchemy",
        "structlog",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "requests",
        "random",
        "time",
    },
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_flow_one_way(package: str) -> None:
    files = list((ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        bad = imports_of(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
