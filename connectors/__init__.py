"""The connector SDK: how Lethe talks to a system that holds personal data.

Write a connector by subclassing :class:`BaseConnector` (or satisfying :class:`Connector`),
returning outcome values from ``erase`` and raising :class:`TransientError` or
:class:`PermanentError` for failures. See ``docs/writing-a-connector.md``.
"""

from ._errors import (
    BlastRadiusExceeded,
    ConnectorConfigError,
    ConnectorError,
    PermanentError,
    TransientError,
)
from ._legal_basis import LegalBasis, describe_basis
from ._outcomes import Erased, NotFound, Outcome, Pending, Referred, Residual, Retained
from ._protocol import BaseConnector, Capability, Connector, ConnectorOptions
from ._registry import ENTRY_POINT_GROUP, ConnectorRegistry, format_validation_error
from ._subject import IDENTIFIER_KINDS, Subject, normalise_email, redact

__all__ = [
    "ENTRY_POINT_GROUP",
    "IDENTIFIER_KINDS",
    "BaseConnector",
    "BlastRadiusExceeded",
    "Capability",
    "Connector",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorOptions",
    "ConnectorRegistry",
    "Erased",
    "LegalBasis",
    "NotFound",
    "Outcome",
    "Pending",
    "PermanentError",
    "Referred",
    "Residual",
    "Retained",
    "Subject",
    "TransientError",
    "describe_basis",
    "format_validation_error",
    "normalise_email",
    "redact",
]
