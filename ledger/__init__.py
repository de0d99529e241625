"""The evidence: requests, outcomes, retained exceptions and the subject vault.

The ledger imports nothing of Temporal: the CLI and auditors read it without a cluster.
"""

from .database import (
    MIGRATION_LOCK_KEY,
    SchemaNewerThanCode,
    create_ledger_engine,
    known_revisions,
    schema_is_current,
    schema_revisions,
    stored_revisions,
    upgrade_schema,
)
from .deadlines import DEADLINE_EVENTS, DeadlineRecords, DeadlineTerms
from .holds import HoldRelease, LegalHolds, choose_hold
from .identifiers import add_identifiers
from .journal import ConnectorJournals
from .key_ids import KEY_PURPOSES, KeyIdMismatch, check_key_ids, key_ids_of, key_recorded_at
from .proof import (
    MISSING_IDENTIFIERS,
    CertificateCheck,
    LogCheck,
    LogProblem,
    ProofError,
    ProofLog,
    ProofLogError,
    SealedReceipts,
    TreeHead,
    TreeHeadSigner,
    check_certificate,
    missing_identifiers,
)
from .referrals import INSTRUCTIONS, ControllerReferrals
from .request_status import RequestStatuses
from .retention_rules import RetentionRuleError, check_retention
from .rounds import DueSystem, ErasureRounds
from .shredding import VaultShredding
from .store import Ledger, LedgerError, OpenRequestExists, OutcomeEntry, SystemStart
from .tables import (
    Base,
    ConnectorJournalEntry,
    ControllerReferral,
    ErasureRequestRecord,
    ErasureRound,
    HoldRetention,
    LedgerKeyRecord,
    LegalHold,
    PortalAssertionRecord,
    ProofLeaf,
    ProofNode,
    RequestClock,
    RequestEvent,
    RetainedException,
    SignedTreeHeadRecord,
    SubjectVaultEntry,
    SystemOutcomeRecord,
    VerificationCode,
)
from .vault import SealedSubject, SubjectVault, VaultError
from .verification import CODE_OUTCOMES, CodeCheckResult, IdentityRecords

__all__ = [
    "CODE_OUTCOMES",
    "DEADLINE_EVENTS",
    "INSTRUCTIONS",
    "KEY_PURPOSES",
    "MIGRATION_LOCK_KEY",
    "MISSING_IDENTIFIERS",
    "Base",
    "CertificateCheck",
    "CodeCheckResult",
    "ConnectorJournalEntry",
    "ConnectorJournals",
    "ControllerReferral",
    "ControllerReferrals",
    "DeadlineRecords",
    "DeadlineTerms",
    "DueSystem",
    "ErasureRequestRecord",
    "ErasureRound",
    "ErasureRounds",
    "HoldRelease",
    "HoldRetention",
    "IdentityRecords",
    "KeyIdMismatch",
    "Ledger",
    "LedgerError",
    "LedgerKeyRecord",
    "LegalHold",
    "LegalHolds",
    "LogCheck",
    "LogProblem",
    "OpenRequestExists",
    "OutcomeEntry",
    "PortalAssertionRecord",
    "ProofError",
    "ProofLeaf",
    "ProofLog",
    "ProofLogError",
    "ProofNode",
    "RequestClock",
    "RequestEvent",
    "RequestStatuses",
    "RetainedException",
    "RetentionRuleError",
    "SchemaNewerThanCode",
    "SealedReceipts",
    "SealedSubject",
    "SignedTreeHeadRecord",
    "SubjectVault",
    "SubjectVaultEntry",
    "SystemOutcomeRecord",
    "SystemStart",
    "TreeHead",
    "TreeHeadSigner",
    "VaultError",
    "VaultShredding",
    "VerificationCode",
    "add_identifiers",
    "check_certificate",
    "check_key_ids",
    "check_retention",
    "choose_hold",
    "create_ledger_engine",
    "key_ids_of",
    "key_recorded_at",
    "known_revisions",
    "missing_identifiers",
    "schema_is_current",
    "schema_revisions",
    "stored_revisions",
    "upgrade_schema",
]
