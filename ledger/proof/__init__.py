"""The proof log: every receipt a leaf of an append-only Merkle tree whose heads Lethe signs.

What an auditor reads to check Lethe's proof offline, with only the log's public key (no
database, no clock, no Temporal), in the order the bytes are made:

    receipts.py     what a leaf holds: a system's outcome, the request's state, one event
    canonical.py    the bytes a leaf hash is taken over (canonical JSON), the salted
                    commitment to an event's who and why, signed tree heads, and the check
                    of a certificate of erasure (``lethe audit verify``)
    merkle.py       the tree of RFC 6962/9162: leaf and node hashes, inclusion and
                    consistency proofs and their verification

and what runs inside Lethe, against the ledger:

    log.py          appending: sealing a request's receipts under a new signed head, and
                    handing out certificates (``ProofLog``)
    check.py        the whole-log check (``lethe audit verify --log``): recompute the tree
                    from the stored receipts and compare it with every signed head
"""

from .canonical import (
    CERTIFICATE_FORMAT,
    EVENT_SALT_BYTES,
    CertificateCheck,
    ProofError,
    TreeHead,
    TreeHeadSigner,
    canonical_json,
    check_certificate,
    deadline_state,
    event_commitment,
    event_opening_problem,
    key_fingerprint,
    load_public_key,
    parse_receipt,
    public_key_pem,
    read_json,
    receipt_commitment,
    receipt_leaf_hash,
    tree_head_message,
    verify_receipt_commitment,
)
from .check import LogCheck, LogProblem
from .log import ProofLog, ProofLogError, SealedReceipts
from .merkle import leaf_hash
from .receipts import MISSING_IDENTIFIERS, missing_identifiers

__all__ = [
    "CERTIFICATE_FORMAT",
    "EVENT_SALT_BYTES",
    "MISSING_IDENTIFIERS",
    "CertificateCheck",
    "LogCheck",
    "LogProblem",
    "ProofError",
    "ProofLog",
    "ProofLogError",
    "SealedReceipts",
    "TreeHead",
    "TreeHeadSigner",
    "canonical_json",
    "check_certificate",
    "deadline_state",
    "event_commitment",
    "event_opening_problem",
    "key_fingerprint",
    "leaf_hash",
    "load_public_key",
    "missing_identifiers",
    "parse_receipt",
    "public_key_pem",
    "read_json",
    "receipt_commitment",
    "receipt_leaf_hash",
    "tree_head_message",
    "verify_receipt_commitment",
]
