"""The proof log in the ledger: sealing, certificates, concurrent appends, tamper detection."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger.proof.log as proof_log_module
from ledger import (
    ErasureRounds,
    Ledger,
    OutcomeEntry,
    ProofLeaf,
    ProofLog,
    ProofLogError,
    ProofNode,
    SignedTreeHeadRecord,
    SubjectVault,
    TreeHeadSigner,
    check_certificate,
    create_ledger_engine,
    upgrade_schema,
)
from ledger.proof.merkle import MerkleTree, leaf_hash
from ledger.tables import (
    ErasureRequestRecord,
    RequestEvent,
    RetainedException,
    SystemOutcomeRecord,
)
from lethe.keys import Keyring
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.support.requests import ERASED, NOW, RETAINED, finished_request

FAILED = OutcomeEntry("failed", error="connection refused")

#: Receipts of a request from finished_request, in log order: crm, forum, the request's state,
#: then its four events (received, system_retained, system_erased, completed_with_exceptions).
PER_REQUEST = 7
CRM, FORUM, STATE, RECEIVED, RETAINED_EVENT, ERASED_EVENT, STATUS_EVENT = range(PER_REQUEST)

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def proof_log(ledger: Ledger) -> ProofLog:
    return ProofLog(ledger, TreeHeadSigner(KEY))


async def test_sealing_appends_each_final_outcome_once(ledger: Ledger, proof_log: ProofLog) -> None:
    await finished_request(ledger, "er-a")
    first = await proof_log.seal("er-a", at=NOW)
    # crm, forum, the request's own receipt, then its 4 events (received, 2 systems, status)
    assert first.leaf_indices == tuple(range(PER_REQUEST))
    assert first.head is not None and first.head.tree_size == PER_REQUEST
    again = await proof_log.seal("er-a", at=NOW)
    assert again.leaf_indices == () and again.head == first.head
    leaves = await proof_log.leaves_of("er-a")
    assert [(x.kind, x.system) for x in leaves] == [
        ("system_outcome", "crm"),
        ("system_outcome", "forum"),
        ("request_status", None),
        *[("request_event", None)] * 4,
    ]
    assert [json.loads(x.receipt).get("event") for x in leaves[STATE + 1 :]] == [
        "received",
        "system_retained",
        "system_erased",
        "completed_with_exceptions",
    ]
    events = [e for e in await ledger.events("er-a") if e.kind == "sealed"]
    assert len(events) == 1 and events[0].detail["leaf_indices"] == list(range(PER_REQUEST))
    assert await proof_log.unsealed_events("er-a") == []  # the seal's own event is not sealed

    # A later round (the sweeper, a retry) adds an outcome: only that receipt is appended.
    await ledger.begin_system("er-a", "crm", 1, connector="sql", connector_version="1", at=NOW)
    await ledger.finish_system("er-a", "crm", 1, OutcomeEntry("not_found"), at=NOW)
    later = await proof_log.seal("er-a", at=NOW + timedelta(days=1))
    # the outcome of round 1 and its event (system_not_found)
    assert later.leaf_indices == (PER_REQUEST, PER_REQUEST + 1)
    assert later.head is not None and later.head.tree_size == PER_REQUEST + 2
    check = await proof_log.verify([KEY.public_key()])
    assert check.ok, check.problems
    assert check.receipts == PER_REQUEST + 2 and check.heads == 2


async def test_pending_outcomes_and_unknown_requests(ledger: Ledger, proof_log: ProofLog) -> None:
    await finished_request(
        ledger, "er-p", {"crm": OutcomeEntry("pending", ticket="t-1")}, status="erasing"
    )
    nothing = await proof_log.seal("er-p", at=NOW)
    assert nothing.leaf_indices == () and nothing.head is None
    with pytest.raises(ProofLogError, match="not been sealed"):
        await proof_log.certificate("er-p", issued_at=NOW)
    with pytest.raises(Exception, match="no erasure request"):
        await proof_log.seal("er-nope", at=NOW)
    with pytest.raises(ProofLogError, match="without the signing key"):
        await ProofLog(ledger).seal("er-p", at=NOW)


async def test_a_refusal_is_sealed_and_certified_too(ledger: Ledger, proof_log: ProofLog) -> None:
    # Identity never verified: no system touched, but the answer itself is on the record.
    await finished_request(ledger, "er-r", {}, status="rejected")
    sealed = await proof_log.seal("er-r", at=NOW)
    assert sealed.leaf_indices == (0, 1, 2)  # its state, then its events: received, rejected
    leaf, *events = await proof_log.leaves_of("er-r")
    assert leaf.kind == "request_status" and json.loads(leaf.receipt)["status"] == "rejected"
    assert [json.loads(e.receipt)["event"] for e in events] == ["received", "rejected"]
    cert = json.loads(json.dumps(await proof_log.certificate("er-r", issued_at=NOW)))
    check = check_certificate(cert, KEY.public_key())
    assert check.ok and check.receipts == 3 and check.events == 2, check.problems
    assert cert["request"]["status"] == "rejected" and cert["request"]["deadline"] == "met"


async def test_certificate_checks_with_the_public_key_alone(
    ledger: Ledger, proof_log: ProofLog
) -> None:
    await finished_request(ledger, "er-a")
    await finished_request(ledger, "er-b", took=timedelta(days=40))
    await proof_log.seal("er-a", at=NOW)
    await proof_log.seal("er-b", at=NOW)
    cert = json.loads(json.dumps(await proof_log.certificate("er-a", issued_at=NOW)))
    assert cert["request"]["deadline"] == "met"
    assert cert["tree_head"]["tree_size"] == 2 * PER_REQUEST
    check = check_certificate(cert, KEY.public_key())
    assert check.ok and check.receipts == PER_REQUEST and check.events == 4, check.problems
    late = await proof_log.certificate("er-b", issued_at=NOW)
    assert late["request"]["deadline"] == "missed"
    assert "ada@example.org" not in json.dumps(cert)


@asynccontextmanager
async def two_workers(backend: str, tmp_path: Path, keys: Keyring) -> AsyncIterator[list[Ledger]]:
    """Two ledgers on one database, as two worker processes would have."""
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            url, kwargs = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", {}
        else:
            schema = await stack.enter_async_context(postgres_schema())
            url = POSTGRES_URL
            kwargs = {"connect_args": {"server_settings": {"search_path": schema}}}
        ledgers = [
            Ledger(create_ledger_engine(url, **kwargs), SubjectVault(keys.vault)) for _ in range(2)
        ]
        for led in ledgers:
            stack.push_async_callback(led.dispose)
        await upgrade_schema(ledgers[0].engine)
        yield ledgers


@pytest.mark.slow  # a few seconds
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_concurrent_workers_never_collide(
    backend: str, tmp_path: Path, keys: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (two engines, many connections) seal at once: the lock serialises them,
    so no append needs a second attempt, and the log stays one consistent sequence."""
    monkeypatch.setattr(proof_log_module, "_APPEND_ATTEMPTS", 1)
    async with two_workers(backend, tmp_path, keys) as (first, second):
        ids = [f"er-{i:02d}" for i in range(16)]
        for rid in ids:
            await finished_request(first, rid)
        logs = [ProofLog(first, TreeHeadSigner(KEY)), ProofLog(second, TreeHeadSigner(KEY))]
        results = await asyncio.gather(
            *(logs[i % 2].seal(rid, at=NOW) for i, rid in enumerate(ids)),
            *(logs[(i + 1) % 2].seal(rid, at=NOW) for i, rid in enumerate(ids)),
        )
        indices = sorted(i for r in results for i in r.leaf_indices)
        assert indices == list(range(PER_REQUEST * len(ids)))  # each receipt once, no gap
        check = await logs[0].verify([KEY.public_key()])
        assert check.ok and check.heads == 16, check.problems
        assert check.receipts == PER_REQUEST * len(ids) and check.unsealed_events == 0


