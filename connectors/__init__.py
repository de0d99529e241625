"""The connector SDK: how Lethe talks to a system that holds personal data.

Write a connector by subclassing :class:`BaseConnector` (or satisfying :class:`Connector`),
returning outcome values from ``erase`` and raising :class:`TransientError` or
:class:`PermanentError` for failures; find the subject by the matching policy of each
identifier kind (:class:`IdentifierMatch`, ``connectors/_matching.py``); prove it with the
conformance kit in ``connectors.testing``. A repeated erase replays what the first did: keep a
receipt with the change (``connectors._idempotency``), or in the receipt journal where the
system has no transaction (``connectors._journal``, ``receipt_of``/``replayed``). See
``docs/writing-a-connector.md``.
"""

# The law a request is made under and the reasons data may be kept belong to Lethe's shared
# vocabulary (the ledger checks them too); connector authors find them here as well.
from vocabulary import JURISDICTIONS, LegalBasis, basis_fits, describe_basis

from ._errors import (
    BlastRadiusExceeded,
    ConnectorConfigError,
    ConnectorError,
    PermanentError,
    TransientError,
    parse_retry_after,
)
from ._idempotency import REPLAYED_FROM_RECEIPT, erase_key, repeat_problem
from ._journal import MemoryJournal, ReceiptJournal, current_journal, using_journal
from ._matching import (
    IDENTIFYING_KINDS,
    MATCHES,
    POLICIES,
    IdentifierMatch,
    IdentifierRefused,
    KindPolicy,
    Match,
    check_identifier,
    normal_form,
    resolve_match,
)
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
    CAPABILITY_METHODS,
    DEFAULT_MAX_ITEMS,
    BaseConnector,
    Capability,
    Connector,
    ConnectorOptions,
    guard_blast_radius,
)
from ._receipt import receipt_of, replayed
from ._registry import ENTRY_POINT_GROUP, ConnectorRegistry, format_validation_error
from ._subject import IDENTIFIER_KINDS, Subject, normalise_email, redact

__all__ = [
    "CAPABILITY_METHODS",
    "DEFAULT_MAX_ITEMS",
    "ENTRY_POINT_GROUP",
    "IDENTIFIER_KINDS",
    "IDENTIFYING_KINDS",
    "JURISDICTIONS",
    "MATCHES",
    "POLICIES",
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
    "IdentifierRefused",
    "KindPolicy",
    "LegalBasis",
    "Match",
    "MemoryJournal",
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
    "check_identifier",
    "current_journal",
    "describe_basis",
    "erase_key",
    "format_validation_error",
    "guard_blast_radius",
    "normal_form",
    "normalise_email",
    "parse_retry_after",
    "receipt_of",
    "redact",
    "repeat_problem",
    "replayed",
    "resolve_match",
    "using_journal",
]
