"""How a requester's identity is established before anything of theirs is erased."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["VERIFICATION_METHODS", "VerificationMethod"]


class VerificationMethod(StrEnum):
    """A request's verification method, as intake records it and the identity gate reads it.

    ``email``: a one-time code mailed to the address on file, given back by the requester.
    ``operator``: a named operator approves, with a reason (``lethe approve``).
    ``preverified``: a privacy portal that authenticated the person signed an assertion,
    checked at intake.
    """

    EMAIL = "email"
    OPERATOR = "operator"
    PREVERIFIED = "preverified"


#: Every method, in the order messages list them.
VERIFICATION_METHODS = tuple(VerificationMethod)
