"""Failures a connector raises. Outcomes are values; these are exceptions.

    ConnectorError                 base: something went wrong talking to a system
    ├── TransientError             worth retrying (timeouts, 5xx, 429); may carry retry_after
    └── PermanentError             retrying cannot help (bad credentials, schema mismatch)
        ├── BlastRadiusExceeded    the erase would touch more than the configured maximum
        └── ConnectorConfigError   the system's options are wrong (raised at load time)

Messages must never contain the subject's identifiers: say *what* failed, not *whose*.
The activity layer scrubs messages again before they reach Temporal or the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = [
    "BlastRadiusExceeded",
    "ConnectorConfigError",
    "ConnectorError",
    "MissingExtra",
    "PermanentError",
    "TransientError",
    "parse_retry_after",
]


class ConnectorError(Exception):
    """Base class for every failure a connector reports."""


class TransientError(ConnectorError):
    """A failure that a later attempt may not meet (timeouts, 5xx, rate limits).

    ``retry_after`` is honoured as the delay before the next attempt (a 429's Retry-After).
    """

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """A failure that retrying cannot fix. The system's outcome becomes ``failed``."""


class BlastRadiusExceeded(PermanentError):
    """The erase would touch more items than the connector's configured maximum.

    Nothing was changed. This usually means a bad identifier or a wrong table map.
    """

    def __init__(
        self, *, would_touch: int, limit: int, where: str = "", unit: str = "items"
    ) -> None:
        place = f" in {where}" if where else ""
        super().__init__(
            f"refused: erase would touch {would_touch} {unit}{place}, more than the limit of "
            f"{limit} (max_items/max_rows); nothing was changed (check the identifier and the "
            "configuration, or raise the limit deliberately)"
        )
        self.would_touch = would_touch
        self.limit = limit


class ConnectorConfigError(PermanentError):
    """A system's options do not validate. Raised when the configuration is loaded."""


#: The distribution whose extras install the optional drivers (the command is ``lethe``).
DISTRIBUTION = "lethe-erasure"


class MissingExtra(ConnectorConfigError):
    """A built-in connector's client library is an optional extra that is not installed.
    Raised when its module is imported; the registry keeps the kind and says this, in one
    line, only to a configuration that uses it."""

    def __init__(self, kind: str, module: str, extra: str) -> None:
        super().__init__(
            f"the {kind} connector needs the {module} package, which is not installed:"
            f" pip install '{DISTRIBUTION}[{extra}]'"
        )
        self.kind = kind


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """An HTTP ``Retry-After`` header as the delay for :class:`TransientError`, or None.

    The header is either whole seconds (``120``) or an HTTP date
    (``Wed, 21 Oct 2026 07:28:00 GMT``); a date in the past means "now" (zero). Anything else,
    a missing header included, gives None: Lethe then backs off by its own retry policy. ::

        wait = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError(f"{self.name}: rate limited (429)", retry_after=wait)
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT
    return max(when - (now or datetime.now(UTC)), timedelta(0))
