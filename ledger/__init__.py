"""The evidence: requests, outcomes, retained exceptions and the subject vault.

The ledger imports nothing of Temporal: the CLI and auditors read it without a cluster.
"""

from .database import create_ledger_engine, schema_is_current, upgrade_schema
from .holds import HoldRelease, LegalHolds, choose_hold
from .models import (
    Base,
    ErasureRequestRecord,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)
from .pseudonym import Pseudonymizer
from .referrals import INSTRUCTIONS, ControllerReferrals
from .retention_models import ControllerReferral, ErasureRound, HoldRetention, LegalHold
from .retention_rules import LEGAL_BASES, RetentionRuleError, check_retention
from .rounds import DueSystem, ErasureRounds
from .shredding import FINISHED_STATUSES, VaultShredding
from .store import Ledger, LedgerError, OutcomeEntry, SystemStart
from .vault import SealedSubject, SubjectVault, VaultError

__all__ = [
    "FINISHED_STATUSES",
    "INSTRUCTIONS",
    "LEGAL_BASES",
    "Base",
    "ControllerReferral",
    "ControllerReferrals",
    "DueSystem",
    "ErasureRequestRecord",
    "ErasureRound",
    "ErasureRounds",
    "HoldRelease",
    "HoldRetention",
    "Ledger",
    "LedgerError",
    "LegalHold",
    "LegalHolds",
    "OutcomeEntry",
    "Pseudonymizer",
    "RequestEvent",
    "RetainedException",
    "RetentionRuleError",
    "SealedSubject",
    "SubjectVault",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "SystemStart",
    "VaultError",
    "VaultShredding",
    "check_retention",
    "choose_hold",
    "create_ledger_engine",
    "schema_is_current",
    "upgrade_schema",
]
