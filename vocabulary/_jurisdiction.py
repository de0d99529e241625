"""The laws a request can be made under, as the ledger records them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["JURISDICTIONS", "Jurisdiction"]


class Jurisdiction(StrEnum):
    """The law a request is made under: its deadlines (``lethe.deadlines``) and the legal
    bases that can answer it (``basis_fits``) follow from it.

    ``gdpr``: the EU/UK General Data Protection Regulation, Art. 17.
    ``ccpa``: the California Consumer Privacy Act, §1798.105.
    """

    GDPR = "gdpr"
    CCPA = "ccpa"


#: Every jurisdiction, in the order messages list them.
JURISDICTIONS = tuple(Jurisdiction)
