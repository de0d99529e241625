"""Deterministic orchestration of erasure requests. No IO, no clock, no randomness here."""

from .erasure import STATUS_FROM_LEDGER, ErasureWorkflow
from .gate_decision import GateDecision
from .ids import request_id_of, round_workflow_id, system_erasure_id, workflow_id_for
from .retention_sweep import RetentionSweepWorkflow
from .round_types import ControllerInstruction, StartedRound, Sweep, SweepResult, SystemRound
from .system_erasure import VERIFY_NOT_SEARCHED, SystemErasureWorkflow
from .system_round import SystemRoundWorkflow
from .types import (
    ACKNOWLEDGEMENT_CHANNELS,
    AcknowledgementRecorded,
    CancelOrder,
    CodeCheck,
    CodeResendOrder,
    CodeResent,
    CodeSubmission,
    DeadlineExtension,
    ErasurePolicy,
    ErasureRequest,
    ErasureResult,
    OperatorApproval,
    Progress,
    ReceiptAcknowledgement,
    SystemErasure,
)

__all__ = [
    "ACKNOWLEDGEMENT_CHANNELS",
    "STATUS_FROM_LEDGER",
    "VERIFY_NOT_SEARCHED",
    "AcknowledgementRecorded",
    "CancelOrder",
    "CodeCheck",
    "CodeResendOrder",
    "CodeResent",
    "CodeSubmission",
    "ControllerInstruction",
    "DeadlineExtension",
    "ErasurePolicy",
    "ErasureRequest",
    "ErasureResult",
    "ErasureWorkflow",
    "GateDecision",
    "OperatorApproval",
    "Progress",
    "ReceiptAcknowledgement",
    "RetentionSweepWorkflow",
    "StartedRound",
    "Sweep",
    "SweepResult",
    "SystemErasure",
    "SystemErasureWorkflow",
    "SystemRound",
    "SystemRoundWorkflow",
    "request_id_of",
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
