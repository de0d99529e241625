"""The proof log: every receipt a leaf of an append-only Merkle tree whose heads Lethe signs.

What an auditor reads to check Lethe's proof offline, with only the log's public key (no
database, no clock, no Temporal), in the order the bytes are made:

    receipts.py     what a leaf holds: a system's outcome, the request's state, one event
    canonical.py    the bytes a leaf hash is taken over (canonical JSON), and the salted
                    commitment to an event's who and why
    merkle.py       the tree of RFC 6962/9162: leaf and node hashes, inclusion and
                    consistency proofs and their verification
    signing.py      signed tree heads (RFC 6962 §3.5, Ed25519), key fingerprints, the
                    signed commitment to each receipt's index
    certificate.py  the check of a certificate of erasure (``lethe audit verify``)

and what runs inside Lethe, against the ledger:

    log.py          appending: sealing a request's receipts under a new signed head, and
                    handing out certificates (``ProofLog``)
    check.py        the whole-log check (``lethe audit verify --log``): recompute the tree
                    from the stored receipts and compare it with every signed head
"""

from .canonical import (
    EVENT_SALT_BYTES,
    ProofError,
    canonical_json,
    event_commitment,
    event_opening_problem,
    parse_receipt,
    read_json,
    receipt_leaf_hash,
)
from .certificate import CERTIFICATE_FORMAT, CertificateCheck, check_certificate, deadline_state
from .check import LogCheck, LogProblem
from .log import ProofLog, ProofLogError, SealedReceipts
from .merkle import leaf_hash
from .receipts import MISSING_IDENTIFIERS, missing_identifiers
from .signing import (
    TreeHead,
    TreeHeadSigner,
    key_fingerprint,
    load_public_key,
    public_key_pem,
    receipt_commitment,
    tree_head_message,
    verify_receipt_commitment,
)

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
