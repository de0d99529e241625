"""A real ``lethe worker`` process for tests that kill it (SIGKILL) and start another."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from lethe.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def start_worker(
    tmp_path: Path,
    settings: Settings,
    key_env: Mapping[str, str],
    log: Path,
    *,
    cached: bool = True,
) -> subprocess.Popen[bytes]:
    """``lethe worker`` in its own session (kill it with ``os.killpg``), configured by
    ``tmp_path / "lethe.toml"`` and the settings' ledger and Temporal address; its output is
    appended to ``log``. ``cached=False``: without a workflow cache
    (``tests/support/uncached_worker.py``), so that a killed worker's workflows move on at
    once."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(settings.home),
        "LETHE_CONFIG": str(tmp_path / "lethe.toml"),
        "LETHE_DATABASE_URL": settings.database_url,
        "LETHE_TEMPORAL_ADDRESS": settings.temporal.address,
        "LETHE_TASK_QUEUE": settings.temporal.task_queue,
        **key_env,  # the keys (signing included) as LETHE_*_KEY: a worker makes none
        "LETHE_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    command = (
        [str(Path(sys.executable).parent / "lethe"), "worker"]
        if cached
        else [sys.executable, "-m", "tests.support.uncached_worker"]
    )
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
