"""The evidence: requests, outcomes, retained exceptions and the subject vault.

The ledger imports nothing of Temporal: the CLI and auditors read it without a cluster.
"""

from .database import create_ledger_engine, schema_is_current, upgrade_schema
from .models import (
    Base,
    ErasureRequestRecord,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)
from .pseudonym import Pseudonymizer
from .store import Ledger, LedgerError, OutcomeEntry, SystemStart
from .vault import SealedSubject, SubjectVault, VaultError

__all__ = [
    "Base",
    "ErasureRequestRecord",
    "Ledger",
    "LedgerError",
    "OutcomeEntry",
    "Pseudonymizer",
    "RequestEvent",
    "RetainedException",
    "SealedSubject",
    "SubjectVault",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "SystemStart",
    "VaultError",
    "create_ledger_engine",
    "schema_is_current",
    "upgrade_schema",
]
