"""``lethe audit``: an auditor's commands on a real ledger, and offline verification."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ledger import (
    ErasureRounds,
    Ledger,
    OutcomeEntry,
    ProofLog,
    SubjectVault,
    TreeHeadSigner,
    create_ledger_engine,
    upgrade_schema,
)
from ledger.proof import key_fingerprint
from lethe.certificates import GENERATOR, render_html
from lethe.keys import load_keyring, load_signing_key
from tests.support.cli import lethe, one_line_error
from tests.support.requests import ERASED, NOW, RETAINED, finished_request

LETHE = str(Path(sys.executable).parent / "lethe")


async def _seed(home: Path) -> None:
    keys = load_keyring(home)
    engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
    await upgrade_schema(engine)
    ledger = Ledger(engine, SubjectVault(keys.vault))
    log = ProofLog(ledger, TreeHeadSigner(load_signing_key(home)))
    try:
        await finished_request(ledger, "er-a", email="ada@example.org")
        await finished_request(
            ledger,
            "er-b",
            {"forum": ERASED},
            jurisdiction="ccpa",
            received_at=NOW + timedelta(days=1),
            took=timedelta(days=60),
        )
        await finished_request(
            ledger,
            "er-c",
            {"crm": OutcomeEntry("failed", error="connection refused")},
            received_at=NOW + timedelta(days=2),
        )
        for rid in ("er-a", "er-b", "er-c"):
            await log.seal(rid, at=NOW)
        await finished_request(ledger, "er-d", {"crm": RETAINED}, received_at=NOW + timedelta(3))
    finally:
        await ledger.dispose()


@pytest.fixture(scope="module")
def seeded_home(initialised_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised home with the requests of ``_seed``, made once for this module."""
    home = tmp_path_factory.mktemp("audited") / ".lethe"
    shutil.copytree(initialised_home, home)
    asyncio.run(_seed(home))
    return home


@pytest.fixture
def home(bare_home: Path, seeded_home: Path) -> Path:
    """A copy of ``seeded_home`` of this test's own (tests alter the ledger)."""
    shutil.copytree(seeded_home, bare_home)
    return bare_home


