"""Logging that cannot leak identifiers.

structlog renders Lethe's own events; the standard library's records (Temporal's worker,
SQLAlchemy, Alembic) pass through the same redaction. Anything shaped like an email address
becomes ``[email redacted]``, in event values and in plain messages alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from connectors import redact

__all__ = ["configure_logging", "redact_event"]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_event(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub every value of the event."""
    for key, value in list(event.items()):
        event[key] = _scrub(value)
    return event


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is now; never raises.

    A log line that cannot be written must not fail the erasure that tried to write it.
    """

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger_factory(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # same rule as above: logging trouble never becomes the caller's trouble


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Set up structlog and the stdlib root logger. ``LETHE_LOG_LEVEL``, ``LETHE_LOG_FORMAT``
    (``console`` or ``json``) override the defaults."""
    level = (level or os.environ.get("LETHE_LOG_LEVEL") or "WARNING").upper()
    fmt = fmt or os.environ.get("LETHE_LOG_FORMAT") or "console"
    numeric = logging.getLevelName(level)
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger_factory,
        cache_logger_on_first_use=False,
    )
    handler = _CurrentStderrHandler()
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