# -- tampering ---------------------------------------------------------------------------------


def leaf_of(request: int, offset: int) -> int:
    """The leaf index of ``offset`` (CRM ... STATUS_EVENT) of the request-th request (er-a,
    er-b, er-c) sealed by sealed_log."""
    return PER_REQUEST * request + offset


async def sealed_log(ledger: Ledger) -> ProofLog:
    log = ProofLog(ledger, TreeHeadSigner(KEY))
    for rid in ("er-a", "er-b", "er-c"):
        await finished_request(ledger, rid)
        await log.seal(rid, at=NOW)
    assert (await log.verify([KEY.public_key()])).ok
    return log


async def execute(ledger: Ledger, *statements: sa.Executable) -> None:
    async with ledger.engine.begin() as conn:
        for stmt in statements:
            await conn.execute(stmt)


async def receipt_at(ledger: Ledger, index: int) -> str:
    async with ledger.session() as s:
        leaf = await s.get(ProofLeaf, index)
        assert leaf is not None
        return leaf.receipt


def set_leaf(index: int, **values: object) -> sa.Executable:
    return sa.update(ProofLeaf).where(ProofLeaf.leaf_index == index).values(**values)


async def edit_one_byte(ledger: Ledger) -> int:
    i = leaf_of(1, FORUM)
    text = await receipt_at(ledger, i)
    at = text.index('"contacts.deleted":1') + len('"contacts.deleted":')
    await execute(ledger, set_leaf(i, receipt=text[:at] + "7" + text[at + 1 :]))
    return i


