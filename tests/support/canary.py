"""Canary identifiers and a scanner that finds them in plain text and common encodings."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus


@dataclass(frozen=True)
class Canary:
    email: str
    name: str
    #: An identifier of another kind, in neither the address nor the name.
    username: str = ""

    @classmethod
    def new(cls) -> Canary:
        tag = uuid.uuid4().hex[:10]
        # A non-ASCII name, so that JSON's \\u escapes and UTF-8 are exercised too.
        return cls(
            email=f"canary.{tag}@example.org",
            name=f"Zoë Kanarie{tag}",
            username=f"vogel_{uuid.uuid4().hex[:10]}",
        )

    def values(self) -> list[str]:
        return [v for v in (self.email, self.name, self.name.split()[-1], self.username) if v]


def _base64_cores(value: bytes) -> list[bytes]:
    """The part of base64(prefix + value) that does not depend on the prefix or what
    follows, for the three ways ``value`` can be aligned inside a longer encoded blob."""
    cores = []
    for k in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * k + value)
            start = (4 * k + 2) // 3
            end = (8 * (k + len(value))) // 6
            core = encoded[start:end]
            if len(core) >= 8:
                cores.append(core)
    return cores


def forms(value: str) -> list[tuple[str, bytes]]:
    """``value`` in every form a careless system might store it in (case folded where the
    form is case-insensitive)."""
    out: list[tuple[str, bytes]] = []
    for variant in {value, value.lower(), value.upper()}:
        raw = variant.encode("utf-8")
        out += [("base64", core) for core in _base64_cores(raw)]
        out += [("hex", raw.hex().encode()), ("HEX", raw.hex().upper().encode())]
    out += [
        ("plain", value.lower().encode("utf-8")),
        ("url-encoded", quote(value).lower().encode()),
        ("url-encoded (+)", quote_plus(value).lower().encode()),
        ("json \\u-escaped", value.encode("ascii", "backslashreplace").lower()),
        ("utf-16", value.lower().encode("utf-16-le")),
        ("latin-1", value.lower().encode("latin-1", "ignore")),
    ]
    return out


def find(canaries: Iterable[Canary], where: str, blob: bytes | str) -> list[str]:
    """Every canary form found in ``blob``, as ``where: form of value``."""
    data = blob.encode("utf-8") if isinstance(blob, str) else blob
    folded = data.lower()
    hits = []
    for canary in canaries:
        for value in canary.values():
            for form, needle in forms(value):
                haystack = data if form in {"base64", "hex", "HEX"} else folded
                if needle and needle in haystack:
                    hits.append(f"{where}: {form} of {value!r}")
    return hits


def names_mailbox(text: str, local: str = "ada") -> bool:
    """Whether ``text`` holds an address of the mailbox ``local`` (``ada@…``, or ``ada%40…`` in
    a URL). Not ``local`` alone: "ada" is three hex digits, and random hex ids contain it."""
    lowered = text.lower()
    return f"{local}@" in lowered or f"{local}%40" in lowered
