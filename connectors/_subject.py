"""The person whose data is being erased, as a connector sees them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from ._matching import IDENTIFIER_KINDS, check_identifier

__all__ = ["IDENTIFIER_KINDS", "Subject", "normalise_email", "redact"]


def normalise_email(value: str) -> str:
    """An address in its normal form (``connectors._matching``): trimmed, NFC, letters A-Z
    lower-cased. Raises :class:`~connectors._matching.IdentifierRefused` (a ``ValueError``) with a
    reason that does not repeat the value when it is not an address or holds a control,
    invisible or compatibility character."""
    return check_identifier("email", value)


@dataclass(frozen=True, repr=False)
class Subject:
    """Identifiers of one data subject, decrypted from the vault for the length of a call.

    ``ref`` is the pseudonym (keyed HMAC) used everywhere outside the vault. ``repr`` never
    shows identifiers, so a subject that ends up in a log line or traceback leaks nothing.
    ``jurisdiction`` is the law the request was made under (``"gdpr"``, ``"ccpa"``: see
    :data:`connectors.JURISDICTIONS`), from the ledger; ``None`` where the caller does not
    know it. It is not personal data, and decides which legal basis a retention cites.
    """

    ref: str
    email: str
    identifiers: Mapping[str, str] = field(default_factory=dict)
    jurisdiction: str | None = None

    def get(self, kind: str) -> str | None:
        """The identifier of that kind, or None. Empty strings count as absent."""
        value = self.email if kind == "email" else self.identifiers.get(kind)
        return value if value else None

    def values(self) -> list[str]:
        """Every identifier value (for scrubbing messages)."""
        return [v for v in (self.email, *self.identifiers.values()) if v]

    def __repr__(self) -> str:
        hidden = f"identifiers=<{1 + len(self.identifiers)} hidden>"
        if self.jurisdiction is None:
            return f"Subject(ref={self.ref!r}, {hidden})"
        return f"Subject(ref={self.ref!r}, jurisdiction={self.jurisdiction!r}, {hidden})"

    __str__ = __repr__


#: An address, also with its ``@`` URL-encoded (``ada%40example.org``, as HTTP errors quote
#: the URL they failed on).
_ANY_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", flags=re.IGNORECASE
)
#: An international phone number, anyone's: ``+44 20 7946 0958``, ``+1 (555) 010-0199`` (a
#: ``+``, then 7 to 15 digits with at most two separators between two digits).
_ANY_PHONE = re.compile(r"\+\d(?:[\s().\-]{0,2}\d){6,14}")
#: Identifier kinds that are names made of words: each word names the person too.
_WORDY_KINDS = frozenset({"name"})
#: What may stand between two digits of a phone number as people write it.
_PHONE_GAP = r"[\s().\-]{0,2}"


def _spellings(value: str) -> set[str]:
    """``value`` as it appears in text a system sends back: plain, URL-encoded, or escaped
    inside JSON (``Zo\\u00eb``)."""
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
    }


def _patterns(subject: Subject) -> list[re.Pattern[str]]:
    """Longest first, so that a full value is replaced before any word of it."""
    whole: set[str] = set()
    words: set[str] = set()
    numbers: list[re.Pattern[str]] = []
    for kind, value in (("email", subject.email), *subject.identifiers.items()):
        value = value.strip() if value else ""
        if len(value) < 3:
            continue
        whole |= _spellings(value)
        if kind == "phone":
            digits = [ch for ch in value if ch.isdigit()]
            if len(digits) >= 7:
                # The same number written with other separators (or none): 442079460958,
                # +44-20-7946-0958, (20) 7946 0958 after the country code...
                numbers.append(re.compile(r"(?<!\d)\+?" + _PHONE_GAP.join(digits) + r"(?!\d)"))
        if kind in _WORDY_KINDS:
            words |= {w for w in re.split(r"[\s,.;:()'\"-]+", value) if len(w) >= 3}
        elif kind == "email":
            # ada.lovelace@… names Ada Lovelace: each word of the local part on its own.
            local = value.rsplit("@", 1)[0]
            words |= {w for w in re.split(r"[._+\-]+", local) if len(w) >= 3 and w.isalpha()}
    found = [re.compile(re.escape(v), re.IGNORECASE) for v in sorted(whole, key=len, reverse=True)]
    found += [
        re.compile(rf"(?<!\w){re.escape(w)}(?!\w)", re.IGNORECASE)
        for w in sorted(words, key=len, reverse=True)
    ]
    return found + numbers


def redact(text: str, subject: Subject | None = None, *, any_address: bool = True) -> str:
    """``text`` with the subject's identifiers, and anyone's address or phone number, replaced.

    Each identifier is found in any case, URL-encoded or JSON-escaped; each word of a name
    or of an address's local part (three letters or more) on its own too; a phone number
    with any separators. Anything shaped like an email address becomes ``[email redacted]``
    and anything shaped like an international phone number (``+`` and 7 to 15 digits)
    ``[phone redacted]``. Use it on any message that may leave the connector (errors, logs,
    evidence); Lethe's command line scrubs what operators type with it too
    (``lethe/free_text.py``), so both sides remove the same things. ``any_address=False``
    replaces only the subject's identifiers, and leaves other people's addresses and numbers
    alone (an operator signing with their own).
    """
    if subject is not None:
        for pattern in _patterns(subject):
            text = pattern.sub("[redacted]", text)
    if not any_address:
        return text
    return _ANY_PHONE.sub("[phone redacted]", _ANY_EMAIL.sub("[email redacted]", text))
