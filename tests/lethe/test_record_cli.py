"""The record tells the truth, as the command line shows it (in process, on a real SQLite
ledger): a system not searched for want of an identifier, a final status not sealed yet, an
acknowledgement refused because the request finished first, and text people typed shown as
text. (``retry --identifier`` against a worker runs in tests/test_lifecycle_cli.py.)"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from ledger import (
    DeadlineRecords,
    DeadlineTerms,
    ErasureRequestRecord,
    Ledger,
    OutcomeEntry,
    ProofLog,
    RequestStatuses,
    SubjectVault,
    SubjectVaultEntry,
    TreeHeadSigner,
    create_ledger_engine,
    upgrade_schema,
)
from lethe.keys import load_keyring, load_signing_key
from lethe.runtime import Runtime
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written
from tests.support.requests import ERASED, NOW, RETAINED, finished_request

from .test_cli import CONFIG

T = TypeVar("T")

#: crm could not look people up by customer number: the request carried only the address.
NOT_SEARCHED = OutcomeEntry(
    "not_searched",
    counts={"contacts.deleted": 1},
    retained_counts={"invoices.retained": 2},
    evidence={
        "rows_changed": 1,
        "not_searched": ["orders (no customer_id)"],
        "missing_identifiers": ["customer_id"],
    },
    legal_basis="gdpr-17-3-b",
    basis_note="invoices are kept 10 years under tax law",
    retained_until=date(2036, 1, 31),
)


@pytest.fixture
def home(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    return lethe_home


def with_ledger(home: Path, fn: Callable[[Ledger, ProofLog], Awaitable[T]]) -> T:
    async def go() -> T:
        keys = load_keyring(home)
        engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
        await upgrade_schema(engine)
        ledger = Ledger(engine, SubjectVault(keys.vault))
        try:
            return await fn(ledger, ProofLog(ledger, TreeHeadSigner(load_signing_key(home))))
        finally:
            await ledger.dispose()

    return asyncio.run(go())


def flat(text: str) -> str:
    """Output as one line of words (the console wraps long lines and table cells)."""
    return " ".join(text.split())


# -- not searched -----------------------------------------------------------------------------


def test_a_system_not_searched_is_said_so_everywhere(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed(ledger: Ledger, log: ProofLog) -> None:
        await finished_request(ledger, "er-ns", {"crm": NOT_SEARCHED, "forum": ERASED})
        await log.seal("er-ns", at=NOW)

    with_ledger(home, seed)
    # A partial erase with a system not searched is not complete: partially_failed.
    assert lethe("status", "er-ns", "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "partially_failed" and record["sealed"] is True
    crm = next(o for o in record["outcomes"] if o["system"] == "crm")
    assert crm["outcome"] == "not_searched" and crm["missing_identifiers"] == ["customer_id"]
    assert crm["counts"] == {"contacts.deleted": 1}
    assert record["retained_exceptions"][0]["state"] == "open"  # what it kept, and why

    assert lethe("status", "er-ns") == 0
    out = flat(capsys.readouterr().out)
    assert "NOT SEARCHED: the request has no customer_id" in out, out
    assert (
        "Next: crm was not searched: the request has no customer_id; find it out, then lethe"
        " retry er-ns --system crm --identifier customer_id=- --reason '…'"
    ) in out, out
    assert "being sealed" not in out

    assert lethe("audit", "show", "er-ns") == 0
    out = flat(capsys.readouterr().out)
    assert "NOT SEARCHED: the request has no customer_id" in out
    assert "Erasure not done yet: a system failed, was not searched" in out

    assert lethe("audit", "export", "--format", "jsonl") == 0
    [row] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["systems_not_searched"] == ["crm (no customer_id)"]
    assert row["systems_failed"] == [] and row["nature_of_response"].startswith("deletion failed")
    assert lethe("audit", "export") == 0
    [cells] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert cells["systems_not_searched"] == "crm (no customer_id)"

    page = tmp_path / "cert.html"
    assert lethe("audit", "certificate", "er-ns", "-o", str(page)) == 0
    html = page.read_text()
    assert "<th>Not searched</th>" in html and "the request had no customer_id" in html
    assert "invoices are kept 10 years under tax law" in html  # its exception is listed
    assert lethe("audit", "public-key", "-o", str(tmp_path / "log.pem")) == 0
    capsys.readouterr()
    assert lethe("audit", "verify", str(page), "--public-key", str(tmp_path / "log.pem")) == 0


def test_every_system_failed_or_not_searched_is_failed(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed(ledger: Ledger, log: ProofLog) -> None:
        down = OutcomeEntry("failed", error="connection refused")
        await finished_request(ledger, "er-f", {"crm": NOT_SEARCHED, "forum": down})

    with_ledger(home, seed)
    assert lethe("list", "--status", "failed", "--json") == 0
    [summary] = json.loads(capsys.readouterr().out)
    assert summary["request_id"] == "er-f" and summary["status"] == "failed"
    assert lethe("audit", "export", "--format", "jsonl", "--status", "failed") == 0
    [row] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["nature_of_response"].endswith("in every system")
    assert row["systems_failed"] == ["forum"] and row["systems_not_searched"] == [
        "crm (no customer_id)"
    ]


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("shoe_size=44", "unknown identifier kind 'shoe_size'"),
        ("customer_id=", "--identifier customer_id has an empty value"),
        ("customer_id", "is not KIND=VALUE"),
        ("email=ada@example.org", "the address is the request's EMAIL argument"),
    ],
)
def test_an_identifier_to_add_is_checked_like_submits(
    home: Path, capsys: pytest.CaptureFixture[str], identifier: str, message: str
) -> None:
    assert (
        lethe("retry", "er-1", "--system", "crm", "--reason", "r", "--identifier", identifier) == 1
    )
    err = one_line_error(capsys)
    assert message in err and "ada@example.org" not in err and "44" not in err
    assert written(home) == {}  # refused before anything is written


def test_an_identifier_the_request_holds_otherwise_is_refused_and_not_repeated(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed(ledger: Ledger, log: ProofLog) -> None:
        await finished_request(ledger, "er-ns", {"crm": NOT_SEARCHED})
        assert ledger.vault is not None
        async with ledger.session() as s, s.begin():
            entry = await s.get(SubjectVaultEntry, "er-ns")
            assert entry is not None
            sealed = ledger.vault.seal("er-ns", {"email": "ada@example.org", "customer_id": "C-1"})
            entry.wrapped_key, entry.ciphertext = sealed.wrapped_key, sealed.ciphertext

    with_ledger(home, seed)
    code = lethe(
        "retry", "er-ns", "--system", "crm", "--reason", "found", "--identifier", "customer_id=C-9"
    )
    assert code == 1
    err = one_line_error(capsys)
    assert "already holds a customer_id, with another value" in err
    assert "C-9" not in err and "C-1" not in err

    async def events(ledger: Ledger, log: ProofLog) -> list[str]:
        return [e.kind for e in await ledger.events("er-ns")]

    assert "identifiers_added" not in with_ledger(home, events)


# -- a final status is final once sealed --------------------------------------------------------


def test_a_final_status_is_shown_as_being_sealed_until_it_is(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed(ledger: Ledger, log: ProofLog) -> None:
        await finished_request(ledger, "er-u", {"forum": ERASED})

    with_ledger(home, seed)
    assert lethe("status", "er-u") == 0
    out = flat(capsys.readouterr().out)
    assert "completed (being sealed: final once its receipts are in the proof log)" in out
    assert lethe("list") == 0
    assert "completed (being sealed)" in flat(capsys.readouterr().out)
    assert lethe("audit", "list") == 0
    assert "completed (being sealed)" in flat(capsys.readouterr().out)
    assert lethe("audit", "show", "er-u") == 0
    assert "being sealed" in flat(capsys.readouterr().out)
    assert lethe("list", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["sealed"] is False

    async def seal(ledger: Ledger, log: ProofLog) -> None:
        await log.seal("er-u", at=NOW)

    with_ledger(home, seal)
    for args in (("status", "er-u"), ("list",), ("audit", "list"), ("audit", "show", "er-u")):
        assert lethe(*args) == 0
        assert "being sealed" not in capsys.readouterr().out, args
    assert lethe("status", "er-u", "--json") == 0
    assert json.loads(capsys.readouterr().out)["sealed"] is True

    # A later round changes the status: not final again until that is sealed too.
    async def round_(ledger: Ledger, log: ProofLog) -> None:
        later = NOW + timedelta(days=3)
        await ledger.begin_system(
            "er-u", "forum", 1, connector="sql", connector_version="1", at=later
        )
        await ledger.finish_system("er-u", "forum", 1, RETAINED, at=later)
        status = await RequestStatuses(ledger).after_round(
            "er-u", at=later, actor="lethe", detail={}
        )
        assert status == "completed_with_exceptions"

    with_ledger(home, round_)
    assert lethe("status", "er-u") == 0
    assert "completed_with_exceptions (being sealed" in flat(capsys.readouterr().out)


# -- an acknowledgement refused leaves a trace --------------------------------------------------


async def _finished_with_a_clock(ledger: Ledger, log: ProofLog) -> None:
    await finished_request(ledger, "er-a", {"forum": ERASED}, received_at=datetime.now(UTC))
    now = datetime.now(UTC)
    await DeadlineRecords(ledger).open_clock(
        "er-a",
        DeadlineTerms(
            timezone="UTC",
            answer_rule="gdpr",
            due_at=now + timedelta(days=28),
            acknowledge_by=now + timedelta(days=1),
            acknowledge_rule="policy",
            extension_limit=None,
            no_extension_because=None,
        ),
    )


async def _refusals(ledger: Ledger, log: ProofLog) -> list[dict[str, Any]]:
    return [
        {"actor": e.actor, **e.detail}
        for e in await ledger.events("er-a")
        if e.kind == "acknowledgement_refused"
    ]


def test_an_acknowledgement_for_a_finished_request_is_refused_and_recorded(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_ledger(home, _finished_with_a_clock)
    code = lethe("acknowledge", "er-a", "--channel", "phone", "--reason", "called, log 7")
    assert code == 1
    assert "it has finished (completed)" in one_line_error(capsys)
    [trace] = with_ledger(home, _refusals)
    assert trace["actor"] == "operator:kim" and trace["channel"] == "phone"
    assert trace["reason"] == "called, log 7" and "finished" in trace["refused_because"]


def test_an_acknowledgement_the_request_refuses_as_it_finishes_is_recorded(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: open when the operator looked, finished when the update arrived."""

    async def open_again(ledger: Ledger, log: ProofLog) -> None:
        await _finished_with_a_clock(ledger, log)
        await ledger.set_status("er-a", "erasing", at=NOW, actor="lethe")
        async with ledger.session() as s, s.begin():
            rec = await s.get(ErasureRequestRecord, "er-a")
            assert rec is not None
            rec.completed_at = None

    class Handle:
        async def describe(self) -> SimpleNamespace:
            # Closed when looked at: the update itself is left to answer (no worker check).
            return SimpleNamespace(status=WorkflowExecutionStatus.COMPLETED)

        async def execute_update(self, *_: object, **__: object) -> None:
            raise WorkflowUpdateFailedError(
                ApplicationError("the request has already finished (completed)")
            )

    class Client:
        def get_workflow_handle_for(self, *_: object) -> Handle:
            return Handle()

    async def client(self: Runtime) -> Client:
        return Client()

    monkeypatch.setattr(Runtime, "client", client)
    with_ledger(home, open_again)
    assert lethe("acknowledge", "er-a", "--channel", "mail", "--reason", "letter 12") == 1
    assert "the request has already finished (completed)" in one_line_error(capsys)
    [trace] = with_ledger(home, _refusals)
    assert trace["channel"] == "mail" and trace["reason"] == "letter 12"


