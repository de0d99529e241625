"""The activities an object offers: every method of its class that carries ``@activity.defn``.

The worker builds one instance of each activity class (their dependencies through
``__init__``) and registers what :func:`activity_methods` finds on them, so a new
``@activity.defn`` method is registered by being written; ``tests/test_worker_registry.py``
checks that every one in this package is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["activity_methods", "is_activity"]

# Where ``@activity.defn`` keeps its definition on the function (the SDK reads it there).
_DEFINITION = "__temporal_activity_definition"


def is_activity(fn: object) -> bool:
    """Whether ``fn`` (a function, or a method bound or not) carries ``@activity.defn``."""
    return getattr(fn, _DEFINITION, None) is not None


def activity_methods(*instances: object) -> list[Callable[..., Any]]:
    """The activity methods of ``instances``, bound, in the order their classes define them."""
    found: list[Callable[..., Any]] = []
    for instance in instances:
        seen: set[str] = set()
        for cls in type(instance).__mro__:
            for name, member in vars(cls).items():
                if name not in seen and is_activity(member):
                    seen.add(name)
                    found.append(getattr(instance, name))
    return found