async def edit_and_rehash(ledger: Ledger) -> int:
    """A careful forger also updates the stored hash; the signed commitment still differs."""
    i = leaf_of(1, CRM)
    text = (await receipt_at(ledger, i)).replace('"retained"', '"erased"', 1)
    await execute(ledger, set_leaf(i, receipt=text, leaf_hash=leaf_hash(text.encode()).hex()))
    return i


async def delete_one(ledger: Ledger) -> int:
    i = leaf_of(1, STATE)
    await execute(ledger, sa.delete(ProofLeaf).where(ProofLeaf.leaf_index == i))
    return i


async def delete_and_renumber(ledger: Ledger) -> int:
    await execute(
        ledger,
        sa.delete(ProofLeaf).where(ProofLeaf.leaf_index == 2),
        sa.update(ProofLeaf)
        .where(ProofLeaf.leaf_index >= 3)
        .values(leaf_index=ProofLeaf.leaf_index + 1000),
    )
    await execute(
        ledger,
        sa.update(ProofLeaf)
        .where(ProofLeaf.leaf_index >= 1000)
        .values(leaf_index=ProofLeaf.leaf_index - 1001),
    )
    return 2


async def swap_two(ledger: Ledger) -> int:
    """Swap the contents of two rows: each index now holds the other's receipt."""
    async with ledger.session() as s:
        i, j = leaf_of(0, FORUM), leaf_of(2, CRM)
        a, b = await s.get(ProofLeaf, i), await s.get(ProofLeaf, j)
        assert a is not None and b is not None
        cols = ("receipt", "leaf_hash", "commitment", "request_id", "kind", "system", "round")
        va, vb = ({c: getattr(x, c) for c in (*cols, "event_id")} for x in (a, b))
    await execute(ledger, set_leaf(i, **vb), set_leaf(j, **va))
    return i


async def insert_one(ledger: Ledger) -> int:
    """A receipt slipped in at the end, with a commitment signed by someone else's key."""
    text = await receipt_at(ledger, 0)
    forger = TreeHeadSigner(Ed25519PrivateKey.generate())
    h, end = leaf_hash(text.encode()), leaf_of(3, 0)
    await execute(
        ledger,
        sa.insert(ProofLeaf).values(
            leaf_index=end,
            request_id="er-a",
            outcome_id=None,
            kind="system_outcome",
            system="crm",
            round=0,
            receipt=text,
            leaf_hash=h.hex(),
            commitment=base64.b64encode(forger.commit_receipt(end, h)).decode(),
            appended_at=NOW,
        ),
    )
    return end


