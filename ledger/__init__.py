"""The evidence: requests, outcomes, retained exceptions and the subject vault.

The ledger imports nothing of Temporal: the CLI and auditors read it without a cluster.
"""

from .audit_schema import ProofLeaf, ProofNode, SignedTreeHeadRecord
from .database import create_ledger_engine, schema_is_current, upgrade_schema
from .log_check import LogCheck, LogProblem
from .models import (
    Base,
    ErasureRequestRecord,
    RequestEvent,
    RetainedException,
    SubjectVaultEntry,
    SystemOutcomeRecord,
)
from .proof import CertificateCheck, ProofError, TreeHead, TreeHeadSigner, check_certificate
from .proof_log import ProofLog, ProofLogError, SealedReceipts
from .pseudonym import Pseudonymizer
from .store import Ledger, LedgerError, OutcomeEntry, SystemStart
from .vault import SealedSubject, SubjectVault, VaultError

__all__ = [
    "Base",
    "CertificateCheck",
    "ErasureRequestRecord",
    "Ledger",
    "LedgerError",
    "LogCheck",
    "LogProblem",
    "OutcomeEntry",
    "ProofError",
    "ProofLeaf",
    "ProofLog",
    "ProofLogError",
    "ProofNode",
    "Pseudonymizer",
    "RequestEvent",
    "RetainedException",
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
    "check_certificate",
    "create_ledger_engine",
    "schema_is_current",
    "upgrade_schema",
]