# -- what people typed is shown as text ---------------------------------------------------------

HOSTILE = "[/] [bold red]x \x1b[2J\x1b[31mred\r:x: \u202eevil"


def test_markup_and_terminal_control_in_typed_text_are_shown_as_text(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reasons, operator names and errors that hold Rich markup, ANSI escapes, a carriage
    return or a bidi override: every human output shows them as text and nothing crashes."""

    async def seed(ledger: Ledger, log: ProofLog) -> None:
        down = OutcomeEntry("failed", error=f"refused: {HOSTILE}")
        await finished_request(ledger, "er-x", {"crm": down, "forum": ERASED})
        await ledger.set_status(
            "er-x",
            "partially_failed",
            at=NOW,
            actor=f"operator:{HOSTILE}",
            reason=f"why: {HOSTILE}",
        )
        await ledger.add_event(
            "er-x", "note", at=NOW, actor=f"operator:{HOSTILE}", detail={"reason": HOSTILE}
        )
        await log.seal("er-x", at=NOW)

    with_ledger(home, seed)
    for args in (
        ("status", "er-x", "--events"),
        ("list",),
        ("audit", "show", "er-x"),
        ("audit", "list"),
    ):
        assert lethe(*args) == 0, args
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out, (args, out)
        if args[0] != "list" and args[:2] != ("audit", "list"):
            assert "[/] [bold red]x" in out, (args, out)  # as typed, not as markup
            assert "\\x1b[2J" in out and "\\r" in out and "\\u202e" in out, (args, out)
    # An error message that quotes what someone typed: one line, shown as text.
    assert lethe("status", f"er-{HOSTILE}") == 4
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err and "\r" not in err
    # Typed on the command line itself: kept as typed (scrubbed), shown as text.
    assert lethe("hold", "add", "--pseudonym", "ps_" + "0" * 32, "--reason", HOSTILE) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    assert lethe("hold", "list", "--json") == 0
    [held] = json.loads(capsys.readouterr().out)
    assert held["reason"] == HOSTILE  # the record keeps what was typed; output escapes it
    with_ledger(home, _finished_with_a_clock)
    typed = ("acknowledge", "er-a", "--channel", "phone", "--reason", HOSTILE)
    assert lethe(*typed, "--operator", f"kim {HOSTILE}") == 1
    assert "\x1b" not in one_line_error(capsys)
    assert lethe("audit", "show", "er-a") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    refused = next(x for x in out.splitlines() if "acknowledgement_refused  " in x)
    assert "operator:kim [/] [bold red]x \\x1b[2J" in refused  # the name, as typed
    assert "reason=[/] [bold red]x \\x1b[2J\\x1b[31mred\\r:x: \\u202eevil" in refused