async def truncate(ledger: Ledger) -> int:
    i = leaf_of(2, FORUM)
    await execute(ledger, sa.delete(ProofLeaf).where(ProofLeaf.leaf_index >= i))
    return i


async def edit_outcome_after_sealing(ledger: Ledger) -> int:
    await execute(
        ledger,
        sa.update(SystemOutcomeRecord)
        .where(SystemOutcomeRecord.request_id == "er-b", SystemOutcomeRecord.system == "forum")
        .values(counts={"contacts.deleted": 9}),
    )
    return leaf_of(1, FORUM)


async def edit_request_after_sealing(ledger: Ledger) -> int:
    """Answered a day earlier than sealed (a late answer made to look on time)."""
    r = ErasureRequestRecord
    earlier = NOW + timedelta(days=1)
    await execute(ledger, sa.update(r).where(r.request_id == "er-b").values(completed_at=earlier))
    return leaf_of(1, STATE)


async def edit_request_status(ledger: Ledger) -> int:
    r = ErasureRequestRecord
    await execute(ledger, sa.update(r).where(r.request_id == "er-c").values(status="completed"))
    return leaf_of(2, STATE)


async def extend_an_exception(ledger: Ledger) -> int:
    """The sweeper reads this date: data kept longer, silently."""
    e = RetainedException
    later = date(2099, 1, 1)
    await execute(ledger, sa.update(e).where(e.request_id == "er-b").values(retained_until=later))
    return leaf_of(1, CRM)


async def close_an_exception(ledger: Ledger) -> int:
    e = RetainedException
    await execute(ledger, sa.update(e).where(e.request_id == "er-a").values(state="resolved"))
    return 0


async def delete_an_exception(ledger: Ledger) -> int:
    e = RetainedException
    await execute(ledger, sa.delete(e).where(e.request_id == "er-c"))
    return leaf_of(2, CRM)


def event_of(request_id: str, kind: str) -> sa.ColumnElement[bool]:
    return sa.and_(RequestEvent.request_id == request_id, RequestEvent.kind == kind)


async def edit_an_event_actor(ledger: Ledger) -> int:
    """Who approved: the operator's name on an event rewritten after sealing."""
    await execute(
        ledger,
        sa.update(RequestEvent).where(event_of("er-b", "received")).values(actor="someone-else"),
    )
    return leaf_of(1, RECEIVED)


async def edit_an_event_detail(ledger: Ledger) -> int:
    """Why: the detail (a reason, a due date) of an event rewritten after sealing."""
    await execute(
        ledger,
        sa.update(RequestEvent)
        .where(event_of("er-c", "completed_with_exceptions"))
        .values(detail={"reason": "approved by the DPO"}),
    )
    return leaf_of(2, STATUS_EVENT)


async def edit_an_event_salt(ledger: Ledger) -> int:
    """The salt that opens an event's commitment replaced (as by someone who re-salted a
    rewritten reason, or to make the event's text unprovable)."""
    await execute(
        ledger,
        sa.update(RequestEvent)
        .where(event_of("er-a", "system_erased"))
        .values(seal_salt="00" * 16),
    )
    return leaf_of(0, ERASED_EVENT)


async def drop_an_event_salt(ledger: Ledger) -> int:
    await execute(
        ledger,
        sa.update(RequestEvent).where(event_of("er-c", "received")).values(seal_salt=None),
    )
    return leaf_of(2, RECEIVED)


async def delete_an_event(ledger: Ledger) -> int:
    await execute(ledger, sa.delete(RequestEvent).where(event_of("er-b", "system_erased")))
    return leaf_of(1, ERASED_EVENT)


