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

from datetime import timedelta

__all__ = [
    "BlastRadiusExceeded",
    "ConnectorConfigError",
    "ConnectorError",
    "PermanentError",
    "TransientError",
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
