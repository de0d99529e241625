"""Workflow ids: a request's, and those derived from it. They hold a request id, never a
person's data.

    erasure/ID                       the request (ErasureWorkflow)
    erasure/ID/SYSTEM/ROUND          one system's erasure in one round (SystemErasureWorkflow)
    erasure/ID/round/SYSTEM/ROUND    a later round of one system (SystemRoundWorkflow)

A system's erasure id is also the guard against erasing it twice in one round: Temporal starts
one workflow per id.
"""

from __future__ import annotations

__all__ = [
    "request_id_of",
    "round_workflow_id",
    "system_erasure_id",
    "system_erasure_id_under",
    "workflow_id_for",
]


def workflow_id_for(request_id: str) -> str:
    """The request's own workflow."""
    return f"erasure/{request_id}"


def system_erasure_id_under(parent_workflow_id: str, system: str, round_: int) -> str:
    """A system's erasure, under the request's workflow id as that workflow knows it."""
    return f"{parent_workflow_id}/{system}/{round_}"


def system_erasure_id(request_id: str, system: str, round_: int) -> str:
    """A system's erasure in a round: the same pattern as the request's own children."""
    return system_erasure_id_under(workflow_id_for(request_id), system, round_)


def round_workflow_id(request_id: str, system: str, round_: int) -> str:
    """A later round of one system."""
    return f"{workflow_id_for(request_id)}/round/{system}/{round_}"


def request_id_of(workflow_id: str) -> str:
    """``er-…`` of ``erasure/er-…`` and of every id derived from it (children, rounds)."""
    parts = workflow_id.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "erasure" else workflow_id