async def redate_an_event(ledger: Ledger) -> int:
    """Events reordered: one moved to before the request was received."""
    await execute(
        ledger,
        sa.update(RequestEvent)
        .where(event_of("er-a", "system_retained"))
        .values(at=NOW - timedelta(days=1)),
    )
    return leaf_of(0, RETAINED_EVENT)


@pytest.mark.parametrize(
    "tamper",
    [
        edit_one_byte,
        edit_and_rehash,
        delete_one,
        delete_and_renumber,
        swap_two,
        insert_one,
        truncate,
        edit_outcome_after_sealing,
        edit_request_after_sealing,
        edit_request_status,
        extend_an_exception,
        close_an_exception,
        delete_an_exception,
        edit_an_event_actor,
        edit_an_event_detail,
        edit_an_event_salt,
        drop_an_event_salt,
        delete_an_event,
        redate_an_event,
    ],
)
async def test_tampering_is_detected_at_the_first_bad_index(
    sqlite_ledger: Ledger, tamper: Callable[[Ledger], Awaitable[int]]
) -> None:
    log = await sealed_log(sqlite_ledger)
    bad = await tamper(sqlite_ledger)
    check = await log.verify([KEY.public_key()])
    assert not check.ok
    assert check.first_bad_index == bad, check.problems


async def test_a_later_round_under_way_is_not_tampering(sqlite_ledger: Ledger) -> None:
    """Between a round's outcome and its sealing, the request's row moves ahead of its
    receipts: that is the ledger at work, not an edit."""
    log = await sealed_log(sqlite_ledger)
    rounds = ErasureRounds(sqlite_ledger)
    await sqlite_ledger.begin_system(
        "er-a", "crm", 1, connector="sql", connector_version="1", at=NOW
    )
    await sqlite_ledger.finish_system("er-a", "crm", 1, ERASED, at=NOW)
    await rounds.close_round("er-a", "crm", 1, at=NOW)  # the exception of round 0: resolved
    await rounds.set_status_after_round(
        "er-a", at=NOW + timedelta(days=40), actor="lethe", detail={}
    )
    assert (await log.verify([KEY.public_key()])).ok
    sealed = await log.seal("er-a", at=NOW + timedelta(days=40))
    check = await log.verify([KEY.public_key()])
    assert check.ok, check.problems
    assert check.receipts == 3 * PER_REQUEST + len(sealed.leaf_indices)
    # crm round 1, the request's new state, and the round's events
    leaves = {x.leaf_index: x for x in await log.leaves_of("er-a")}
    kinds = [leaves[i].kind for i in sealed.leaf_indices]
    assert kinds == ["system_outcome", "request_status", *["request_event"] * 3]
    assert [json.loads(leaves[i].receipt)["event"] for i in sealed.leaf_indices[2:]] == [
        "system_erased",
        "exception_resolved",
        "status_after_round",
    ]


async def test_tampering_on_postgresql_too(ledger: Ledger) -> None:
    log = await sealed_log(ledger)
    assert await swap_two(ledger) == 1
    check = await log.verify([KEY.public_key()])
    assert check.first_bad_index == 1


async def test_a_forged_head_and_the_wrong_key_are_reported(sqlite_ledger: Ledger) -> None:
    log = await sealed_log(sqlite_ledger)
    other = Ed25519PrivateKey.generate()
    check = await log.verify([other.public_key()])
    assert not check.ok and check.first_bad_index is None
    assert all("not among the given public keys" in p.message for p in check.problems)
    await execute(
        sqlite_ledger,
        sa.update(SignedTreeHeadRecord)
        .where(SignedTreeHeadRecord.tree_size == 2 * PER_REQUEST)
        .values(timestamp_ms=SignedTreeHeadRecord.timestamp_ms + 1),
    )
    check = await log.verify([KEY.public_key()])
    assert [p.message for p in check.problems] == [
        f"the signature of the head of size {2 * PER_REQUEST} does not verify"
    ]


