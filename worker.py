"""The worker's entry point: ``python worker.py`` runs one, as ``lethe worker`` does.

The composition (settings → Temporal client → connectors → a Worker) lives in ``lethe.worker``
beside the command line that also starts it; this file only opens that door at the top of the
tree. It imports ``lethe``; nothing of Lethe's imports it (tests/test_architecture.py).
"""

from __future__ import annotations

from lethe.worker import (
    alert_channels,
    build_mailer,
    build_worker,
    close_connectors,
    controller_endpoints,
    main,
    processor_systems,
    run_worker,
)

__all__ = [
    "alert_channels",
    "build_mailer",
    "build_worker",
    "close_connectors",
    "controller_endpoints",
    "main",
    "processor_systems",
    "run_worker",
]

if __name__ == "__main__":
    main()
