"""A privacy portal for tests: its signing key, the settings that trust it, and assertions.

Pre-verified requests need the portal's signed assertion (``lethe.assertions``); tests that
only want "a verified request" use :func:`preverified_draft`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors._subject import normalise_email
from lethe.assertions import mint_assertion, public_key_text
from lethe.intake import RequestDraft, validate_request
from lethe.settings import Settings, VerificationSettings

__all__ = ["PORTAL", "portal_verification", "preverified_draft"]

PORTAL = Ed25519PrivateKey.generate()


def portal_verification() -> VerificationSettings:
    """Verification settings that trust :data:`PORTAL` (audience ``lethe``)."""
    return VerificationSettings(portal_public_keys=(public_key_text(PORTAL.public_key()),))


def preverified_draft(
    settings: Settings,
    email: str,
    systems: Sequence[str] | None = None,
    extra_identifiers: Mapping[str, str] | None = None,
) -> RequestDraft:
    """A request for ``email`` that the test portal vouches for."""
    return validate_request(
        settings,
        email=email,
        systems=systems,
        extra_identifiers=extra_identifiers,
        assertion=mint_assertion(PORTAL, normalise_email(email), audience="lethe"),
    )
