"""Every ``@activity.defn`` in the activities package is registered on the worker.

The worker's activity list is derived from the activity classes
(``activities.registry.activity_methods``); this walks the package on its own, so that an
activity written on a class the worker does not build, or as a module-level function, is
caught here rather than by a workflow task that waits for a worker that never comes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

import activities
from activities import activity_methods, is_activity
from ledger import Ledger
from lethe import worker as worker_module


def _name(fn: Any) -> str:
    definition = getattr(fn, "__temporal_activity_definition")
    return str(definition.name)


def _defined_in_package() -> Iterator[tuple[str, str]]:
    """(where, activity name) of every ``@activity.defn`` written in ``activities``."""
    for info in pkgutil.walk_packages(activities.__path__, f"{activities.__name__}."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if is_activity(obj) and getattr(obj, "__module__", None) == module.__name__:
                yield f"{module.__name__}.{name}", _name(obj)
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                for attr, member in vars(obj).items():
                    if is_activity(member):
                        yield f"{module.__name__}.{obj.__name__}.{attr}", _name(member)


def test_the_package_walk_finds_activities() -> None:
    found = dict(_defined_in_package())
    assert found["activities.erasure.ErasureActivities.erase_in_system"] == "erase_in_system"
    assert "activities.refusals.RefusalActivities.record_refused_signal" in found


async def test_every_activity_of_the_package_is_registered_on_the_worker(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_ledger: Ledger
) -> None:
    worker = worker_module.build_worker(
        time_skipping_env.client,
        task_queue=task_queue,
        ledger=sqlite_ledger,
        connectors={},
        signing_key=Ed25519PrivateKey.generate(),
    )
    registered = [_name(fn) for fn in worker.config()["activities"]]
    assert len(registered) == len(set(registered)), "an activity is registered twice"
    missing = {where: name for where, name in _defined_in_package() if name not in registered}
    assert not missing, f"not registered on the worker: {missing}"


def test_activity_methods_binds_each_defn_method_once() -> None:
    class Base:
        @activity.defn(name="base_step")
        async def step(self) -> str:
            return "base"

        async def helper(self) -> None:  # no defn: not an activity
            return None

    class Derived(Base):
        @activity.defn(name="derived_step")
        async def step(self) -> str:  # overrides: the derived one, once
            return "derived"

        @activity.defn(name="other")
        async def other(self) -> None:
            return None

    instance = Derived()
    found = activity_methods(instance)
    assert [_name(fn) for fn in found] == ["derived_step", "other"]
    assert all(getattr(fn, "__self__", None) is instance for fn in found)


async def test_the_sticky_cache_is_lethes_bound_unless_configured(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_ledger: Ledger
) -> None:
    """Temporal's default (1,000 cached executions) takes a worker past 512 MiB with that many
    requests parked at the identity gate (tests/bench/bench_parked_requests.py); Lethe's
    default is lower, and ``[worker] max_cached_workflows`` sets it."""
    from lethe.settings import MAX_CACHED_WORKFLOWS, WorkerSettings

    def cached(**options: Any) -> int:
        worker = worker_module.build_worker(
            time_skipping_env.client,
            task_queue=f"{task_queue}-{options}",  # one worker per queue and process
            ledger=sqlite_ledger,
            connectors={},
            signing_key=Ed25519PrivateKey.generate(),
            **options,
        )
        return int(worker.config()["max_cached_workflows"])

    assert cached() == MAX_CACHED_WORKFLOWS == WorkerSettings().max_cached_workflows < 1000
    assert cached(max_cached_workflows=40) == 40
