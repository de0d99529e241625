"""The whole proof log checked against its signed heads, and certificates handed out earlier
checked against the log as it is now (``lethe audit verify --log``).

A certificate's signed head must be one the log still grows from: a log cut back or rewritten
since the certificate was issued fails. A certificate that verifies may still no longer show
everything: when a later round (a retry, a backup replay) sealed more receipts of its request,
it is *superseded*, and a new one should be issued. A log with nothing in it is not called
verified: nothing was checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import make_url

from ledger import LogCheck, ProofLog, TreeHead
from ledger.proof import key_fingerprint

from ..certificates import check_certificate_file
from ..errors import ConfigError, LetheError
from ..keys import load_signing_key
from ..runtime import Reading

__all__ = ["LogVerification", "signing_key_of", "superseded_receipts", "verify_log"]


def signing_key_of(cert: Mapping[str, Any], keys: Sequence[Ed25519PublicKey]) -> Ed25519PublicKey:
    """The given key that signed the certificate's head (else the first, which will fail)."""
    wanted = (cert.get("tree_head") or {}).get("key_fingerprint")
    return next((k for k in keys if key_fingerprint(k) == wanted), keys[0])


def superseded_receipts(cert: Mapping[str, Any], leaves: Sequence[int]) -> list[int]:
    """Of ``leaves`` (what the log holds now for the certificate's request), those the
    certificate does not show: receipts sealed after it was issued."""
    shown = {e["leaf_index"] for e in cert["receipts"]}
    return [i for i in leaves if i not in shown]


@dataclass(frozen=True)
class LogVerification:
    check: LogCheck
    #: One report per certificate given: its check, the file, and ``newer_receipts``.
    certificates: list[dict[str, Any]]
    keys: list[Ed25519PublicKey]
    #: Checked against this machine's own signing key, no key being given: whoever can
    #: rewrite the log can replace that key too.
    own_key: bool

    @property
    def certificate_problems(self) -> list[str]:
        return [
            f"certificate {Path(r['file']).name}: {p}"
            for r in self.certificates
            for p in r["problems"]
        ]

    @property
    def ok(self) -> bool:
        return self.check.ok and not self.certificate_problems


async def verify_log(
    reading: Reading,
    keys: Sequence[Ed25519PublicKey],
    certificates: Sequence[tuple[Path, Mapping[str, Any]]] = (),
) -> LogVerification:
    """Recompute the log from the ledger and check every head against ``keys`` (none given:
    this machine's signing key), and each certificate (its file and its content) against it."""
    used = list(keys)
    if not used:
        try:
            used.append(load_signing_key(reading.settings.home, create=False).public_key())
        except ConfigError as exc:
            raise LetheError(f"no public key to check against: give --public-key ({exc})") from None
    log = ProofLog(reading.ledger)
    heads, reports = [], []
    for path, cert in certificates:
        found = check_certificate_file(path, signing_key_of(cert, used))
        report = {**found.to_dict(), "file": str(path), "newer_receipts": []}
        reports.append(report)
        if not found.ok or found.request_id is None:
            continue
        heads.append((f"certificate {path.name}", TreeHead.from_dict(cert["tree_head"])))
        newer = superseded_receipts(
            cert, [x.leaf_index for x in await log.leaves_of(found.request_id)]
        )
        report["newer_receipts"] = newer
        if newer:
            report["notes"].append(
                f"superseded: the log holds {len(newer)} receipts of "
                f"{found.request_id} this certificate does not show (leaves "
                f"{', '.join(map(str, newer))}): issue a new one"
            )
    check = await log.verify(used, heads)
    if check.ok and check.receipts == 0 and check.heads == 0:
        # Nothing was checked: "verified" would be the wrong word for it.
        where = make_url(reading.settings.database_url).render_as_string(hide_password=True)
        check.add(None, f"the proof log is empty: nothing was ever sealed in {where}")
    return LogVerification(check, reports, used, own_key=not keys)
