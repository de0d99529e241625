"""Logging that cannot leak identifiers.

structlog renders Lethe's own events; the standard library's records (Temporal's worker,
SQLAlchemy, Alembic, and the Temporal core's own lines, forwarded into ``temporalio.core`` by
``lethe.temporal``) pass through the same redaction and are rendered by structlog's
``ProcessorFormatter`` with the same renderer: in JSON mode, every line is one JSON object.
Anything shaped like an email address becomes ``[email redacted]``, in event values, plain
messages and tracebacks alike: an exception is rendered to plain text (no local variables)
and scrubbed before it is written.

Libraries that log the values bound to a query never log below INFO, whatever the level:
aiosqlite's DEBUG lines carry every parameter (names, usernames, the vault's wrapped keys),
which SQLAlchemy's ``hide_parameters`` cannot reach.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

from connectors import redact

__all__ = ["QUIET_LOGGERS", "configure_logging", "redact_event"]

#: Loggers whose DEBUG lines print the parameters of every query, or every request's URL and
#: body (an object key names the person; a hashed key would pass redaction): never below INFO.
QUIET_LOGGERS = ("aiosqlite", "botocore", "boto3", "s3transfer", "urllib3")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def _exception_text(exc_info: Any) -> str | None:
    """A traceback as plain text, or None. No local variables: only the frames and the
    message, which the caller scrubs like any other text."""
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is None:
        return None
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


def redact_event(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub every value of the event, its traceback included."""
    text = _exception_text(event.pop("exc_info", None))
    if text is not None:
        event["exception"] = text
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
    """Scrubs the message and the traceback (which the formatter would append unscrubbed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        trace = _exception_text(record.exc_info) if record.exc_info else record.exc_text
        if trace:
            text += "\n" + trace
        if record.stack_info:
            text += "\n" + record.stack_info
        record.msg = redact(text)
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
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
    handler.addFilter(_RedactingFilter())  # scrubs the record's text before it is rendered
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # a library's warning is a log line too, not raw stderr
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
