"""The workflow sandbox's first-task cost: making the sandbox for one new execution.

The SDK builds a sandbox for every workflow execution a worker starts (and again whenever an
execution is evicted from its cache): it imports the workflow's module afresh, with every
module it imports that is not passed through, and re-creates the workflow class. Measured
here by creating the instance the first workflow task runs in, for each of Lethe's workflows
that runs on every request, in Lethe's sandbox (``lethe.worker.workflow_runner``) against
Temporal's default restrictions (baseline, same code otherwise). CPU time, not wall time: the
machine is shared.

Without bytecode on disk (``PYTHONDONTWRITEBYTECODE``, an editable install) every one of
those imports compiles its module from source, roughly doubling the cost; the note says which.
"""

from __future__ import annotations

import sys
import time

from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.bench import Bench


async def run(bench: Bench) -> None:
    from lethe.worker import workflow_runner
    from workflows import ErasureWorkflow, SystemErasureWorkflow

    repeat = max(5, int(50 * min(bench.scale, 1.0)))
    bench.notes.append(
        f"CPU ms to create one execution's sandbox, median of {repeat};"
        + (" no bytecode written (compiled from source)" if sys.dont_write_bytecode else "")
    )
    runners = {"Temporal's default": SandboxedWorkflowRunner(), "Lethe's": workflow_runner()}
    for cls in (ErasureWorkflow, SystemErasureWorkflow):
        definition = workflow._Definition.must_from_class(cls)
        base = None
        for name, runner in runners.items():
            runner.prepare_workflow(definition)  # warm: the host's modules are loaded
            times = []
            for _ in range(repeat):
                start = time.process_time()
                # What the worker does for a new execution, with a stand-in workflow info.
                runner.prepare_workflow(definition)
                times.append(time.process_time() - start)
            label = f"{cls.__name__}: {name} sandbox"
            bench.record(label, times, baseline=base)
            base = base or label
