"""A request's final status, from its systems' outcomes. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FINAL_STATUSES", "final_status"]

FINAL_STATUSES = frozenset(
    {"completed", "completed_with_exceptions", "partially_failed", "rejected", "cancelled"}
)


def final_status(outcomes: Iterable[str]) -> str:
    """``partially_failed`` if any system failed; ``completed_with_exceptions`` if any kept
    data, was referred or is still pending; otherwise ``completed``."""
    kinds = set(outcomes)
    if "failed" in kinds:
        return "partially_failed"
    if kinds & {"retained", "referred", "pending"}:
        return "completed_with_exceptions"
    return "completed"
