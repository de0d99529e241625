"""The person whose data is being erased, as a connector sees them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["IDENTIFIER_KINDS", "Subject", "normalise_email", "redact"]

#: Identifier kinds a request may carry. ``email`` is always present.
IDENTIFIER_KINDS = frozenset({"email", "username", "user_id", "phone", "name", "customer_id"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: str) -> str:
    """Lower-case and trim an address; raise ``ValueError`` if it is not one."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


@dataclass(frozen=True, repr=False)
class Subject:
    """Identifiers of one data subject, decrypted from the vault for the length of a call.

    ``ref`` is the pseudonym (keyed HMAC) used everywhere outside the vault. ``repr`` never
    shows identifiers, so a subject that ends up in a log line or traceback leaks nothing.
    """

    ref: str
    email: str
    identifiers: Mapping[str, str] = field(default_factory=dict)

    def get(self, kind: str) -> str | None:
        """The identifier of that kind, or None. Empty strings count as absent."""
        value = self.email if kind == "email" else self.identifiers.get(kind)
        return value if value else None

    def values(self) -> list[str]:
        """Every identifier value (for scrubbing messages)."""
        return [v for v in (self.email, *self.identifiers.values()) if v]

    def __repr__(self) -> str:
        return f"Subject(ref={self.ref!r}, identifiers=<{1 + len(self.identifiers)} hidden>)"

    __str__ = __repr__


_ANY_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def redact(text: str, subject: Subject | None = None) -> str:
    """``text`` with the subject's identifiers and anything shaped like an email replaced.

    Use it on any message that may leave the connector (errors, logs, evidence).
    """
    if subject is not None:
        for value in sorted(subject.values(), key=len, reverse=True):
            if len(value.strip()) >= 3:
                text = re.sub(re.escape(value.strip()), "[redacted]", text, flags=re.IGNORECASE)
    return _ANY_EMAIL.sub("[email redacted]", text)
