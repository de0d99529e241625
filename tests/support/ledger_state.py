"""What a command left in a home's SQLite ledger: for tests that a refused command wrote
nothing (the ledger exists from ``lethe init``; what counts is whether it holds anything)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["written"]

#: Tables ``lethe init`` fills: the schema's version and the keys' ids.
_FROM_INIT = {"alembic_version", "ledger_keys"}


def written(home: Path) -> dict[str, int]:
    """Row counts of every table that holds rows, but those ``lethe init`` fills."""
    path = home / "lethe.db"
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name not in _FROM_INIT and not name.startswith("sqlite_")
        ]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    return {t: n for t, n in counts.items() if n}
