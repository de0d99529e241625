"""The request records CCPA §7101 asks to keep: one row per request, its columns and cells."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ledger import (
    ErasureRequestRecord,
    Ledger,
    OutcomeEntry,
    RetainedException,
    SystemOutcomeRecord,
)
from ledger.queries import AuditFilter, AuditRecord
from lethe.operations.ccpa_export import EXPORT_FIELDS, csv_cell, export_row, write_export
from lethe.settings import Settings, load_settings
from tests.support.requests import ERASED, NOW, RETAINED, finished_request


def _request(status: str, **fields: object) -> ErasureRequestRecord:
    return ErasureRequestRecord(
        request_id="er-1",
        subject_ref="ps_" + "0" * 32,
        jurisdiction="ccpa",
        verification_method="operator",
        channel="web-form",
        status=status,
        systems=["crm", "forum", "vendor"],
        received_at=NOW,
        due_at=NOW + timedelta(days=45),
        completed_at=NOW + timedelta(days=3),
        **fields,
    )


def _outcome(system: str, kind: str, round_: int = 0, **fields: object) -> SystemOutcomeRecord:
    return SystemOutcomeRecord(
        system=system,
        round=round_,
        outcome=kind,
        evidence=fields.pop("evidence", {}),
        finished_at=NOW + timedelta(days=1 + round_),
        **fields,
    )


def test_a_denial_gives_its_reason_as_the_basis() -> None:
    row = export_row(
        AuditRecord(_request("rejected", status_reason="identity not verified"), [], [])
    )
    assert row["nature_of_request"] == "deletion" and row["manner_of_request"] == "web-form"
    assert row["nature_of_response"] == "denied"
    assert row["basis_for_denial"] == [
        {"system": None, "legal_basis": None, "description": "identity not verified"}
    ]
    # Nothing was to be erased: no erasure deadline, and the clock's absence is the due date.
    assert row["erasure_deadline"] is None and row["date_systems_done"] is None
    assert row["date_due_original"] == row["date_due"] == (NOW + timedelta(days=45)).isoformat()
    assert list(row) == list(EXPORT_FIELDS)


def test_what_stands_is_each_system_s_latest_round_and_every_exception_stays_listed() -> None:
    outcomes = [
        _outcome("crm", "failed", error="refused"),
        _outcome("crm", "erased", round_=1),  # the retry erased it: not failed any more
        _outcome("forum", "failed", error="timeout"),
        _outcome("vendor", "not_searched", evidence={"missing_identifiers": ["phone"]}),
    ]
    ended = RetainedException(
        system="crm",
        legal_basis="gdpr-17-3-b",
        basis_note="tax law",
        retained_until=date(2036, 1, 31),
        state="superseded",
    )
    row = export_row(AuditRecord(_request("partially_failed"), outcomes, [ended]))
    assert row["systems_failed"] == ["forum"]
    assert row["systems_not_searched"] == ["vendor (no phone)"]
    assert row["nature_of_response"].startswith("deletion failed, or could not be searched")
    [basis] = row["basis_for_denial"]
    assert basis["state"] == "superseded" and basis["retained_until"] == "2036-01-31"
    assert basis["description"] and basis["description"] != "gdpr-17-3-b"  # described, not coded
    assert row["date_systems_done"] is None  # forum failed: the erasure is not done


def test_a_basis_reads_as_one_sentence_in_a_csv_cell() -> None:
    kept = {
        "system": "crm",
        "legal_basis": "gdpr-17-3-b",
        "description": "legal obligation",
        "retained_until": None,
        "review_on": "2027-01-31",
        "state": "resolved",
    }
    denied = {"system": None, "legal_basis": None, "description": "identity not verified"}
    assert csv_cell("basis_for_denial", [kept, denied]) == (
        "crm: legal obligation [gdpr-17-3-b], kept until review 2027-01-31"
        " (resolved by a later round); identity not verified"
    )
    assert csv_cell("systems", ["crm", "forum"]) == "crm, forum"
    assert csv_cell("date_acknowledged", None) == ""


@dataclass
class _Reading:
    settings: Settings
    ledger: Ledger


async def test_the_export_writes_a_header_and_a_row_per_request_in_either_format(
    sqlite_ledger: Ledger, bare_home: Path
) -> None:
    reading = _Reading(load_settings(), sqlite_ledger)
    await finished_request(sqlite_ledger, "er-a", {"crm": RETAINED, "forum": ERASED})
    await finished_request(
        sqlite_ledger, "er-b", {"forum": OutcomeEntry("failed")}, received_at=NOW + timedelta(1)
    )
    out = io.StringIO()
    assert await write_export(reading, AuditFilter(), out, fmt="csv") == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["request_id"] for r in rows] == ["er-b", "er-a"]  # newest first
    assert tuple(rows[0]) == EXPORT_FIELDS and rows[0]["systems_failed"] == "forum"
    assert "crm: " in rows[1]["basis_for_denial"] and "[gdpr-17-3-b]" in rows[1]["basis_for_denial"]
    lines = io.StringIO()
    assert await write_export(reading, AuditFilter(system="crm"), lines, fmt="jsonl") == 1
    [record] = [json.loads(x) for x in lines.getvalue().splitlines()]
    assert set(record) == set(EXPORT_FIELDS) and record["request_id"] == "er-a"
