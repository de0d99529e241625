"""Pseudonyms: the only name Lethe uses for a person outside the subject vault.

A pseudonym is a keyed HMAC-SHA256 of the normalised identifier: for an address, its normal
form under the email matching policy (``connectors.normalise_email``: trimmed, NFC, letters A-Z
lower-cased, nothing else folded). The same person gets the same pseudonym in every request (so
holds and tombstones can match), and without the key nobody can tell whose pseudonym it is, or
confirm a guess.

With the key, anyone can: addresses are easy to guess, so a list of likely addresses and the
key re-identify every record, shredded or not. The pseudonym key is as secret as the vault
key, and a pseudonym is still personal data (GDPR Recital 26); that is why receipts and the
proof log never carry one. Changing the key changes every pseudonym (holds and tombstones
stop matching): there is no rotation.
"""

from __future__ import annotations

import hashlib
import hmac

from connectors import normal_form

__all__ = ["Pseudonymizer"]


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pseudonym key must be at least 32 bytes")
        self._key = key

    def subject_ref(self, normalised_email: str) -> str:
        """``ps_`` and 32 hex digits for a normalised email address.

        ``ValueError`` for an address not in its normal form: two spellings of one address
        must never get two pseudonyms (normalise with ``connectors.normalise_email`` first).
        """
        if normalised_email and normal_form("email", normalised_email) != normalised_email:
            raise ValueError("the address is not in its normal form (connectors.normalise_email)")
        return "ps_" + self.digest("email", normalised_email)[:32]

    def digest(self, kind: str, value: str) -> str:
        msg = f"lethe/v1/{kind}\x00{value}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()