async def test_a_damaged_subtree_cache_is_caught_not_certified(sqlite_ledger: Ledger) -> None:
    log = await sealed_log(sqlite_ledger)
    await execute(
        sqlite_ledger,
        sa.update(ProofNode).where(ProofNode.level == 2).values(hash="ab" * 32),
    )
    with pytest.raises(ProofLogError, match="does not check"):
        await log.certificate("er-c", issued_at=NOW)
    check = await log.verify([KEY.public_key()])
    assert [p.message for p in check.problems] == [  # 21 leaves: 5 subtrees of 4
        "5 cached subtree hashes differ from the receipts "
        "(certificates drawn from them would not verify)"
    ]
    await execute(sqlite_ledger, sa.delete(ProofNode))
    with pytest.raises(ProofLogError, match="lacks"):
        await log.certificate("er-c", issued_at=NOW)
    missing = await log.verify([KEY.public_key()])
    # 21 leaves: subtrees of 2, 4, 8 and 16 leaves
    assert [p.message for p in missing.problems] == ["18 cached subtree hashes are missing"]


async def test_sealing_refuses_a_log_whose_newest_head_does_not_match(
    sqlite_ledger: Ledger,
) -> None:
    log = await sealed_log(sqlite_ledger)
    await execute(
        sqlite_ledger,
        sa.update(SignedTreeHeadRecord)
        .where(SignedTreeHeadRecord.tree_size == 3 * PER_REQUEST)
        .values(compact_range=[[16, "00" * 32], [4, "11" * 32], [1, "22" * 32]]),
    )
    await finished_request(sqlite_ledger, "er-d")
    with pytest.raises(ProofLogError, match="compact range does not match"):
        await log.seal("er-d", at=NOW)
    await truncate(sqlite_ledger)
    with pytest.raises(ProofLogError, match="run `lethe audit verify --log`"):
        await log.seal("er-d", at=NOW)


async def test_roots_are_those_of_the_rfc_tree_over_the_stored_receipts(
    sqlite_ledger: Ledger,
) -> None:
    log = await sealed_log(sqlite_ledger)
    async with sqlite_ledger.session() as s:
        texts = (await s.scalars(sa.select(ProofLeaf.receipt).order_by("leaf_index"))).all()
        events = (
            await s.scalars(sa.select(RequestEvent).where(RequestEvent.kind == "sealed"))
        ).all()
    head = await log.newest_head()
    assert head is not None
    assert MerkleTree(leaf_hash(t.encode()) for t in texts).root() == head.root_hash
    assert [e.detail["tree_size"] for e in events] == [PER_REQUEST * n for n in (1, 2, 3)]


async def test_a_certificate_cannot_leave_out_a_system(sqlite_ledger: Ledger) -> None:
    """Dropping a system's receipt from a certificate keeps every proof valid; the request
    receipt still names the system, so for a completed request the gap is a failure."""
    log = ProofLog(sqlite_ledger, TreeHeadSigner(KEY))
    await finished_request(sqlite_ledger, "er-a", {"crm": ERASED, "forum": ERASED})
    await finished_request(sqlite_ledger, "er-f", {"crm": RETAINED, "forum": FAILED})
    await finished_request(sqlite_ledger, "er-r", {}, status="rejected")
    for rid in ("er-a", "er-f", "er-r"):
        await log.seal(rid, at=NOW)

    def without_forum(cert: dict[str, Any]) -> dict[str, Any]:
        kept = [e for e in cert["receipts"] if e["receipt"].get("system") != "forum"]
        return {**cert, "receipts": kept}

    whole = await log.certificate("er-a", issued_at=NOW)
    assert check_certificate(whole, KEY.public_key()).ok
    check = check_certificate(without_forum(whole), KEY.public_key())
    assert check.problems == [
        "no receipt for system 'forum' although the request is completed: "
        "the certificate leaves out what that system did"
    ]
    # Partially failed: the summary already says a system failed; the gap is pointed out.
    check = check_certificate(without_forum(await log.certificate("er-f", issued_at=NOW)), None)
    [note] = check.notes
    assert note.startswith("no receipt for system 'forum' in this certificate")
    refused = check_certificate(await log.certificate("er-r", issued_at=NOW), KEY.public_key())
    assert refused.ok and refused.notes == []


