"""Deterministic orchestration of erasure requests. No IO, no clock, no randomness here."""

from .erasure import VERIFICATION_METHODS, ErasureWorkflow, workflow_id_for
from .status import FINAL_STATUSES, final_status
from .system_erasure import SystemErasureWorkflow
from .types import (
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
    "VERIFICATION_METHODS",
    "CodeCheck",
    "CodeSubmission",
    "DeadlineExtension",
    "ErasurePolicy",
    "ErasureRequest",
    "ErasureResult",
    "ErasureWorkflow",
    "OperatorApproval",
    "Progress",
    "SystemErasure",
    "SystemErasureWorkflow",
    "final_status",
    "workflow_id_for",
]

#: Every workflow class a worker must register.
ALL_WORKFLOWS = [ErasureWorkflow, SystemErasureWorkflow]
