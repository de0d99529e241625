"""The fixed list of reasons Lethe accepts for keeping data after an erasure request.

Every ``Retained`` outcome, legal hold and controller's instruction to retain names one of
these codes plus free text. The codes are stable strings because they are stored in the
ledger, sealed into receipts and shown to auditors.
"""

from __future__ import annotations

from enum import StrEnum

from ._jurisdiction import JURISDICTIONS

__all__ = ["LEGAL_BASES", "LegalBasis", "basis_fits", "describe_basis"]


class LegalBasis(StrEnum):
    """A reason to keep data an erasure request asked for: a statute's own exception, or one
    that belongs to no statute (``contract``, ``backup-rotation``, ``suppression``,
    ``legal-hold``)."""

    # GDPR Art. 17(3): erasure does not apply where processing is necessary for ...
    GDPR_17_3_A = "gdpr-17-3-a"  # freedom of expression and information
    GDPR_17_3_B = "gdpr-17-3-b"  # a legal obligation, or a task in the public interest
    GDPR_17_3_C = "gdpr-17-3-c"  # public health
    GDPR_17_3_D = "gdpr-17-3-d"  # archiving, scientific or historical research, statistics
    GDPR_17_3_E = "gdpr-17-3-e"  # establishment, exercise or defence of legal claims
    # CCPA §1798.105(d): a business need not delete where it is necessary to ...
    CCPA_105_D_1 = "ccpa-105-d-1"  # complete the transaction / provide the good or service
    CCPA_105_D_2 = "ccpa-105-d-2"  # security and integrity
    CCPA_105_D_3 = "ccpa-105-d-3"  # debug to repair errors
    CCPA_105_D_4 = "ccpa-105-d-4"  # free speech
    CCPA_105_D_5 = "ccpa-105-d-5"  # California Electronic Communications Privacy Act
    CCPA_105_D_6 = "ccpa-105-d-6"  # research in the public interest
    CCPA_105_D_7 = "ccpa-105-d-7"  # internal uses reasonably aligned with expectations
    CCPA_105_D_8 = "ccpa-105-d-8"  # comply with a legal obligation
    CCPA_105_D_9 = "ccpa-105-d-9"  # otherwise lawful internal uses compatible with the context
    CONTRACT = "contract"  # performance of a contract still running
    BACKUP_ROTATION = "backup-rotation"  # backups kept beyond use until overwritten
    SUPPRESSION = "suppression"  # hashed entry that keeps the person from being re-added
    LEGAL_HOLD = "legal-hold"  # a hold placed by the organisation's counsel


#: Every code, for checking a code given as text (``code in LEGAL_BASES``).
LEGAL_BASES = frozenset(LegalBasis)

_DESCRIPTIONS: dict[LegalBasis, str] = {
    LegalBasis.GDPR_17_3_A: "GDPR Art. 17(3)(a): freedom of expression and information",
    LegalBasis.GDPR_17_3_B: "GDPR Art. 17(3)(b): legal obligation or public task",
    LegalBasis.GDPR_17_3_C: "GDPR Art. 17(3)(c): public health",
    LegalBasis.GDPR_17_3_D: "GDPR Art. 17(3)(d): archiving, research or statistics",
    LegalBasis.GDPR_17_3_E: "GDPR Art. 17(3)(e): legal claims",
    LegalBasis.CCPA_105_D_1: "CCPA §1798.105(d)(1): complete the transaction",
    LegalBasis.CCPA_105_D_2: "CCPA §1798.105(d)(2): security and integrity",
    LegalBasis.CCPA_105_D_3: "CCPA §1798.105(d)(3): debugging",
    LegalBasis.CCPA_105_D_4: "CCPA §1798.105(d)(4): free speech",
    LegalBasis.CCPA_105_D_5: "CCPA §1798.105(d)(5): CalECPA",
    LegalBasis.CCPA_105_D_6: "CCPA §1798.105(d)(6): research in the public interest",
    LegalBasis.CCPA_105_D_7: "CCPA §1798.105(d)(7): internal uses the consumer expects",
    LegalBasis.CCPA_105_D_8: "CCPA §1798.105(d)(8): legal obligation",
    LegalBasis.CCPA_105_D_9: "CCPA §1798.105(d)(9): compatible internal uses",
    LegalBasis.CONTRACT: "performance of a contract",
    LegalBasis.BACKUP_ROTATION: "backup copies kept beyond use until rotation",
    LegalBasis.SUPPRESSION: "suppression entry (hashed) so the person is not re-added",
    LegalBasis.LEGAL_HOLD: "legal hold",
}


def describe_basis(code: str) -> str:
    """A human description of a basis code; unknown codes are returned unchanged."""
    try:
        return _DESCRIPTIONS[LegalBasis(code)]
    except ValueError:
        return code


def basis_fits(code: str, jurisdiction: str) -> bool:
    """Whether a basis can answer a request made under ``jurisdiction``.

    A statute's own exception answers only a request under that statute (a CCPA
    §1798.105(d) basis is no answer to a GDPR request); ``contract``, ``backup-rotation``,
    ``suppression`` and ``legal-hold`` belong to no statute and answer either.
    """
    family = code.split("-", 1)[0]
    return family not in JURISDICTIONS or family == jurisdiction
