"""Every side effect of an erasure: connector calls and ledger writes.

Activities are methods of classes whose dependencies (ledger, configured connectors) come in
through ``__init__``; ``worker.py`` builds them. Workflows refer to them, never the reverse.
"""

from .erasure import ErasureActivities, entry_from_outcome, outcome_from_record
from .recording import RecordingActivities
from .sealing import SealingActivities, SealResult
from .types import (
    FINAL_OUTCOMES,
    StatusChange,
    SystemFailure,
    SystemOutcome,
    SystemTask,
    Verification,
)

__all__ = [
    "FINAL_OUTCOMES",
    "ErasureActivities",
    "RecordingActivities",
    "SealResult",
    "SealingActivities",
    "StatusChange",
    "SystemFailure",
    "SystemOutcome",
    "SystemTask",
    "Verification",
    "entry_from_outcome",
    "outcome_from_record",
]
