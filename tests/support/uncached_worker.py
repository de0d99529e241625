"""``lethe worker`` with no workflow cache, for tests that SIGKILL workers.

A worker caches workflows and asks the server to send their next tasks to its own (sticky)
queue. Killed, it leaves those tasks waiting there for the sticky timeout (10 s) before the
server gives them to another worker, on every kill. Without a cache every task goes to the
shared queue and the next worker takes it at once; each task replays its (short) history,
which changes nothing the fault test looks at: what connectors did and what the ledger says.
"""

from __future__ import annotations

import functools

from temporalio.worker import Worker

import lethe.worker as lethe_worker

if __name__ == "__main__":
    lethe_worker.Worker = functools.partial(Worker, max_cached_workflows=0)  # type: ignore[misc]
    lethe_worker.main()
