"""How a moment is written: ISO 8601 for machines (``--json``, exports, certificates), minutes
in UTC for people (status lines, tables, the certificate's page).

Every moment Lethe stores is UTC. Here, at the bottom, so that the command line, the
certificates and the ledger's ``Next:`` lines (which the alerts carry) write a moment alike.
"""

from __future__ import annotations

from datetime import date, datetime

__all__ = ["iso", "stamp_when", "when"]


def iso(value: date | datetime | None) -> str | None:
    """``value`` in ISO 8601, or None (JSON's ``null``) when there is none."""
    return value.isoformat() if value is not None else None


def when(value: datetime | None, *, missing: str = "—") -> str:
    """A moment as operators read it: ``2026-01-31 12:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else missing


def stamp_when(stamp: str | None, *, seconds: bool = False, missing: str = "—") -> str:
    """An ISO stamp as a certificate or a tree head carries it (``2026-01-31T12:00:00.123Z``)
    read as ``2026-01-31 12:00 UTC`` (with ``seconds``: ``12:00:00``). A stamp without a
    time (a date) is given back as it is."""
    if not stamp:
        return missing
    if "T" not in stamp:
        return stamp
    return f"{stamp[:10]} {stamp[11 : 19 if seconds else 16]} UTC"
