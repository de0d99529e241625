"""The vocabulary changes no stored, signed or sent byte: a member is its plain word.

The expected bytes below were produced by the code before the vocabulary existed, from plain
strings; they are produced now from members. Receipts are what the proof log hashes and
certificates carry, so equal bytes mean every certificate already issued still verifies and
every new one reads the same. Temporal payloads are what running workflows hold in their
histories (the stored histories in tests/workflows/histories replay on them too).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from temporalio.converter import DataConverter

from activities import StatusChange, SystemOutcome
from ledger import Ledger, OutcomeEntry, RequestStatuses
from ledger.proof import canonical_json
from ledger.proof.receipts import outcome_receipt, request_receipt
from ledger.tables import ErasureRequestRecord, SystemOutcomeRecord
from lethe.cli._values import choice_of
from lethe.keys import Keyring
from lethe.temporal import data_converter
from tests.ledger.test_store import NOW, open_request
from vocabulary import (
    FINAL_STATUSES,
    AlertEvent,
    Jurisdiction,
    LegalBasis,
    OutcomeKind,
    RequestStatus,
    VerificationMethod,
)
from workflows import ErasureResult

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

#: Every word, as the ledger has always stored it: renaming one would orphan stored rows.
WORDS: dict[type[StrEnum], list[str]] = {
    RequestStatus: [
        "received",
        "awaiting_verification",
        "erasing",
        "escalated",
        "completed",
        "completed_with_exceptions",
        "partially_failed",
        "failed",
        "rejected",
        "cancelled",
    ],
    OutcomeKind: [
        "erased",
        "not_found",
        "not_searched",
        "retained",
        "pending",
        "referred",
        "failed",
        "in_progress",
    ],
    VerificationMethod: ["email", "operator", "preverified"],
    Jurisdiction: ["gdpr", "ccpa"],
    AlertEvent: [
        "acknowledgement_overdue",
        "deadline_reminder",
        "deadline_overdue",
        "referral_escalated",
        "system_failed",
        "system_unserved",
        "request_stalled",
        "payload_refused",
        "manual_task_opened",
        "manual_task_overdue",
        "processor_overdue",
    ],
}


@pytest.mark.parametrize("vocabulary", list(WORDS), ids=lambda v: v.__name__)
def test_the_stored_words_are_the_words_they_were(vocabulary: type[StrEnum]) -> None:
    assert [m.value for m in vocabulary] == WORDS[vocabulary]
    for member in vocabulary:
        assert member == member.value and hash(member) == hash(member.value)
        assert str(member) == f"{member}" == member.value
        for ascii_only in (True, False):
            assert json.dumps(member, ensure_ascii=ascii_only) == json.dumps(member.value)
            assert json.dumps({member: member}) == json.dumps({member.value: member.value})


def _records(status: str, outcome: str, basis: str, method: str, law: str) -> tuple[Any, Any]:
    request = ErasureRequestRecord(
        request_id="req_golden",
        subject_ref="ps_x",
        jurisdiction=law,
        verification_method=method,
        channel="web",
        status=status,
        systems=["crm", "forum"],
        workflow_id="erasure/req_golden",
        received_at=AT,
        due_at=AT,
        verified_at=AT,
        completed_at=AT,
    )
    system = SystemOutcomeRecord(
        request_id="req_golden",
        system="crm",
        round=0,
        connector="sql",
        connector_version="1",
        outcome=outcome,
        counts={"contacts.deleted": 1},
        retained_counts={"invoices.retained": 2},
        evidence={},
        legal_basis=basis,
        basis_note="tax law",
        retained_until=date(2030, 1, 1),
        review_on=None,
        ticket=None,
        controller=None,
        error=None,
        attempts=1,
        residual={},
        verified_at=AT,
        started_at=AT,
        finished_at=AT,
    )
    return request, system


REQUEST_RECEIPT = (
    b'{"channel":"web","completed_at":"2024-03-01T12:00:00.000000Z","due_at":"2024-03-01T12:00'
    b':00.000000Z","jurisdiction":"gdpr","kind":"request_status","received_at":"2024-03-01T12'
    b':00:00.000000Z","request_id":"req_golden","status":"completed_with_exceptions","systems"'
    b':["crm","forum"],"verification_method":"email","verified_at":"2024-03-01T12:00:00.000000'
    b'Z","version":1}'
)
OUTCOME_RECEIPT = (
    b'{"actions":["deleted","retained"],"attempts":1,"basis_note":"tax law","connector":"sql",'
    b'"connector_version":"1","controller":null,"counts":{"contacts.deleted":1},"error":null,'
    b'"evidence":{},"finished_at":"2024-03-01T12:00:00.000000Z","kind":"system_outcome","lega'
    b'l_basis":"gdpr-17-3-b","outcome":"retained","request_id":"req_golden","retained_counts":'
    b'{"invoices.retained":2},"retained_until":"2030-01-01","review_on":null,"round":0,"starte'
    b'd_at":"2024-03-01T12:00:00.000000Z","system":"crm","ticket":null,"verification":{"check'
    b'ed":true,"clean":true,"residual":{},"verified_at":"2024-03-01T12:00:00.000000Z"},"versi'
    b'on":1}'
)


def test_receipts_are_the_bytes_they_were() -> None:
    """What the proof log hashes and certificates carry, from members as from words."""
    members = _records(
        RequestStatus.COMPLETED_WITH_EXCEPTIONS,
        OutcomeKind.RETAINED,
        LegalBasis.GDPR_17_3_B,
        VerificationMethod.EMAIL,
        Jurisdiction.GDPR,
    )
    words = _records("completed_with_exceptions", "retained", "gdpr-17-3-b", "email", "gdpr")
    for request, system in (members, words):
        assert canonical_json(request_receipt(request)) == REQUEST_RECEIPT
        assert canonical_json(outcome_receipt(system)) == OUTCOME_RECEIPT


PAYLOADS: list[tuple[Any, bytes]] = [
    (
        StatusChange(
            "req_golden",
            RequestStatus.ERASING,
            actor="lethe",
            event="verified",
            detail={"method": VerificationMethod.EMAIL},
        ),
        b'{"actor":"lethe","detail":{"method":"email"},"event":"verified","reason":null,'
        b'"request_id":"req_golden","status":"erasing"}',
    ),
    (
        SystemOutcome("crm", OutcomeKind.RETAINED, legal_basis=LegalBasis.GDPR_17_3_B),
        b'{"answer_by":null,"controller":null,"counts":{},"error":null,'
        b'"legal_basis":"gdpr-17-3-b","note":null,'
        b'"outcome":"retained","poll_after_seconds":null,"replayed":false,"retained_counts":{},'
        b'"retained_until":null,"review_on":null,"system":"crm","ticket":null,'
        b'"verifiable":false}',
    ),
    (
        ErasureResult(
            "req_golden",
            RequestStatus.COMPLETED_WITH_EXCEPTIONS,
            None,
            (SystemOutcome("crm", OutcomeKind.ERASED),),
        ),
        b'{"reason":null,"request_id":"req_golden","status":"completed_with_exceptions",'
        b'"systems":[{"answer_by":null,"controller":null,"counts":{},"error":null,'
        b'"legal_basis":null,"note":null,'
        b'"outcome":"erased","poll_after_seconds":null,"replayed":false,"retained_counts":{},'
        b'"retained_until":null,"review_on":null,"system":"crm","ticket":null,'
        b'"verifiable":false}]}',
    ),
]


#: A SystemOutcome as histories recorded before ``answer_by`` (a processor's promised time,
#: the ``webhook`` connector) was added: it must still read, as "no promise".
BEFORE_ANSWER_BY = (
    b'{"controller":null,"counts":{},"error":null,"legal_basis":null,"note":null,'
    b'"outcome":"pending","poll_after_seconds":3600,"replayed":false,"retained_counts":{},'
    b'"retained_until":null,"review_on":null,"system":"crm","ticket":"t-1",'
    b'"verifiable":false}'
)


def test_a_system_outcome_recorded_before_answer_by_still_reads() -> None:
    [payload] = DataConverter.default.payload_converter.to_payloads(
        [SystemOutcome("crm", OutcomeKind.PENDING, ticket="t-1", poll_after_seconds=3600)]
    )
    payload.data = BEFORE_ANSWER_BY
    [back] = DataConverter.default.payload_converter.from_payloads([payload], [SystemOutcome])
    assert back == SystemOutcome("crm", "pending", ticket="t-1", poll_after_seconds=3600)
    assert back.answer_by is None


@pytest.mark.parametrize(("value", "expected"), PAYLOADS, ids=lambda v: type(v).__name__)
async def test_temporal_payloads_are_the_bytes_they_were(
    value: Any, expected: bytes, keys: Keyring
) -> None:
    """What workflow histories hold: the same JSON, and it reads back as the plain word."""
    [payload] = DataConverter.default.payload_converter.to_payloads([value])
    assert payload.data == expected
    # Through Lethe's own converter (encrypted), there and back.
    converter = data_converter(keys)
    [back] = await converter.decode(await converter.encode([value]), [type(value)])
    assert back == value
    assert type(back.status if hasattr(back, "status") else back.outcome) is str


async def test_the_ledger_stores_and_finds_the_plain_words(ledger: Ledger) -> None:
    """Written from members, read back as words; members find the rows in queries."""
    await open_request(ledger)
    await ledger.set_status("er-1", RequestStatus.ERASING, at=NOW, actor="lethe")
    await ledger.finish_system("er-1", "crm", 0, OutcomeEntry(OutcomeKind.ERASED), at=NOW)
    await ledger.finish_system(
        "er-1", "forum", 0, OutcomeEntry(OutcomeKind.FAILED, error="down"), at=NOW
    )
    answered = await RequestStatuses(ledger).answer("er-1", at=NOW, actor="lethe")
    assert answered is RequestStatus.PARTIALLY_FAILED
    async with ledger.session() as s:
        stored = (await s.execute(sa.text("SELECT status FROM erasure_requests"))).scalar_one()
        outcomes = (
            await s.execute(sa.text("SELECT outcome FROM system_outcomes ORDER BY system"))
        ).scalars()
        assert (stored, list(outcomes)) == ("partially_failed", ["erased", "failed"])
    rec = await ledger.require_request("er-1")
    assert type(rec.status) is str and rec.status == RequestStatus.PARTIALLY_FAILED
    found = await ledger.list_requests(statuses=sorted(FINAL_STATUSES))
    assert [r.request_id for r in found] == ["er-1"]
    events = await ledger.events("er-1")
    assert [e.kind for e in events][-1] == "partially_failed"
    assert events[-1].detail["latest"] == {"crm": "erased", "forum": "failed"}


@pytest.mark.parametrize("vocabulary", [RequestStatus, OutcomeKind, Jurisdiction])
def test_the_command_line_takes_the_plain_words(vocabulary: type[StrEnum]) -> None:
    """click matches an enum member by its name (COMPLETED); operators type the word."""
    choice = choice_of(vocabulary)
    for member in vocabulary:
        assert choice.convert(member.value, None, None) == member.value
