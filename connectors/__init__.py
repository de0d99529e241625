"""The connector SDK: how Lethe talks to a system that holds personal data.

What a connector author uses, and nothing else (``__all__``); the modules behind it are
private (``connectors/_*.py``), and Lethe's own rooms import the rest from them. Write a
connector by subclassing :class:`BaseConnector` with your options model
(``BaseConnector[AcmeOptions]``), returning outcome values from ``erase`` and raising
:class:`TransientError` or :class:`PermanentError` for failures; find the subject by the
matching policy of each identifier kind (:class:`IdentifierMatch`, ``connectors/_matching.py``);
prove it with the conformance kit in ``connectors.testing``. A repeated erase replays what the
first did: keep a receipt with the change, or in ``self.journal`` where the system has no
transaction (:func:`receipt_of`, :func:`replayed`; the rule is :func:`repeat_problem`). See
``docs/writing-a-connector.md``.

    the contract      BaseConnector, Connector, ConnectorOptions, Capability,
                      guard_blast_radius, ConnectorRegistry (a harness builds with it)
    the person        Subject, IDENTIFIER_KINDS, IDENTIFYING_KINDS, IdentifierMatch,
                      normal_form, redact
    the answers       Outcome: Erased, NotFound, NotSearched, Pending, Referred, Retained;
                      Residual, Plan
    the failures      ConnectorError, TransientError, PermanentError, BlastRadiusExceeded,
                      ConnectorConfigError, parse_retry_after
    erasing twice     REPLAYED_FROM_RECEIPT, receipt_of, replayed, repeat_problem, erase_key,
                      ReceiptJournal
    the law           LegalBasis, JURISDICTIONS, basis_fits (from Lethe's ``vocabulary``)
"""

# The names load when first asked for (PEP 562): a command that only reads the ledger, or a
# log line that only redacts, does not import the connector protocol, pydantic models and
# outcomes it never uses. ``from connectors import X`` works as before.
import importlib as _importlib
import typing as _typing

# The law a request is made under and the reasons data may be kept belong to Lethe's shared
# vocabulary (the ledger checks them too); connector authors find them here as well.
from vocabulary import JURISDICTIONS, LegalBasis, basis_fits

if _typing.TYPE_CHECKING:
    from ._errors import (
        BlastRadiusExceeded,
        ConnectorConfigError,
        ConnectorError,
        PermanentError,
        TransientError,
        parse_retry_after,
    )
    from ._idempotency import REPLAYED_FROM_RECEIPT, erase_key, repeat_problem
    from ._journal import ReceiptJournal
    from ._matching import IDENTIFYING_KINDS, IdentifierMatch, normal_form
    from ._outcomes import (
        Erased,
        NotFound,
        NotSearched,
        Outcome,
        Pending,
        Referred,
        Residual,
        Retained,
    )
    from ._plan import Plan
    from ._protocol import (
        BaseConnector,
        Capability,
        Connector,
        ConnectorOptions,
        guard_blast_radius,
    )
    from ._receipt import receipt_of, replayed
    from ._registry import ConnectorRegistry
    from ._subject import IDENTIFIER_KINDS, Subject, redact

__all__ = [
    "IDENTIFIER_KINDS",
    "IDENTIFYING_KINDS",
    "JURISDICTIONS",
    "REPLAYED_FROM_RECEIPT",
    "BaseConnector",
    "BlastRadiusExceeded",
    "Capability",
    "Connector",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorOptions",
    "ConnectorRegistry",
    "Erased",
    "IdentifierMatch",
    "LegalBasis",
    "NotFound",
    "NotSearched",
    "Outcome",
    "Pending",
    "PermanentError",
    "Plan",
    "ReceiptJournal",
    "Referred",
    "Residual",
    "Retained",
    "Subject",
    "TransientError",
    "basis_fits",
    "erase_key",
    "guard_blast_radius",
    "normal_form",
    "parse_retry_after",
    "receipt_of",
    "redact",
    "repeat_problem",
    "replayed",
]

_WHERE = {
    "BlastRadiusExceeded": "_errors",
    "ConnectorConfigError": "_errors",
    "ConnectorError": "_errors",
    "PermanentError": "_errors",
    "TransientError": "_errors",
    "parse_retry_after": "_errors",
    "REPLAYED_FROM_RECEIPT": "_idempotency",
    "erase_key": "_idempotency",
    "repeat_problem": "_idempotency",
    "ReceiptJournal": "_journal",
    "IDENTIFYING_KINDS": "_matching",
    "IdentifierMatch": "_matching",
    "normal_form": "_matching",
    "Erased": "_outcomes",
    "NotFound": "_outcomes",
    "NotSearched": "_outcomes",
    "Outcome": "_outcomes",
    "Pending": "_outcomes",
    "Referred": "_outcomes",
    "Residual": "_outcomes",
    "Retained": "_outcomes",
    "Plan": "_plan",
    "BaseConnector": "_protocol",
    "Capability": "_protocol",
    "Connector": "_protocol",
    "ConnectorOptions": "_protocol",
    "guard_blast_radius": "_protocol",
    "receipt_of": "_receipt",
    "replayed": "_receipt",
    "ConnectorRegistry": "_registry",
    "IDENTIFIER_KINDS": "_subject",
    "Subject": "_subject",
    "redact": "_subject",
}


def __getattr__(name: str) -> _typing.Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
