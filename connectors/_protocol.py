"""The contract between Lethe and a system that holds personal data.

A connector is a class with a ``kind`` (its registered name), a ``version``, the
``capabilities`` it claims, an ``Options`` model (validated when configuration loads) and the
async methods below. It is constructed once per configured system: ``Cls(name, options)``.

Connectors are idempotent per request id: erasing twice is safe and must not touch anyone else.
They import nothing of Lethe's runtime (no Temporal, no ledger): they are plain async Python.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ._outcomes import Outcome, Residual
from ._subject import Subject

__all__ = ["BaseConnector", "Capability", "Connector", "ConnectorOptions"]


class Capability(StrEnum):
    ERASE = "erase"  # erase(subject, request_id) does the work
    VERIFY = "verify"  # verify(subject) can tell what still matches afterwards
    PLAN = "plan"  # plan(subject) gives a dry run (later protocol version)
    ASYNC = "async"  # erase may return Pending; status(ticket) finishes it (later)


class ConnectorOptions(BaseModel):
    """Base of every connector's options. Unknown keys are errors, so typos fail at start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int = Field(
        default=1000,
        ge=1,
        description="Refuse an erase that would delete or change more items than this.",
    )


@runtime_checkable
class Connector(Protocol):
    kind: ClassVar[str]
    version: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    Options: ClassVar[type[ConnectorOptions]]

    name: str

    async def check(self) -> None:
        """Raise if the system is unreachable or the credentials are wrong."""

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        """Erase the subject. Idempotent per ``request_id``; never touches anyone else."""

    async def verify(self, subject: Subject) -> Residual:
        """After an erase: what still matches the subject (excluding declared retention)."""

    async def aclose(self) -> None:
        """Release connections. Called once when the worker stops."""


class BaseConnector:
    """Convenience base: stores ``name`` and validated ``options``; no-op ``aclose``."""

    kind: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE})
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init__(self, name: str, options: ConnectorOptions) -> None:
        self.name = name
        self.options = options

    async def check(self) -> None:
        return None

    async def verify(self, subject: Subject) -> Residual:
        raise NotImplementedError(f"connector {self.kind!r} does not claim the verify capability")

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} system={self.name!r}>"
