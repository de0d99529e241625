"""docs/verifying-certificates.md: its stand-alone script checks Lethe's certificates.

The script is an auditor's way to check a certificate without running the audited
organisation's software; this test keeps the page true to what Lethe writes, and shows the
script catches what `lethe audit verify` catches.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import ErasureRounds, Ledger, OutcomeEntry, ProofLog, TreeHeadSigner
from ledger.proof import public_key_pem
from lethe.certificates import write_certificate
from tests.support.requests import ERASED, NOW, finished_request

DOC = Path(__file__).parent.parent / "docs" / "verifying-certificates.md"

# Evidence with a float, a small one, and text that needs escapes: canonical JSON's corners.
ODD = OutcomeEntry(
    "retained",
    retained_counts={"rows.retained": 2},
    evidence={"ratio": 0.25, "tiny": 1e-7, "note": 'Zoë "quoted"\n\u0001'},
    legal_basis="gdpr-17-3-b",
    basis_note="kept under tax law",
    retained_until=date(2036, 1, 31),
)


def script(tmp_path: Path) -> Path:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    path = tmp_path / "check_certificate.py"
    path.write_text(code)
    return path


def run(checker: Path, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(checker), str(cert), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cert.parent,
    )


async def test_the_documented_script_checks_lethe_s_certificates(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    log = ProofLog(sqlite_ledger, TreeHeadSigner(key))
    await finished_request(sqlite_ledger, "er-a", {"crm": ODD, "forum": ERASED})
    await finished_request(sqlite_ledger, "er-b")
    await log.seal("er-a", at=NOW)
    await log.seal("er-b", at=NOW)
    await sqlite_ledger.begin_system(
        "er-a", "crm", 1, connector="sql", connector_version="1", at=NOW
    )
    await sqlite_ledger.finish_system("er-a", "crm", 1, ERASED, at=NOW)
    await ErasureRounds(sqlite_ledger).close_round("er-a", "crm", 1, at=NOW)
    await log.seal("er-a", at=NOW)
    cert = await log.certificate("er-a", issued_at=NOW)
    pem = tmp_path / "log.pem"
    pem.write_text(public_key_pem(key.public_key()))
    checker = script(tmp_path)

    for name in ("a.json", "a.html"):
        write_certificate(cert, tmp_path / name)
        done = run(checker, tmp_path / name, pem)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("OK: er-a as of 2026-01-31T12:00:00.123000Z")
        assert "(6 events)" in done.stdout  # received, 2 systems, status; round 1: 2 more

    def fails(edit: dict[str, object], why: str) -> None:
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(edit))
        done = run(checker, path, pem)
        assert done.returncode == 1 and why in done.stdout, done.stdout + done.stderr

    receipts = json.loads(json.dumps(cert["receipts"]))
    receipts[0]["receipt"]["evidence"]["ratio"] = 0.5
    fails({**cert, "receipts": receipts}, "receipt 0 is not in the signed tree")
    # Events: the receipt names no one; who and why are in the opening beside it, which must
    # open its commitment. An edited event receipt, or an edited opening, fails.
    receipts = json.loads(json.dumps(cert["receipts"]))
    n, event = next(
        (n, e) for n, e in enumerate(receipts) if e["receipt"]["kind"] == "request_event"
    )
    assert "actor" not in event["receipt"] and event["opening"]["actor"] == "cli"
    event["receipt"]["event"] = "verified"
    fails({**cert, "receipts": receipts}, f"receipt {event['leaf_index']} is not in the signed")
    for name, value in (
        ("actor", "someone-else"),
        ("detail", {"reason": "x"}),
        ("salt", "ab" * 16),
    ):
        receipts = json.loads(json.dumps(cert["receipts"]))
        receipts[n]["opening"][name] = value
        fails(
            {**cert, "receipts": receipts},
            f"receipt {receipts[n]['leaf_index']}'s opening does not match its commitment",
        )
    # An opening left out (the text purged) is not a failure: the receipt still proves.
    receipts = json.loads(json.dumps(cert["receipts"]))
    del receipts[n]["opening"]
    path = tmp_path / "purged.json"
    path.write_text(json.dumps({**cert, "receipts": receipts}))
    assert run(checker, path, pem).returncode == 0
    fails({**cert, "receipts": [*cert["receipts"], cert["receipts"][n]]}, "sealed twice")
    fails({**cert, "request": {**cert["request"], "deadline": "missed"}}, "deadline verdict")
    head = {**cert["tree_head"], "tree_size": cert["tree_head"]["tree_size"] + 1}
    fails({**cert, "tree_head": head}, "signature does not verify")
    other = Ed25519PrivateKey.generate().public_key()
    pem.write_text(public_key_pem(other))
    fails(cert, "signed by another key")
