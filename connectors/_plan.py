"""What an erase would do, found without changing anything: the dry run's answer.

A plan counts with the same keys the erase will report (``"posts.anonymized": 3``), so that
an operator can compare them and the conformance kit can hold a connector to its word:
``plan(subject)`` taken just before ``erase(subject, …)`` names the same counts the erase
reports, in a system nobody else is writing to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """A dry run.

    ``counts``           what would be deleted or changed, keyed like ``Erased.counts``
    ``retained_counts``  what would be kept under a declared exception, like ``Retained``
    ``limit``            the blast-radius limit the erase would be held to
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    retained_counts: Mapping[str, int] = field(default_factory=dict)
    limit: int | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def would_change(self) -> int:
        """How many items the erase would delete or change."""
        return sum(self.counts.values())

    @property
    def empty(self) -> bool:
        """True when the system holds nothing of the subject (the erase says ``NotFound``)."""
        return not any(self.counts.values()) and not any(self.retained_counts.values())

    @property
    def refused(self) -> bool:
        """True when the erase would be refused by the blast-radius guard."""
        return self.limit is not None and self.would_change > self.limit