async def test_an_event_added_after_sealing_is_not_sealed_yet(sqlite_ledger: Ledger) -> None:
    """Not tampering: a note that names it, and the request's next seal appends it."""
    log = await sealed_log(sqlite_ledger)
    await sqlite_ledger.add_event(
        "er-b", "deadline_extended", at=NOW + timedelta(days=3), actor="op:jo", detail={}
    )
    check = await log.verify([KEY.public_key()])
    assert check.ok, check.problems
    assert check.unsealed_events == 1
    [note] = check.notes
    assert "1 events of 1 requests are not sealed yet (er-b: deadline_extended" in note
    assert [e.kind for e in await log.unsealed_events("er-b")] == ["deadline_extended"]
    sealed = await log.seal("er-b", at=NOW + timedelta(days=3))
    [leaf] = [x for x in await log.leaves_of("er-b") if x.leaf_index in sealed.leaf_indices]
    receipt = json.loads(leaf.receipt)
    assert receipt["event"] == "deadline_extended" and "actor" not in receipt
    again = await log.verify([KEY.public_key()])
    assert again.ok and again.unsealed_events == 0 and not again.notes, again.problems


async def test_a_log_sealed_before_events_were_sealed_still_verifies(
    sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger sealed by an older Lethe has no event receipts: verify notes them as not
    sealed yet, and the request's next seal appends them."""
    log = ProofLog(sqlite_ledger, TreeHeadSigner(KEY))
    await finished_request(sqlite_ledger, "er-old")
    with monkeypatch.context() as m:

        async def no_events(s: Any, request_id: str) -> list[RequestEvent]:
            return []

        m.setattr(proof_log_module, "_sealable_events", no_events)
        old = await log.seal("er-old", at=NOW)
    assert old.leaf_indices == (0, 1, 2)  # crm, forum, the request's state: no events
    check = await log.verify([KEY.public_key()])
    assert check.ok and check.unsealed_events == 4, check.problems
    resealed = await log.seal("er-old", at=NOW + timedelta(days=1))
    assert resealed.leaf_indices == (3, 4, 5, 6)
    check = await log.verify([KEY.public_key()])
    assert check.ok and check.unsealed_events == 0, check.problems
    cert = json.loads(json.dumps(await log.certificate("er-old", issued_at=NOW)))
    assert check_certificate(cert, KEY.public_key()).events == 4


async def test_certificates_carry_the_events_and_catch_an_edited_one(
    sqlite_ledger: Ledger,
) -> None:
    log = await sealed_log(sqlite_ledger)
    cert = json.loads(json.dumps(await log.certificate("er-b", issued_at=NOW)))
    events = [e for e in cert["receipts"] if e["receipt"]["kind"] == "request_event"]
    assert [e["leaf_index"] for e in events] == [leaf_of(1, RECEIVED + n) for n in range(4)]
    assert events[0]["opening"]["actor"] == "cli" and events[0]["receipt"]["event"] == "received"
    check = check_certificate(cert, KEY.public_key())
    assert check.ok and check.events == 4, check.problems
    assert "ada@example.org" not in json.dumps(cert)

    events[0]["receipt"]["event"] = "verified"
    check = check_certificate(cert, KEY.public_key())
    assert check.problems == [
        f"receipt at leaf {leaf_of(1, RECEIVED)}: not in the signed tree (edited, or a wrong proof)"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("actor", "someone-else"), ("detail", {"reason": "approved by the DPO"}), ("salt", "ab" * 16)],
)
async def test_a_certificate_whose_opening_was_edited_fails(
    sqlite_ledger: Ledger, field: str, value: object
) -> None:
    log = await sealed_log(sqlite_ledger)
    cert = json.loads(json.dumps(await log.certificate("er-b", issued_at=NOW)))
    [received] = [e for e in cert["receipts"] if e["receipt"].get("event") == "received"]
    received["opening"][field] = value
    check = check_certificate(cert, KEY.public_key())
    assert check.problems == [
        f"receipt at leaf {leaf_of(1, RECEIVED)}: its opening (who, detail or salt) does not "
        "match its sealed commitment (edited)"
    ]


