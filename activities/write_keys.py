"""The write key of the activity running now (``ledger.write_keys``).

Temporal gives every attempt of one activity the same workflow id, run id and activity id,
and every other activity of the run another activity id: together they tell a retry of a
write (the worker died after the commit, before Temporal heard of it) from a new write.
The run id keeps a workflow id used again (a round resumed by a new workflow run) from
meeting its old keys.
"""

from __future__ import annotations

import hashlib

from temporalio import activity

__all__ = ["activity_write_key"]


def activity_write_key(part: str | None = None) -> str | None:
    """``activity:WORKFLOW_ID/RUN_ID/ACTIVITY_ID[/PART]``; ``part`` names one of several
    writes of one activity (a key longer than the ledger's 200 characters is kept as its
    SHA-256). None outside an activity (a write that nobody retries)."""
    if not activity.in_activity():
        return None
    info = activity.info()
    if info.workflow_id is not None:
        key = f"activity:{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    else:  # a standalone activity
        key = f"activity:{info.activity_id}/{info.activity_run_id}"
    key = f"{key}/{part}" if part else key
    if len(key) > 200:
        key = "activity:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key
