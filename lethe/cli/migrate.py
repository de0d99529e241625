"""``lethe migrate``: the one command that changes the ledger's schema."""

from __future__ import annotations

from ..runtime import migrate as migrate_ledger
from ._app import app, console, emit_json, invocation_settings, json_option, run

__all__ = ["migrate"]


@app.command()
@json_option
def migrate(as_json: bool) -> None:
    """Bring the ledger's schema up to this version of Lethe (run it before starting workers
    of a new version). Takes a lock in the database, so replicas may all run it at start:
    one migrates, the others find it done. Needs no keys; refuses a schema newer than it knows.

    Every other command refuses a ledger whose schema is behind, saying to run this."""
    report = run(migrate_ledger(invocation_settings()))
    if as_json:
        emit_json(
            {
                "ledger": report.ledger,
                "before": list(report.before),
                "after": list(report.after),
                "migrated": report.migrated,
            }
        )
        return
    after = ", ".join(report.after)
    if not report.migrated:
        console.print(
            f"ledger {report.ledger}: schema {after}, nothing to do", markup=False, soft_wrap=True
        )
    else:
        before = ", ".join(report.before) or "empty"
        console.print(
            f"ledger {report.ledger}: migrated {before} -> {after}", markup=False, soft_wrap=True
        )
