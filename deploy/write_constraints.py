"""Write constraints.txt: the installed version of every runtime dependency of lethe-erasure,
with the drivers of its postgres, mysql and redis extras (run in the venv the suite passed in):

    .venv/bin/python deploy/write_constraints.py > constraints.txt
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement

EXTRAS = ("postgres", "mysql", "redis")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(name: str, extras: tuple[str, ...], seen: dict[str, str]) -> None:
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return
    seen[_key(name)] = dist.version
    for text in dist.requires or []:
        req = Requirement(text)
        envs = [{"extra": e} for e in extras] or [{"extra": ""}]
        if req.marker is not None and not any(req.marker.evaluate(e) for e in envs):
            continue
        if _key(req.name) not in seen or req.extras:
            closure(req.name, tuple(req.extras), seen)


def main() -> None:
    seen: dict[str, str] = {}
    closure("lethe-erasure", EXTRAS, seen)
    seen.pop("lethe-erasure", None)
    print("# The version of every runtime dependency (with the drivers of the extras postgres,")
    print("# mysql and redis) that the test suite last passed with, for reproducible installs:")
    print("#   pip install -c constraints.txt 'lethe-erasure[postgres]'")
    print("# Regenerate after changing dependencies: see docs/production.md.")
    for key in sorted(seen):
        print(f"{key}=={seen[key]}")


if __name__ == "__main__":
    main()
