"""The contract between Lethe and a system that holds personal data.

A connector is a class with a ``kind`` (its registered name), a ``version``, the
``capabilities`` it claims, an ``Options`` model (validated when configuration loads) and the
async methods below. It is constructed once per configured system: ``Cls(name, options)``.
Subclass :class:`BaseConnector` with your options model as its parameter, and the options
are typed wherever you read them::

    class AcmeConnector(BaseConnector[AcmeOptions]):   # Options = AcmeOptions, self.options too
        ...

    async with AcmeConnector("crm", options) as acme:  # closed (aclose) on the way out
        await acme.erase(subject, "er-…")

    check()                    reachability and credentials; raise if the system cannot be used
    erase(subject, request_id) do the work; return an outcome value          (every connector)
    verify(subject)            after an erase: what still matches            (Capability.VERIFY)
    plan(subject)              dry run: what an erase would do, with counts  (Capability.PLAN)
    status(ticket)             finish a ``Pending`` erase                    (Capability.ASYNC)

Rules every connector keeps (the conformance kit in ``connectors.testing`` checks each):

* **Only the subject.** Identifiers are bound parameters or escaped, never query text; an
  empty identifier matches nothing; a wildcard in an identifier is a literal character.
* **Blast radius.** An erase that would delete or change more than ``options.max_items``
  items changes nothing and raises :class:`BlastRadiusExceeded` (see :func:`guard_blast_radius`).
* **Erasing twice** (the same idempotency key) changes nothing and replays what the first
  call did, from a receipt kept with the change (or in the receipt journal,
  ``connectors._journal``, where the system has no transaction); the exact rule is in
  ``connectors._idempotency`` (:func:`repeat_problem`).
* **Failures are exceptions**: :class:`TransientError` is retried (honouring ``retry_after``),
  :class:`PermanentError` is not. Messages never carry identifiers.

Connectors import nothing of Lethe's runtime (no Temporal, no ledger): they are plain async
Python, testable without a cluster.
"""

from __future__ import annotations

from enum import StrEnum
from types import TracebackType
from typing import (
    Any,
    ClassVar,
    Generic,
    Protocol,
    Self,
    TypeVar,
    get_args,
    get_origin,
    runtime_checkable,
)

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from ._errors import BlastRadiusExceeded
from ._journal import MemoryJournal, ReceiptJournal, current_journal
from ._outcomes import Outcome, Residual
from ._plan import Plan
from ._subject import Subject

__all__ = [
    "CAPABILITY_METHODS",
    "DEFAULT_MAX_ITEMS",
    "BaseConnector",
    "Capability",
    "Connector",
    "ConnectorOptions",
    "OptionsT",
    "guard_blast_radius",
]

#: The blast-radius limit when a system's configuration does not set one.
DEFAULT_MAX_ITEMS = 1000


class Capability(StrEnum):
    ERASE = "erase"  # erase(subject, request_id) does the work
    VERIFY = "verify"  # verify(subject) can tell what still matches afterwards
    PLAN = "plan"  # plan(subject) gives a dry run with the counts erase would report
    ASYNC = "async"  # erase may return Pending; status(ticket) finishes it


#: The method each capability obliges a connector to implement.
CAPABILITY_METHODS: dict[Capability, str] = {
    Capability.ERASE: "erase",
    Capability.VERIFY: "verify",
    Capability.PLAN: "plan",
    Capability.ASYNC: "status",
}


class ConnectorOptions(BaseModel):
    """Base of every connector's options. Unknown keys are errors, so typos fail at start-up.

    ``max_items`` is the blast-radius limit: the most items (rows, keys, objects) one erase may
    delete or change. Row-based systems may spell it ``max_rows``; both mean the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    max_items: int = Field(
        default=DEFAULT_MAX_ITEMS,
        ge=1,
        validation_alias=AliasChoices("max_items", "max_rows"),
        description="Refuse an erase that would delete or change more items than this.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_limit(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_items" in data and "max_rows" in data:
            raise ValueError("give max_items or max_rows, not both (they are the same limit)")
        return data

    @property
    def max_rows(self) -> int:
        """``max_items`` under the name row-based systems use."""
        return self.max_items


def guard_blast_radius(
    would_touch: int, options: ConnectorOptions, *, where: str, unit: str = "items"
) -> None:
    """Raise :class:`BlastRadiusExceeded` if an erase would touch more than the limit.

    Call it after counting and before changing anything; call it again with the running total
    while changing, inside the transaction, so rows that arrived in between cannot slip by.
    """
    limit = options.max_items
    if would_touch > limit:
        raise BlastRadiusExceeded(would_touch=would_touch, limit=limit, where=where, unit=unit)


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
        """Erase the subject. ``request_id`` is the erase's idempotency key (the request id,
        ``…/round-N`` in a later round: ``connectors.erase_key``); a repeat with the same key
        changes nothing and replays what the first call did (see module)."""

    async def verify(self, subject: Subject) -> Residual:
        """After an erase: what still matches the subject (excluding declared retention)."""

    async def plan(self, subject: Subject) -> Plan:
        """Dry run: what ``erase`` would do now, changing nothing."""

    async def status(self, ticket: str) -> Outcome:
        """For ``Pending`` outcomes: the outcome now (``Pending`` again while unfinished)."""

    async def aclose(self) -> None:
        """Release connections. Called once when the worker stops."""


#: A connector's options model (``BaseConnector[AcmeOptions]``).
OptionsT = TypeVar("OptionsT", bound=ConnectorOptions)


class BaseConnector(Generic[OptionsT]):
    """Convenience base, generic over its options: stores ``name`` and the validated
    ``options`` (typed as the parameter: no casts); no-op ``check``/``aclose``; ``async with``
    closes it.

    ``Options`` (what the configuration is validated with) is the parameter unless the class
    says otherwise: a preset that validates options of its own and hands its base the options
    the base runs with (``phpbb`` over ``sql``) sets ``Options`` itself. Methods of capabilities
    the class does not claim raise ``NotImplementedError``; the registry refuses a class that
    claims a capability without overriding its method.
    """

    kind: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE})
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init__(self, name: str, options: OptionsT) -> None:
        self.name = name
        self.options: OptionsT = options

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in vars(cls):
            return
        for base in vars(cls).get("__orig_bases__", ()):
            if get_origin(base) is BaseConnector:
                (model,) = get_args(base)
                if isinstance(model, type) and issubclass(model, ConnectorOptions):
                    cls.Options = model

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def journal(self) -> ReceiptJournal:
        """Where this call keeps its receipt when the system cannot keep it with the change
        (``connectors._journal``): Lethe's ledger, inside Lethe; the kit's, under test;
        otherwise one of this instance's own, in memory."""
        installed = current_journal()
        if installed is not None:
            return installed
        own = self.__dict__.get("_own_journal")
        if own is None:
            own = self.__dict__["_own_journal"] = MemoryJournal()
        assert isinstance(own, MemoryJournal)
        return own

    async def check(self) -> None:
        return None

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        raise NotImplementedError(f"connector {self.kind!r} does not implement erase")

    async def verify(self, subject: Subject) -> Residual:
        raise NotImplementedError(f"connector {self.kind!r} does not claim the verify capability")

    async def plan(self, subject: Subject) -> Plan:
        raise NotImplementedError(f"connector {self.kind!r} does not claim the plan capability")

    async def status(self, ticket: str) -> Outcome:
        raise NotImplementedError(f"connector {self.kind!r} does not claim the async capability")

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} system={self.name!r}>"
