"""Holds, the retention sweeper and crypto-shredding, end to end: the real worker, activities,
connectors and SQLite ledger, on time-skipping servers of their own (the sweep abandons its
children, which stops the test server from skipping time afterwards: tests/support/clock.py).
"Forty days later" is a second server, started and moved 40 days on before any sweep. Auto
time-skipping is off, so the servers' clocks (the sweep's "today") move only when told to.

The issue's acceptance line: a hold on one system yields ``Retained`` there and erasure
elsewhere; releasing the hold and running the sweeper erases that system too, with the new
outcome in the same request's record. And: every ``retained`` row in the ledger has a legal
basis and a date.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import worker as worker_module
from ledger import (
    Ledger,
    LedgerError,
    LegalHolds,
    ProofLog,
    TreeHeadSigner,
)
from lethe.demo.systems import SUBJECT, check_bystanders, seed_demo_systems
from lethe.intake import submit_request
from lethe.keys import Keyring
from lethe.pseudonym import Pseudonymizer
from lethe.runtime import load_registry, open_ledger
from lethe.settings import Settings, SystemConfig, TemporalSettings, build_connectors
from lethe.sweeper import run_sweep_once
from tests.support import tripwire
from tests.support.clock import own_time_skipping_env
from tests.support.portal import portal_verification, preverified_draft
from vocabulary import LEGAL_BASES
from workflows import ErasurePolicy, ErasureWorkflow

SIGNING_KEY = Ed25519PrivateKey.generate()

pytestmark = [pytest.mark.slow]

FAST = ErasurePolicy(retry_initial_seconds=1, retry_max_interval_seconds=2, attempt_limit=2)


async def assert_every_retention_is_justified(ledger: Ledger) -> int:
    """Read the stored rows themselves (no ORM): basis from the vocabulary, text, one date."""
    async with ledger.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT legal_basis, basis_note, retained_until, review_on "
                    "FROM system_outcomes WHERE outcome = 'retained' "
                    "UNION ALL SELECT legal_basis, basis_note, retained_until, review_on "
                    "FROM retained_exceptions"
                )
            )
        ).all()
        kinds = {r[0] for r in (await conn.execute(sa.text("SELECT outcome FROM system_outcomes")))}
    assert {"retained", "erased"} <= kinds  # a mixed run, or this proves nothing
    for basis, note, until, review in rows:
        assert basis in LEGAL_BASES, basis
        assert note and note.strip()
        assert (until is None) != (review is None), (basis, until, review)
    return len(rows)


def subscribed(demo_root: Path, email: str) -> int:
    with sqlite3.connect(demo_root / "newsletter.db") as conn:
        found = conn.execute("SELECT count(*) FROM subscribers WHERE email = ?", (email,))
        return int(found.fetchone()[0])


async def test_hold_release_sweep_and_shred(keys: Keyring, tmp_path: Path, task_queue: str) -> None:
    demo = seed_demo_systems(tmp_path / "systems")
    systems = {
        **demo.systems,
        # A held system whose connector fails the test if it is ever called.
        "archive": SystemConfig("archive", "tests.support.tripwire:TripwireConnector", {}),
    }
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        temporal=TemporalSettings(task_queue=task_queue),
        systems=systems,
        verification=portal_verification(),
    )
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(settings.systems, load_registry())
    ref = Pseudonymizer(keys.pseudonym).subject_ref(SUBJECT.email)
    now = datetime.now(UTC)
    today = now.date()
    holds = LegalHolds(ledger)
    newsletter_hold = await holds.place(
        subject_ref=ref,
        legal_basis="legal-hold",
        reason="litigation hold, case 2026-17",
        systems=["newsletter"],
        retained_until=None,
        review_on=today + timedelta(days=90),
        placed_by="operator:counsel",
        at=now,
    )
    await holds.place(
        subject_ref=ref,
        legal_basis="gdpr-17-3-e",
        reason="claim pending",
        systems=["archive"],
        retained_until=today + timedelta(days=365),
        review_on=None,
        placed_by="operator:counsel",
        at=now,
    )
    tripwire.CALLS.clear()
    try:
        async with (
            own_time_skipping_env(keys, auto_skip=False) as env,
            worker_module.build_worker(
                env.client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=SIGNING_KEY,
            ),
        ):
            client = env.client

            async def erase(email: str, chosen: list[str] | None = None) -> str:
                draft = preverified_draft(settings, email, chosen)
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                await client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id).result()
                return done.request_id

            rid = await erase(SUBJECT.email)
            other = await erase("zoe@example.net", ["forum", "newsletter"])

            # -- round 0: held systems retained, the rest erased --------------------------
            first = {o.system: o for o in await ledger.outcomes(rid)}
            assert {k: o.outcome for k, o in first.items()} == {
                "forum": "erased",
                "crm": "retained",
                "newsletter": "retained",
                "backups": "retained",
                "archive": "retained",
            }
            news = first["newsletter"]
            assert (news.legal_basis, news.review_on, news.connector) == (
                "legal-hold",
                today + timedelta(days=90),
                "",
            )
            assert news.evidence["hold_id"] == newsletter_hold.hold_id
            assert first["archive"].legal_basis == "gdpr-17-3-e"
            assert first["archive"].retained_until == today + timedelta(days=365)
            assert first["crm"].legal_basis == "gdpr-17-3-b"
            assert tripwire.CALLS == []
            assert subscribed(demo.root, SUBJECT.email) == 1  # the newsletter was not touched
            rec = await ledger.require_request(rid)
            answered = rec.completed_at
            assert rec.status == "completed_with_exceptions" and answered is not None

            # Nothing is due yet: the sweep starts nothing and shreds nothing.
            idle = await run_sweep_once(client, settings, wait=True)
            assert idle.result.started == () and idle.result.shredded == ()

            # -- release the hold, run the sweeper: round 1 of the same request -----------
            released = await holds.release(
                newsletter_hold.hold_id,
                released_by="operator:counsel",
                reason="case settled",
                at=datetime.now(UTC),
            )
            assert [(e.request_id, e.system) for e in released.now_due] == [(rid, "newsletter")]
            swept = await run_sweep_once(client, settings, wait=True)
            assert [(s.request_id, s.system, s.round, s.trigger) for s in swept.result.started] == [
                (rid, "newsletter", 1, "hold_released")
            ]
            assert list(swept.finished.values()) == ["erased"]

            rows = [(o.system, o.round, o.outcome) for o in await ledger.outcomes(rid)]
            assert ("newsletter", 0, "retained") in rows and ("newsletter", 1, "erased") in rows
            assert subscribed(demo.root, SUBJECT.email) == 0
            assert check_bystanders(demo)[1] == []  # every subject row gone, nobody else's
            exceptions = {(e.system, e.state) for e in await ledger.exceptions(rid)}
            assert ("newsletter", "resolved") in exceptions
            assert {("crm", "open"), ("backups", "open"), ("archive", "open")} <= exceptions
            kinds = [e.kind for e in await ledger.events(rid)]
            for kind in (
                "hold_applied",
                "hold_released",
                "round_started",
                "exception_resolved",
                "status_after_round",
            ):
                assert kind in kinds, kind
            rec = await ledger.require_request(rid)
            assert rec.status == "completed_with_exceptions"  # crm, backups, archive still kept
            assert rec.completed_at == answered
            assert tripwire.CALLS == []
            await assert_every_retention_is_justified(ledger)

            # The round is sealed like the first pass: its receipt is in the proof log, and
            # the whole log (both passes, both requests) still verifies under one key.
            proof = ProofLog(ledger, TreeHeadSigner(SIGNING_KEY))
            rounds = {(leaf.system, leaf.round) for leaf in await proof.leaves_of(rid)}
            assert ("newsletter", 0) in rounds and ("newsletter", 1) in rounds
            assert (await proof.verify([SIGNING_KEY.public_key()])).ok

        # -- forty days later: the backups have rotated; finished requests are shredded ----
        for copy in (demo.root / "backups").iterdir():
            if SUBJECT.email.encode() in copy.read_bytes().lower():
                copy.unlink()
        async with own_time_skipping_env(keys, auto_skip=False) as env:
            await env.sleep(timedelta(days=40))
            async with worker_module.build_worker(
                env.client,
                task_queue=task_queue,
                ledger=ledger,
                connectors=connectors,
                signing_key=SIGNING_KEY,
            ):
                later = await run_sweep_once(env.client, settings, wait=True)
        assert [(s.system, s.round, s.trigger) for s in later.result.started] == [
            ("backups", 1, "retention_expired")
        ]
        assert list(later.finished.values()) == ["not_found"]
        assert later.result.shredded == (other,)

        backups = [e.state for e in await ledger.exceptions(rid) if e.system == "backups"]
        assert backups == ["resolved"]
        with pytest.raises(LedgerError, match="shredded"):
            await ledger.read_identifiers(other)
        assert {o.outcome for o in await ledger.outcomes(other)} == {"not_found"}
        assert "identifiers_shredded" in [e.kind for e in await ledger.events(other)]
        assert (await ledger.read_identifiers(rid))[1]["email"] == SUBJECT.email  # still needed
        assert tripwire.CALLS == []
        assert await assert_every_retention_is_justified(ledger) >= 8
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
