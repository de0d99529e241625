"""What the worker's workflow sandbox takes from the host, and what it re-imports.

The sandbox imports a workflow's module afresh for every new execution (package first); the
modules named in ``workflows.SANDBOX_PASSTHROUGH`` are taken from the host instead. These
tests keep that list to modules that cannot need the sandbox, and the package's ``__init__``
from importing every workflow module again for each execution.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import workflows
from lethe.worker import workflow_runner

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_sandbox_passes_the_listed_modules_through() -> None:
    passthrough = workflow_runner().restrictions.passthrough_modules
    assert set(workflows.SANDBOX_PASSTHROUGH) <= passthrough
    # Not the whole package: the workflows themselves are imported afresh for each run.
    assert "workflows" not in passthrough


def test_passed_through_workflow_modules_do_not_use_the_workflow_api() -> None:
    """A module passed through is not sandboxed: one that calls temporalio.workflow (or
    defines a workflow) would run outside the sandbox's checks."""
    own = [m for m in workflows.SANDBOX_PASSTHROUGH if m.startswith("workflows.")]
    assert own
    for name in own:
        module = importlib.import_module(name)  # every name is a module that exists
        tree = ast.parse(Path(module.__file__ or "").read_text())
        imported = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        from_temporalio = {
            f"{node.module}.{a.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "temporalio"
            for a in node.names
        }
        assert "temporalio.workflow" not in imported | from_temporalio, name


def test_importing_the_package_imports_no_workflow_module() -> None:
    code = (
        "import sys, workflows\n"
        "print(sorted(m for m in sys.modules if m.startswith('workflows.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_public_name_of_the_package_resolves() -> None:
    for name in workflows.__all__:
        assert getattr(workflows, name) is not None, name
    assert [w.__name__ for w in workflows.ALL_WORKFLOWS] == [
        "ErasureWorkflow",
        "SystemErasureWorkflow",
        "SystemRoundWorkflow",
        "RetentionSweepWorkflow",
    ]