def sql(home: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(home / "lethe.db") as conn:
        conn.execute(statement, args)


@pytest.mark.slow  # a few seconds
def test_certificate_verifies_offline_with_the_public_key_alone(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        lethe("audit", "certificate", "er-a", "-o", str(out / "a.json"), "-o", str(out / "a.html"))
        == 0
    )
    assert lethe("audit", "public-key", "-o", str(out / "log.pem")) == 0
    capsys.readouterr()

    # An auditor's machine: a fresh directory, no ledger, no config, no LETHE_* variables.
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    for name in ("a.json", "a.html"):
        done = subprocess.run(
            [LETHE, "audit", "verify", str(out / name), "--public-key", str(out / "log.pem")],
            cwd=auditor,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        said = " ".join(done.stdout.split())
        assert "VERIFIED" in said and "er-a" in said
        assert "in a log of 17 signed 2026-01-31 12:00:00 UTC" in said  # what it certifies, when
        assert "7 receipts (4 of its events)" in said
    assert list(auditor.iterdir()) == []  # it read nothing and wrote nothing there

    cert = json.loads((out / "a.json").read_text())
    assert cert["request"]["deadline"] == "met"
    assert {r["receipt"].get("system") for r in cert["receipts"]} == {"crm", "forum", None}
    events = [r for r in cert["receipts"] if r["receipt"]["kind"] == "request_event"]
    assert [(e["receipt"]["event"], e["opening"]["actor"]) for e in events] == [
        ("received", "cli"),
        ("system_retained", "system:crm"),
        ("system_erased", "system:forum"),
        ("completed_with_exceptions", "lethe"),
    ]
    # Who acted is beside each event receipt (its opening), never in it.
    receipts = json.dumps([r["receipt"] for r in cert["receipts"]])
    assert "system:crm" not in receipts and "system:forum" not in receipts
    assert all(set(e["receipt"]) >= {"commitment"} and "actor" not in e["receipt"] for e in events)
    page = (out / "a.html").read_text()
    assert "GDPR Art. 17(3)(b)" in page and "2036-01-31" in page
    assert '<th>Deadline</th><td class="ok">met</td>' in page
    # The events table: time, event (in words, its token beside), by whom, detail.
    assert (
        "<tr><td>2026-01-31 13:00 UTC</td><td>System retained"
        '<span class="token">system_retained</span></td><td>system:crm</td>'
        '<td><span class="l">round: 0</span><span class="l">system: crm</span></td></tr>'
    ) in page
    for text in (cert, page):
        assert "ada@example.org" not in json.dumps(text)


def test_a_late_answer_is_shown_as_missed(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    assert lethe("audit", "certificate", "er-b", "-o", str(path), "--json") == 0
    assert json.loads(path.read_text())["request"]["deadline"] == "missed"


@pytest.mark.parametrize(
    "where", ["receipt", "summary", "page", "page and its generator tag", "page untagged", "key"]
)
def test_an_altered_certificate_fails(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    json_path, html_path, pem = tmp_path / "a.json", tmp_path / "a.html", tmp_path / "k.pem"
    assert lethe("audit", "certificate", "er-a", "-o", str(json_path), "-o", str(html_path)) == 0
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    target = json_path
    if where == "receipt":
        cert = json.loads(json_path.read_text())
        cert["receipts"][0]["receipt"]["retained_counts"]["invoices.retained"] = 1
        json_path.write_text(json.dumps(cert))
    elif where == "summary":
        cert = json.loads(json_path.read_text())
        cert["request"]["status"] = "completed"
        json_path.write_text(json.dumps(cert))
    elif where.startswith("page"):
        # The visible text only: the embedded certificate still verifies on its own.
        target = html_path
        page = html_path.read_text().replace("2036-01-31", "2026-03-01", 1)
        tag = f'<meta name="generator" content="{GENERATOR}">'
        assert tag in page
        if where == "page and its generator tag":
            page = page.replace(tag, '<meta name="generator" content="lethe certificate-html/9">')
        elif where == "page untagged":
            page = page.replace(tag, "")
        html_path.write_text(page)
    else:
        pem.write_text(
            "-----BEGIN PUBLIC KEY-----\n"
            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
            "-----END PUBLIC KEY-----\n"
        )
    capsys.readouterr()
    assert lethe("audit", "verify", str(target), "--public-key", str(pem)) == 3
    out = capsys.readouterr()
    assert "FAILED" in out.out
    assert out.err.startswith("lethe: error: certificate") and len(out.err.splitlines()) == 1


def test_verify_log_names_the_first_bad_index(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("audit", "verify", "--log") == 0
    # er-a: receipts 0-6 (crm, forum, request, its 4 events); er-b: 7-11 (forum, request,
    # 3 events); er-c: 12-16. er-d is not sealed: its 3 events are noted, not a failure.
    said = " ".join(capsys.readouterr().out.split())
    fingerprint = key_fingerprint(load_signing_key(home).public_key())
    assert f"VERIFIED — 17 receipts, 3 signed heads (key {fingerprint[:16]}…)" in said
    assert "checked against this machine's own signing key" in said
    assert "3 events of 1 requests are not sealed yet (er-d: received" in said

    edit = "UPDATE proof_leaves SET receipt = replace(receipt, ?, ?) WHERE leaf_index = 7"
    sql(home, edit, '"round":0', '"round":1')  # one byte of one stored receipt
    assert lethe("audit", "verify", "--log", "--json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["first_bad_index"] == 7

    sql(home, "DELETE FROM proof_leaves WHERE leaf_index = 2")
    assert lethe("audit", "verify", "--log") == 3
    assert "first bad index 2" in one_line_error(capsys)


def test_verify_log_catches_a_swap(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Two of er-a's event receipts change places (events reordered in the log).
    sql(home, "UPDATE proof_leaves SET leaf_index = -1 WHERE leaf_index = 3")
    sql(home, "UPDATE proof_leaves SET leaf_index = 3 WHERE leaf_index = 6")
    sql(home, "UPDATE proof_leaves SET leaf_index = 6 WHERE leaf_index = -1")
    assert lethe("audit", "verify", "--log") == 3
    assert "first bad index 3" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("tamper", "bad", "said"),
    [
        (  # who approved: er-b's received event (leaf 9) signed by someone else
            "UPDATE request_events SET actor = 'op:someone-else' WHERE id = ("
            "SELECT MIN(id) FROM request_events WHERE request_id = 'er-b')",
            9,
            "the 'received' event 5 of er-b (sealed in receipt 9) no longer says what its "
            "receipt says (actor, detail or salt edited after sealing)",
        ),
        (  # why: er-a's status event (leaf 6) given a reason after the fact
            'UPDATE request_events SET detail = \'{"reason": "approved"}\' '
            "WHERE request_id = 'er-a' AND kind = 'completed_with_exceptions'",
            6,
            "(sealed in receipt 6) no longer says what its receipt says (actor, detail or salt",
        ),
        (  # the salt of er-b's received event replaced: its commitment no longer opens
            "UPDATE request_events SET seal_salt = '00000000000000000000000000000000' WHERE id = ("
            "SELECT MIN(id) FROM request_events WHERE request_id = 'er-b')",
            9,
            "actor, detail or salt edited after sealing",
        ),
        (  # er-c's system_failed event (leaf 15) removed
            "DELETE FROM request_events WHERE request_id = 'er-c' AND kind = 'system_failed'",
            15,
            "is no longer in the ledger (deleted after sealing)",
        ),
    ],
)
def test_verify_log_names_an_event_edited_or_deleted_after_sealing(
    home: Path, capsys: pytest.CaptureFixture[str], tamper: str, bad: int, said: str
) -> None:
    sql(home, tamper)
    assert lethe("audit", "verify", "--log", "--json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["first_bad_index"] == bad, report["problems"]
    assert said in report["problems"][0]["message"]


@pytest.mark.parametrize("suffix", [".json", ".html"])
def test_a_certificate_whose_event_opening_was_edited_fails(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """Who acted and why are not in the signed receipts: the opening beside each one must
    open its commitment, or the certificate fails, JSON file or page."""
    path, pem = tmp_path / f"a{suffix}", tmp_path / "k.pem"
    assert lethe("audit", "certificate", "er-a", "-o", str(path)) == 0
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    text = path.read_text()
    assert text.count('"actor": "system:crm"') == 1 or text.count('"actor":"system:crm"') == 1
    edited = text.replace('"system:crm"', '"op:someone-else"', 1)
    path.write_text(edited)
    capsys.readouterr()
    assert lethe("audit", "verify", str(path), "--public-key", str(pem)) == 3
    said = " ".join(capsys.readouterr().out.split())
    assert "FAILED" in said
    assert "receipt at leaf 4: its opening (who, detail or salt) does not match" in said


def test_an_event_after_the_seal_is_shown_as_not_sealed_yet(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(
        home,
        "INSERT INTO request_events (request_id, at, kind, actor, detail) "
        "VALUES ('er-a', '2026-03-01 10:00:00', 'hold_released', 'op:jo', '{}')",
    )
    capsys.readouterr()
    assert lethe("audit", "verify", "--log") == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "VERIFIED" in said and "er-a: hold_released" in said
    assert lethe("audit", "show", "er-a", "--json") == 0
    proof = json.loads(capsys.readouterr().out)["proof"]
    assert proof["sealed"] is False
    assert [e["kind"] for e in proof["unsealed_events"]] == ["hold_released"]
    assert lethe("audit", "show", "er-a") == 0
    assert "Events not sealed yet: hold_released" in capsys.readouterr().out


def test_a_page_rendered_before_events_were_sealed_still_verifies(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page of the previous renderer (no events table), of a certificate without event
    receipts, is still checked against its visible text; with event receipts it cannot be."""
    path, pem = tmp_path / "a.json", tmp_path / "k.pem"
    assert lethe("audit", "certificate", "er-a", "-o", str(path)) == 0
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    cert = json.loads(path.read_text())
    old = {
        **cert,
        "receipts": [r for r in cert["receipts"] if r["receipt"]["kind"] != "request_event"],
    }
    page = tmp_path / "old.html"
    page.write_text(render_html(old, generator="lethe certificate-html/2"))
    assert "its events</h2>" not in page.read_text()
    capsys.readouterr()
    assert lethe("audit", "verify", str(page), "--public-key", str(pem)) == 0
    page.write_text(render_html(cert, generator="lethe certificate-html/2"))
    assert lethe("audit", "verify", str(page), "--public-key", str(pem)) == 3
    assert "visible text cannot be checked" in capsys.readouterr().out


async def _cut_back(home: Path, size: int) -> None:
    """What an operator with database access could do: drop the newest receipts together
    with the heads and cached subtrees that cover them. The rest is consistent with itself."""
    with sqlite3.connect(home / "lethe.db") as conn:
        conn.execute("DELETE FROM signed_tree_heads WHERE tree_size > ?", (size,))
        conn.execute("DELETE FROM proof_leaves WHERE leaf_index >= ?", (size,))
        conn.execute("DELETE FROM proof_nodes WHERE (node_index + 1) * (1 << level) > ?", (size,))


def test_certificates_handed_out_catch_a_log_cut_back(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / "a.html"
    assert lethe("audit", "certificate", "er-a", "-o", str(cert)) == 0  # head of 17 receipts
    assert lethe("audit", "verify", "--log", str(cert)) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "VERIFIED" in said and "the heads of the 1 certificate(s) given are in it" in said

    asyncio.run(_cut_back(home, 7))  # er-b's and er-c's receipts, the heads of 12 and 17 gone
    assert lethe("audit", "verify", "--log") == 0  # from the database alone: an older log
    capsys.readouterr()
    assert lethe("audit", "verify", "--log", str(cert), "--json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["first_bad_index"] == 7
    assert "signed a head of 17 receipts, but holds 7 now" in report["problems"][0]["message"]


async def _later_round(home: Path, request_id: str = "er-c", at: datetime = NOW) -> None:
    """crm erased in round 1 (a retry, or the sweeper), its round closed and sealed."""
    keys = load_keyring(home)
    engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
    ledger = Ledger(engine, SubjectVault(keys.vault))
    try:
        await ledger.begin_system(
            request_id, "crm", 1, connector="sql", connector_version="1", at=at
        )
        await ledger.finish_system(request_id, "crm", 1, ERASED, at=at)
        await ErasureRounds(ledger).close_round(request_id, "crm", 1, at=at)
        await ProofLog(ledger, TreeHeadSigner(load_signing_key(home))).seal(request_id, at=at)
    finally:
        await ledger.dispose()


def test_a_certificate_says_what_is_not_sealed_yet(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def unsealed_round() -> None:
        keys = load_keyring(home)
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
        ledger = Ledger(engine, SubjectVault(keys.vault))
        try:
            await ledger.begin_system(
                "er-c", "crm", 1, connector="sql", connector_version="1", at=NOW
            )
            await ledger.finish_system("er-c", "crm", 1, ERASED, at=NOW)
        finally:
            await ledger.dispose()

    asyncio.run(unsealed_round())
    capsys.readouterr()
    assert lethe("audit", "certificate", "er-c", "-o", str(tmp_path / "c.json"), "--json") == 0
    outcome, event = json.loads(capsys.readouterr().out)["not_sealed_yet"]
    assert outcome == "crm (round 1)"
    assert event.startswith("event ") and event.endswith(" (system_erased)")


def test_a_superseded_certificate_is_pointed_out(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "c.json"
    assert lethe("audit", "certificate", "er-c", "-o", str(old)) == 0
    asyncio.run(_later_round(home))  # crm, failed in round 0, erased in round 1
    pem = tmp_path / "k.pem"
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    capsys.readouterr()
    # Offline, the old certificate is still a true statement of the past ...
    assert lethe("audit", "verify", str(old), "--public-key", str(pem)) == 0
    capsys.readouterr()
    # ... and against the log, it shows as no longer the whole record.
    assert lethe("audit", "verify", "--log", str(old), "--json") == 0
    [report] = json.loads(capsys.readouterr().out)["certificates"]
    # crm's round 1 and its event (system_erased)
    assert report["newer_receipts"] == [17, 18] and report["notes"][0].startswith("superseded")


def test_list_filters_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def listed(*args: str) -> list[str]:
        capsys.readouterr()
        assert lethe("audit", "list", "--json", *args) == 0
        return [r["request_id"] for r in json.loads(capsys.readouterr().out)]

    assert listed() == ["er-d", "er-c", "er-b", "er-a"]
    assert listed("--jurisdiction", "ccpa") == ["er-b"]
    assert listed("--system", "crm", "--outcome", "retained") == ["er-d", "er-a"]
    assert listed("--outcome", "failed") == ["er-c"]
    assert listed("--overdue") == ["er-b"]
    assert listed("--since", "2026-02-01", "--until", "2026-02-02") == ["er-c", "er-b"]
    assert listed("--exceptions-expiring-before", "2040-01-01") == ["er-d", "er-a"]
    assert listed("--exceptions-expiring-before", "2030-01-01") == []

    assert lethe("audit", "show", "er-a", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["proof"]["sealed"] is True
    assert [r["leaf_index"] for r in shown["proof"]["receipts"]] == list(range(7))
    sealed_kinds = [r["kind"] for r in shown["proof"]["receipts"]]
    assert sealed_kinds[3:] == ["request_event"] * 4  # every event but the seal's own
    assert len([e for e in shown["events"] if e["kind"] != "sealed"]) == 4
    assert shown["proof"]["unsealed_events"] == []
    assert lethe("audit", "show", "er-d") == 0
    assert "Not sealed" in capsys.readouterr().out


def test_export_has_the_ccpa_record_fields(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert lethe("audit", "export", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["request_id"] for r in rows] == ["er-d", "er-c", "er-b", "er-a"]
    assert rows[1]["date_systems_done"] == ""  # er-c: crm failed, no retry yet
    assert rows[1]["erasure_deadline"] == "open" and rows[-1]["erasure_deadline"] == "met"
    a = rows[-1]
    assert a["nature_of_request"] == "deletion" and a["manner_of_request"] == "cli"
    assert a["date_of_request"].startswith("2026-01-31") and a["date_of_response"]
    assert a["deadline"] == "met" and a["nature_of_response"].startswith("deleted in part")
    assert a["verification_method"] == "operator"
    assert "GDPR Art. 17(3)(b)" in a["basis_for_denial"] and "2036-01-31" in a["basis_for_denial"]
    assert rows[1]["systems_failed"] == "crm"

    path = tmp_path / "export.jsonl"
    assert (
        lethe("audit", "export", "--format", "jsonl", "-o", str(path), "--json", "-j", "ccpa") == 0
    )
    assert json.loads(capsys.readouterr().out) == {"format": "jsonl", "rows": 1, "path": str(path)}
    [b] = [json.loads(line) for line in path.read_text().splitlines()]
    assert b["request_id"] == "er-b" and b["deadline"] == "missed"
    assert "ada@example.org" not in path.read_text()


def test_export_shows_acknowledgement_and_extension(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CCPA §7021: receipt confirmed within 10 business days; an extension told, with reasons."""
    sql(
        home,
        "INSERT INTO request_deadlines (request_id, timezone, answer_rule, original_due_at,"
        " acknowledged_at, extended_at, extended_by, extension_reason)"
        " VALUES ('er-b', 'UTC', 'ccpa', '2026-03-17 12:00:00.123456',"
        " '2026-02-01 13:00:00.000000', '2026-02-10 09:00:00.000000', 'operator:kim',"
        " 'records in three archives')",
    )
    capsys.readouterr()
    assert lethe("audit", "export", "--format", "jsonl", "-j", "ccpa") == 0
    [b] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert b["date_acknowledged"] == "2026-02-01T13:00:00+00:00"
    assert b["date_due_original"] == "2026-03-17T12:00:00.123456+00:00"
    assert b["extension_reason"] == "records in three archives"
    assert lethe("audit", "export", "--format", "csv", "-j", "gdpr") == 0
    a = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[-1]
    assert a["date_acknowledged"] == "" and a["date_due_original"] == a["date_due"]


def test_export_shows_what_stands_after_a_later_round(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """er-c's crm failed, then a retry erased it; er-a's crm exception ended in round 1."""
    weeks_later = NOW + timedelta(days=60)
    asyncio.run(_later_round(home, "er-c", weeks_later))
    asyncio.run(_later_round(home, "er-a", weeks_later))
    capsys.readouterr()
    assert lethe("audit", "export", "--format", "csv") == 0
    rows = {r["request_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["er-c"]["systems_failed"] == ""
    # Answered on time (partially failed); the failed system was erased by the retry, later.
    assert rows["er-c"]["deadline"] == "met"
    assert rows["er-c"]["date_systems_done"] == weeks_later.isoformat()
    assert rows["er-c"]["erasure_deadline"] == "missed"  # the erasure itself came late
    assert lethe("audit", "show", "er-c") == 0
    assert f"Every system done {weeks_later:%Y-%m-%d %H:%M} UTC (erasure deadline missed)" in (
        capsys.readouterr().out
    )
    assert rows["er-a"]["basis_for_denial"].endswith("(resolved by a later round)")
    assert lethe("audit", "export", "--format", "jsonl") == 0
    a = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"er-a"' in x)
    assert [b["state"] for b in a["basis_for_denial"]] == ["resolved"]


def test_show_says_who_decided_what_and_why(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def approve() -> None:
        keys = load_keyring(home)
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
        ledger = Ledger(engine, SubjectVault(keys.vault))
        try:
            await ledger.add_event(
                "er-d",
                "verified",
                at=NOW,
                actor="operator:kim",
                detail={"method": "operator", "reason": "called back on the number on file"},
            )
        finally:
            await ledger.dispose()

    asyncio.run(approve())
    capsys.readouterr()
    assert lethe("audit", "show", "er-d") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if " verified " in x)
    assert "operator:kim" in line and "reason=called back on the number on file" in line


def test_list_shows_whole_request_ids(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An auditor copies an id from the list into `audit show`: it must not be cut short."""

    async def more() -> None:
        keys = load_keyring(home)
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
        ledger = Ledger(engine, SubjectVault(keys.vault))
        systems = ["forum", "crm", "newsletter", "backups", "billing"]
        try:
            await finished_request(
                ledger,
                "er-q55y63yv44m1",
                {s: RETAINED for s in systems},
                received_at=NOW + timedelta(days=5),
            )
        finally:
            await ledger.dispose()

    asyncio.run(more())
    capsys.readouterr()
    assert lethe("audit", "list") == 0
    out = capsys.readouterr().out
    assert "er-q55y63yv44m1" in out and "completed_with_exceptions" in out


def test_list_by_outcome_is_what_stands_now(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def listed(*args: str) -> list[str]:
        capsys.readouterr()
        assert lethe("audit", "list", "--json", *args) == 0
        return [r["request_id"] for r in json.loads(capsys.readouterr().out)]

    assert listed("--outcome", "failed") == ["er-c"]
    asyncio.run(_later_round(home, "er-c"))  # crm: failed in round 0, erased by a retry
    asyncio.run(_later_round(home, "er-a"))  # crm: kept in round 0, erased by the sweeper
    assert listed("--outcome", "failed") == []
    assert listed("--system", "crm", "--outcome", "erased") == ["er-c", "er-a"]
    assert listed("--system", "crm", "--outcome", "retained") == ["er-d"]
    assert listed("--system", "crm") == ["er-d", "er-c", "er-a"]  # reached crm, in any round


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("audit", "list", "--since", "yesterday"), 2, "expected a date like 2026-01-31"),
        (
            ("audit", "list", "--since", "2026-03-01", "--until", "2026-02-01"),
            1,
            "--since must come before",
        ),
        (("audit", "list", "--outcome", "vanished"), 2, "'vanished' is not one of"),
        (("audit", "list", "--system", "Bad Name"), 2, "is not a system name"),
        (("audit", "list", "--jurisdiction", "mars"), 2, "'mars' is not one of"),
        (("audit", "export", "--format", "xml"), 2, "'xml' is not one of"),
        (("audit", "export", "--format", "csv", "--json"), 1, "give -o FILE"),
        (("audit", "certificate", "er-a", "-o", "cert.pdf"), 1, "ends in .json or .html"),
        (("audit", "certificate", "er-zz", "-o", "c.json"), 4, "no erasure request"),
        (("audit", "certificate", "er-d", "-o", "c.json"), 1, "has not been sealed yet"),
        (("audit", "verify"), 2, "give a certificate FILE or --log"),
        (("audit", "verify", "a.json", "b.json"), 2, "one certificate at a time"),
        (("audit", "verify", "--log", "nope.json"), 1, "no such file"),
        (("audit", "verify", "c.json"), 2, "exactly one --public-key"),
        (
            ("audit", "verify", "c.json", "--public-key", "nope.pem"),
            1,
            "cannot read the public key",
        ),
        (("audit", "show", "er-zz"), 4, "no erasure request"),
    ],
)
def test_bad_input_is_one_line(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    assert lethe(*args) == code
    assert message in one_line_error(capsys)
    assert not Path("cert.pdf").exists() and not Path("c.json").exists()


def test_auditors_commands_create_nothing_where_there_is_no_ledger(
    bare_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pointed at the wrong place, an auditor is told so: no empty ledger (whose empty log
    would verify), no keys, nothing written."""
    for args in (("verify", "--log"), ("list",), ("export",), ("show", "er-a")):
        assert lethe("audit", *args) == 78
        assert "no ledger at" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_log_is_not_verified(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def empty() -> None:
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{lethe_home / 'lethe.db'}")
        await upgrade_schema(engine)
        await engine.dispose()

    asyncio.run(empty())
    load_signing_key(lethe_home)  # a worker ran once, and sealed nothing
    assert lethe("audit", "verify", "--log") == 3
    assert "the proof log is empty" in one_line_error(capsys)
    (lethe_home / "elsewhere.db").write_bytes(b"")  # a file, but no ledger in it
    monkeypatch.setenv("LETHE_DATABASE_URL", f"sqlite+aiosqlite:///{lethe_home / 'elsewhere.db'}")
    assert lethe("audit", "list") == 78
    assert "holds no Lethe ledger" in one_line_error(capsys)

    async def older() -> None:
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{lethe_home / 'older.db'}")
        await upgrade_schema(engine, "0002_proof_log")
        await engine.dispose()

    asyncio.run(older())
    monkeypatch.setenv("LETHE_DATABASE_URL", f"sqlite+aiosqlite:///{lethe_home / 'older.db'}")
    assert lethe("audit", "list") == 78
    assert "has schema 0002_proof_log; this Lethe reads" in one_line_error(capsys)


def test_public_key_needs_a_key(bare_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("audit", "public-key") == 78
    assert "no signing key yet" in one_line_error(capsys)


def test_unreadable_certificate_and_key(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "k.pem"
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "lethe-erasure-certificate/1", "format": "x"}')
    capsys.readouterr()
    assert lethe("audit", "verify", str(bad), "--public-key", str(pem)) == 1
    assert "appears twice" in one_line_error(capsys)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert lethe("audit", "verify", str(bad), "--public-key", str(junk)) == 1
    assert "not an Ed25519 public key" in one_line_error(capsys)


def test_the_certificate_page_names_the_issuer_of_the_configuration(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lethe.toml"
    config.write_text(
        '[issuer]\norganisation = "Example Forum Ltd <Legal>"\ncontact = "privacy@example.org"\n'
    )
    monkeypatch.setenv("LETHE_CONFIG", str(config))
    page, pem = tmp_path / "a.html", tmp_path / "log.pem"
    assert lethe("audit", "certificate", "er-a", "-o", str(page)) == 0
    assert lethe("audit", "public-key", "-o", str(pem)) == 0
    text = page.read_text()
    assert '<div class="issuer"><strong>Example Forum Ltd &lt;Legal&gt;</strong>' in text
    assert "privacy@example.org" in text
    capsys.readouterr()
    monkeypatch.delenv("LETHE_CONFIG")  # the auditor needs no configuration to check it
    assert lethe("audit", "verify", str(page), "--public-key", str(pem)) == 0
    assert "VERIFIED" in capsys.readouterr().out
