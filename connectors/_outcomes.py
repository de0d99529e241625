"""What a connector reports back: outcome values, never exceptions.

    Erased     the subject's data is gone (deleted or anonymised), with counts and evidence
    NotFound   the system holds nothing of the subject
    Retained   some data is kept under a legal basis until a date (what was erasable is erased)
    Pending    the system accepted the request and finishes later; poll ``status(ticket)``
    Referred   the data belongs to another controller, who must instruct us
    NotSearched  the request lacks an identifier a rule of the system needs: what that rule
               would find was not looked for (never "not found"); what the identifiers the
               request has did find is erased (and kept) all the same, and counted

Counts are keyed ``"<what>.<action>"`` (``"posts.anonymised": 3``) so that an auditor can read
them without knowing the connector. Evidence holds what proves the action (API ids, status
codes, key ids); never the subject's identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from vocabulary import LEGAL_BASES, OutcomeKind

from ._subject import IDENTIFIER_KINDS

__all__ = [
    "Erased",
    "NotFound",
    "NotSearched",
    "Outcome",
    "Pending",
    "Referred",
    "Residual",
    "Retained",
]


@dataclass(frozen=True)
class Erased:
    counts: Mapping[str, int] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal[OutcomeKind.ERASED] = OutcomeKind.ERASED


@dataclass(frozen=True)
class NotFound:
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal[OutcomeKind.NOT_FOUND] = OutcomeKind.NOT_FOUND


@dataclass(frozen=True)
class Retained:
    """Data kept under an exception. ``counts`` is what *was* erased alongside it.

    ``legal_basis`` is a code of :class:`~connectors.LegalBasis` and ``note`` says why in
    words. Exactly one of ``retained_until`` (a date when the exception lapses) or
    ``review_on`` (an indefinite retention, reviewed on that date) must be given. The ledger
    refuses a retention that breaks these rules, whoever writes it.
    """

    legal_basis: str
    note: str
    retained_until: date | None = None
    review_on: date | None = None
    retained_counts: Mapping[str, int] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal[OutcomeKind.RETAINED] = OutcomeKind.RETAINED

    def __post_init__(self) -> None:
        if not self.legal_basis:
            raise ValueError("a Retained outcome needs a legal basis")
        if self.legal_basis not in LEGAL_BASES:
            raise ValueError(
                f"unknown legal basis {self.legal_basis!r}: use a code of connectors.LegalBasis"
            )
        if not self.note or not self.note.strip():
            raise ValueError("a Retained outcome needs a note saying why the data is kept")
        if (self.retained_until is None) == (self.review_on is None):
            raise ValueError("a Retained outcome needs exactly one of retained_until or review_on")


@dataclass(frozen=True)
class Pending:
    ticket: str
    poll_after: timedelta = timedelta(minutes=5)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal[OutcomeKind.PENDING] = OutcomeKind.PENDING


@dataclass(frozen=True)
class Referred:
    controller: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal[OutcomeKind.REFERRED] = OutcomeKind.REFERRED


@dataclass(frozen=True)
class NotSearched:
    """Part of the system could not be searched: the request lacks an identifier that a rule
    of its configuration needs (``lethe submit`` carries only the address unless given
    ``--identifier``; a rule keyed by ``customer_id`` then has nothing to look for).

    It is never "nothing found": Lethe records the system as ``not_searched``, naming
    ``missing``, and the request does not end ``completed`` until the identifier is added and
    the system retried (``lethe retry … --identifier KIND=VALUE``). ``missing`` is the
    identifier kinds lacking (of :data:`connectors.IDENTIFIER_KINDS`), never their values.

    What the identifiers the request has did find is still erased and reported, as
    ``Erased`` would: ``counts`` and ``evidence``. If some of it is kept under an exception,
    ``kept`` says so as a :class:`Retained` would (its legal basis, note, date and
    ``retained_counts``; its own ``counts`` and ``evidence`` are not read: give them here).
    """

    missing: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kept: Retained | None = None
    kind: Literal[OutcomeKind.NOT_SEARCHED] = OutcomeKind.NOT_SEARCHED

    def __post_init__(self) -> None:
        if isinstance(self.missing, str):
            raise ValueError("NotSearched.missing is a tuple of identifier kinds, not one string")
        missing = tuple(sorted(set(self.missing)))
        if not missing:
            raise ValueError("a NotSearched outcome names the identifier kinds the request lacks")
        unknown = [k for k in missing if k not in IDENTIFIER_KINDS]
        if unknown:
            raise ValueError(
                f"NotSearched.missing names unknown identifier kind {unknown[0]!r}"
                f" (known: {', '.join(sorted(IDENTIFIER_KINDS))})"
            )
        object.__setattr__(self, "missing", missing)

    @property
    def retained_counts(self) -> Mapping[str, int]:
        """What the searched part keeps (``kept``), as ``Retained.retained_counts``."""
        return self.kept.retained_counts if self.kept is not None else {}


Outcome = Erased | NotFound | Retained | Pending | Referred | NotSearched


@dataclass(frozen=True)
class Residual:
    """What still matches the subject after an erase. Empty means verified clean.

    Items an outcome declared as retained are not residue and must not be counted here.
    """

    remaining: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(self.remaining.values())
