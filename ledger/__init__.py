"""The evidence: requests, outcomes, retained exceptions and the subject vault.

The ledger imports nothing of Temporal: the CLI and auditors read it without a cluster.
"""

from .database import create_ledger_engine, schema_is_current, upgrade_schema
from .deadlines import DEADLINE_EVENTS, DeadlineRecords, DeadlineTerms, RequestClock
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
from .verification import (
    CODE_OUTCOMES,
    CodeCheckResult,
    IdentityRecords,
    PortalAssertionRecord,
    VerificationCode,
)

__all__ = [
    "CODE_OUTCOMES",
    "DEADLINE_EVENTS",
    "Base",
    "CodeCheckResult",
    "DeadlineRecords",
    "DeadlineTerms",
    "ErasureRequestRecord",
    "IdentityRecords",
    "Ledger",
    "LedgerError",
    "OutcomeEntry",
    "PortalAssertionRecord",
    "Pseudonymizer",
    "RequestClock",
    "RequestEvent",
    "RetainedException",
    "SealedSubject",
    "SubjectVault",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "SystemStart",
    "VaultError",
    "VerificationCode",
    "create_ledger_engine",
    "schema_is_current",
    "upgrade_schema",
]
