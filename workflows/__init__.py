"""Deterministic orchestration of erasure requests. No IO, no clock, no randomness here."""

from .erasure import STATUS_FROM_LEDGER, VERIFICATION_METHODS, ErasureWorkflow, workflow_id_for
from .retention_sweep import RetentionSweepWorkflow
from .round_types import ControllerInstruction, StartedRound, Sweep, SweepResult, SystemRound
from .status import FINAL_STATUSES, final_status
from .system_erasure import SystemErasureWorkflow
from .system_round import SystemRoundWorkflow, round_workflow_id, system_erasure_id
from .types import (
    CancelOrder,
    CodeCheck,
    CodeSubmission,
    DeadlineExtension,
    ErasurePolicy,
    ErasureRequest,
    ErasureResult,
    OperatorApproval,
    Progress,
    SystemErasure,
)

__all__ = [
    "FINAL_STATUSES",
    "STATUS_FROM_LEDGER",
    "VERIFICATION_METHODS",
    "CancelOrder",
    "CodeCheck",
    "CodeSubmission",
    "ControllerInstruction",
    "DeadlineExtension",
    "ErasurePolicy",
    "ErasureRequest",
    "ErasureResult",
    "ErasureWorkflow",
    "OperatorApproval",
    "Progress",
    "RetentionSweepWorkflow",
    "StartedRound",
    "Sweep",
    "SweepResult",
    "SystemErasure",
    "SystemErasureWorkflow",
    "SystemRound",
    "SystemRoundWorkflow",
    "final_status",
    "round_workflow_id",
    "system_erasure_id",
    "workflow_id_for",
]

#: Every workflow class a worker must register.
ALL_WORKFLOWS = [
    ErasureWorkflow,
    SystemErasureWorkflow,
    SystemRoundWorkflow,
    RetentionSweepWorkflow,
]
