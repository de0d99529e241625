"""Deterministic orchestration of erasure requests. No IO, no clock, no randomness here.

The names below are loaded when first asked for (PEP 562), not when the package is imported:
the workflow sandbox imports a workflow's module afresh for every new execution, package
first, so an eager ``__init__`` would re-run every workflow module of the package for each
one (a SystemErasureWorkflow needs none of ErasureWorkflow's). Each module imports only what
it uses, and :data:`SANDBOX_PASSTHROUGH` names the modules that hold data and constants only,
which the worker's sandbox takes from the host instead (``lethe.worker.workflow_runner``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .erasure import STATUS_FROM_LEDGER, ErasureWorkflow
    from .gate_decision import GateDecision
    from .ids import request_id_of, round_workflow_id, system_erasure_id, workflow_id_for
    from .retention_sweep import RetentionSweepWorkflow
    from .round_types import (
        ControllerInstruction,
        StartedRound,
        Sweep,
        SweepResult,
        SystemRound,
    )
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

    #: Every workflow class a worker must register.
    ALL_WORKFLOWS: list[type]

__all__ = [
    "ACKNOWLEDGEMENT_CHANNELS",
    "ALL_WORKFLOWS",
    "SANDBOX_PASSTHROUGH",
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

#: Modules a workflow sandbox may take from the host rather than import afresh for each
#: execution: they define data classes, constants and pure functions of their arguments, and
#: keep no state (the sandbox's isolation protects nothing in them; recreating their classes
#: per execution only costs time). The workflow modules themselves, and the helpers that
#: call the workflow API (deadline_clock, email_gate, refusals), stay sandboxed.
SANDBOX_PASSTHROUGH = (
    "vocabulary",
    "activities",
    "workflows.activity_options",
    "workflows.gate_decision",
    "workflows.ids",
    "workflows.round_types",
    "workflows.types",
)

_WHERE = {
    "STATUS_FROM_LEDGER": "erasure",
    "ErasureWorkflow": "erasure",
    "GateDecision": "gate_decision",
    "request_id_of": "ids",
    "round_workflow_id": "ids",
    "system_erasure_id": "ids",
    "workflow_id_for": "ids",
    "RetentionSweepWorkflow": "retention_sweep",
    "ControllerInstruction": "round_types",
    "StartedRound": "round_types",
    "Sweep": "round_types",
    "SweepResult": "round_types",
    "SystemRound": "round_types",
    "VERIFY_NOT_SEARCHED": "system_erasure",
    "SystemErasureWorkflow": "system_erasure",
    "SystemRoundWorkflow": "system_round",
    **dict.fromkeys(
        [
            "ACKNOWLEDGEMENT_CHANNELS",
            "AcknowledgementRecorded",
            "CancelOrder",
            "CodeCheck",
            "CodeResendOrder",
            "CodeResent",
            "CodeSubmission",
            "DeadlineExtension",
            "ErasurePolicy",
            "ErasureRequest",
            "ErasureResult",
            "OperatorApproval",
            "Progress",
            "ReceiptAcknowledgement",
            "SystemErasure",
        ],
        "types",
    ),
}


def __getattr__(name: str) -> Any:
    if name == "ALL_WORKFLOWS":
        value: Any = [
            __getattr__("ErasureWorkflow"),
            __getattr__("SystemErasureWorkflow"),
            __getattr__("SystemRoundWorkflow"),
            __getattr__("RetentionSweepWorkflow"),
        ]
    elif name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