async def test_a_certificate_without_an_opening_still_proves_the_event(
    sqlite_ledger: Ledger,
) -> None:
    """What a purge of the text would leave: the receipt still proves, the text is gone."""
    log = await sealed_log(sqlite_ledger)
    cert = json.loads(json.dumps(await log.certificate("er-b", issued_at=NOW)))
    [received] = [e for e in cert["receipts"] if e["receipt"].get("event") == "received"]
    del received["opening"]
    check = check_certificate(cert, KEY.public_key())
    assert check.ok and check.events == 4, check.problems
    assert any("are not in this certificate" in n for n in check.notes)


async def test_receipts_name_no_operator_and_hold_no_reason(sqlite_ledger: Ledger) -> None:
    """On a real sealed ledger: the operator's name and reason are in the event and in the
    certificate's opening, never in a stored receipt nor in a certificate's receipts; the
    commitment is SHA-256(salt || canonical {"actor", "detail"}), recomputed here by hand."""
    operator, reason = "Jo Operator <jo@ops.example>", "ticket HR-4411, approved by phone"
    log = ProofLog(sqlite_ledger, TreeHeadSigner(KEY))
    await finished_request(sqlite_ledger, "er-n")
    await sqlite_ledger.add_event(
        "er-n",
        "deadline_extended",
        at=NOW + timedelta(days=1),
        actor=operator,
        detail={"reason": reason, "days": 30},
    )
    await log.seal("er-n", at=NOW + timedelta(days=2))

    async with sqlite_ledger.session() as s:
        leaves = (await s.execute(sa.select(ProofLeaf.__table__))).all()
        [event] = (
            await s.scalars(sa.select(RequestEvent).where(event_of("er-n", "deadline_extended")))
        ).all()
    stored = json.dumps([[str(v) for v in row] for row in leaves])
    for secret in (operator, "Jo Operator", "jo@ops.example", reason, "HR-4411"):
        assert secret not in stored

    assert event.seal_salt is not None and len(bytes.fromhex(event.seal_salt)) >= 16
    [leaf] = [x for x in leaves if x.event_id == event.id]
    receipt = json.loads(leaf.receipt)
    opened = json.dumps(
        {"actor": operator, "detail": {"days": 30, "reason": reason}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    expected = hashlib.sha256(bytes.fromhex(event.seal_salt) + opened).hexdigest()
    assert receipt["commitment"] == expected
    assert set(receipt) == {
        "kind",
        "version",
        "request_id",
        "event_id",
        "event",
        "at",
        "commitment",
    }

    cert = json.loads(json.dumps(await log.certificate("er-n", issued_at=NOW)))
    receipts = json.dumps([e["receipt"] for e in cert["receipts"]])
    for secret in (operator, reason, "HR-4411"):
        assert secret not in receipts
    [opening] = [e["opening"] for e in cert["receipts"] if e["receipt"].get("event_id") == event.id]
    assert opening == {
        "salt": event.seal_salt,
        "actor": operator,
        "detail": {"days": 30, "reason": reason},
    }
    assert check_certificate(cert, KEY.public_key()).ok


async def test_a_certificate_is_refused_for_an_event_that_cannot_be_opened(
    sqlite_ledger: Ledger,
) -> None:
    log = await sealed_log(sqlite_ledger)
    await drop_an_event_salt(sqlite_ledger)
    with pytest.raises(ProofLogError, match="cannot be opened"):
        await log.certificate("er-c", issued_at=NOW)
