"""Errors the user can act on. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations

__all__ = ["ConfigError", "LetheError", "NotFoundError", "UnreachableError"]


class LetheError(Exception):
    """A problem with what the user asked or configured; never a bug."""

    exit_code = 1


class ConfigError(LetheError):
    """The settings or lethe.toml are wrong."""

    exit_code = 78  # EX_CONFIG


class NotFoundError(LetheError):
    """The request, system or record asked for does not exist."""

    exit_code = 4


class UnreachableError(LetheError):
    """A server Lethe needs (Temporal, the ledger database) cannot be reached."""

    exit_code = 69  # EX_UNAVAILABLE
