"""Sealing, certificates and the whole-log check, against a plain ledger write.

Baseline: recording one status change (one short transaction). Sealing a request adds its
receipts, a signed tree head and an event in one transaction under the append lock; a
certificate reads the log's leaf hashes to build inclusion proofs; ``verify --log``
recomputes every leaf and head.
"""

from __future__ import annotations

import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import (
    Ledger,
    ProofLog,
    SubjectVault,
    TreeHeadSigner,
    create_ledger_engine,
    upgrade_schema,
)
from tests.bench import Bench
from tests.support.requests import NOW, finished_request


async def run(bench: Bench) -> None:
    n = bench.scaled(1000)
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}")
        await upgrade_schema(engine)
        ledger = Ledger(engine, SubjectVault(secrets.token_bytes(32)))
        log = ProofLog(ledger, TreeHeadSigner(key))
        try:
            ids = [f"er-{i:08d}" for i in range(n)]
            for rid in ids:
                await finished_request(ledger, rid)
            base = "record a status change (baseline)"
            await bench.measure(
                base,
                lambda: ledger.set_status(ids[0], "completed", at=NOW, actor="bench"),
                repeat=50,
            )
            pending = iter(ids)
            # Seal all but the last 100 in bulk, so the measured seals append to a large log.
            for _ in range(max(0, n - 100)):
                await log.seal(next(pending), at=datetime.now(UTC))
            await bench.measure(
                "seal a request (3 receipts + signed head)",
                lambda: log.seal(next(pending), at=datetime.now(UTC)),
                repeat=min(50, n // 2),
                baseline=base,
            )
            head = await log.newest_head()
            bench.notes.append(f"proof log of {head.tree_size if head else 0:,} receipts, SQLite")
            await bench.measure(
                "certificate for one request",
                lambda: log.certificate(ids[1], issued_at=NOW),
                repeat=5,
                baseline=base,
            )
            await bench.measure(
                "verify --log (whole log)",
                lambda: log.verify([key.public_key()]),
                repeat=3,
                baseline=base,
            )
        finally:
            await ledger.dispose()
