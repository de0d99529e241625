"""An operator's mistakes and what ``lethe status``/``list`` tell them, in process, on a real
SQLite ledger (the verbs that need a cluster run in tests/test_operator_end_to_end.py)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger import (
    ControllerReferral,
    DeadlineRecords,
    DeadlineTerms,
    ErasureRequestRecord,
    Ledger,
    OutcomeEntry,
    SubjectVault,
    create_ledger_engine,
    upgrade_schema,
)
from lethe.attention import next_steps
from lethe.cli import main
from lethe.devserver import DevServer, free_port
from lethe.errors import UnreachableError
from lethe.keys import load_keyring
from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    return lethe_home


async def _open(
    home: Path,
    request_id: str,
    *,
    status: str,
    due_in: timedelta,
    verification: str = "operator",
    failed: str | None = None,
) -> None:
    """A request as intake and the workflow leave it: receipt, clock, status (and a failure)."""
    keys = load_keyring(home)
    engine = create_ledger_engine(f"sqlite+aiosqlite:///{home / 'lethe.db'}")
    await upgrade_schema(engine)
    ledger = Ledger(engine, SubjectVault(keys.vault))
    now = datetime.now(UTC)
    try:
        await ledger.open_request(
            request_id=request_id,
            subject_ref="ps_" + request_id.encode().hex()[:32].ljust(32, "0"),
            jurisdiction="gdpr",
            verification_method=verification,
            channel="cli",
            systems=["crm"],
            workflow_id=f"erasure/{request_id}",
            received_at=now - timedelta(days=3),
            due_at=now + due_in,
            sealed=SubjectVault(keys.vault).seal(request_id, {"email": "ada@example.org"}),
            actor="cli",
        )
        await DeadlineRecords(ledger).open_clock(
            request_id,
            DeadlineTerms(
                timezone="UTC",
                answer_rule="gdpr",
                due_at=now + due_in,
                acknowledge_by=now - timedelta(days=2),
                acknowledge_rule="policy",
                extension_limit=now + due_in + timedelta(days=15),
                no_extension_because=None,
            ),
        )
        if failed is not None:
            await ledger.begin_system(
                request_id, failed, 0, connector="sql", connector_version="1", at=now
            )
            await ledger.finish_system(
                request_id, failed, 0, OutcomeEntry("failed", error="connection refused"), at=now
            )
        await ledger.set_status(request_id, status, at=now, actor="lethe")
    finally:
        await ledger.dispose()


def seed(home: Path, request_id: str, **kwargs: object) -> None:
    asyncio.run(_open(home, request_id, **kwargs))  # type: ignore[arg-type]


# -- settings an operator gets wrong ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/lethe",  # psycopg: not installed
        "mysql://root@127.0.0.1/lethe",  # MySQLdb: not installed
        "sqlite:///ledger.db",  # installed, but not async
        "nosuchdb://host/x",
    ],
)
def test_a_ledger_url_without_an_async_driver_is_a_setting_to_fix(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LETHE_DATABASE_URL", url)
    assert lethe("list") == 78
    err = one_line_error(capsys)
    assert "needs an installed async driver" in err and "postgresql+asyncpg://" in err
    assert not (configured.parent / "ledger.db").exists()


def test_a_config_file_that_is_not_utf8(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lethe_home.parent / "lethe.toml").write_bytes(b"\xff\xfe[systems]\n")
    assert lethe("list") == 78
    assert "not UTF-8 text" in one_line_error(capsys)


def test_a_home_that_cannot_hold_the_keys(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = configured.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LETHE_HOME", str(blocker))
    assert lethe("list") == 78
    assert "run `lethe init`" in one_line_error(capsys)
    assert lethe("init") == 78
    assert "set LETHE_HOME to a writable directory" in one_line_error(capsys)


@pytest.mark.parametrize(
    "address", ["127.0.0.1:99999", "http://127.0.0.1:7233", "localhost", "127.0.0.1:"]
)
def test_a_temporal_address_that_is_not_host_and_port(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    address: str,
) -> None:
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", address)
    assert lethe("submit", "ada@example.org") == 78
    assert "must be host:port" in one_line_error(capsys)
    assert written(configured) == {}


def test_a_command_group_alone_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert lethe("hold") == 2
    out = capsys.readouterr()
    assert "release" in out.out
    assert out.err.strip() == "lethe: error: `lethe hold` needs a command (listed above)"
    assert lethe() == 2
    assert "submit" in capsys.readouterr().out


def test_as_a_program_it_exits_without_interpreter_teardown(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Temporal client's threads can abort a normal teardown (temporalio/sdk-python#300)."""
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr("sys.argv", ["lethe", "status", "er-nope"])
    with pytest.raises(SystemExit):
        main()
    assert exits == [4]
    assert "no erasure request with id 'er-nope'" in one_line_error(capsys)


def test_the_dev_server_says_which_port_is_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = DevServer(port=free_port(), ui_port=busy.getsockname()[1], ui=True)
        with pytest.raises(UnreachableError, match="--ui-port"):
            asyncio.run(server.start())
        assert server.process is None


# -- empty or over-long arguments: mistakes, never defaults --------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("submit", "ada@example.org", "-j", ""), "unknown jurisdiction ''"),
        (("submit", "ada@example.org", "--verification", " "), "unknown verification method ''"),
        (("extend", "er-x", "--reason", "complex", "--until", ""), "--until is empty"),
        (("approve", "er-x", "--reason", "called back", "--operator", ""), "--operator is empty"),
        (
            ("hold", "add", "--subject", "ada@example.org", "--reason", "case 1", "--until", ""),
            "--until must be a date",
        ),
        (
            ("hold", "add", "--subject", "ada@example.org", "--reason", "c", "--review-on", ""),
            "--review-on must be a date",
        ),
        (
            ("hold", "add", "--subject", "a@example.org", "--reason", "c", "--operator", "k" * 101),
            "at most 100 characters",
        ),
        (("list", "--status", "awaiting"), "'awaiting' is not one of"),
        (("list", "--due-within", "99999999d"), "longer than 100 years"),
    ],
)
def test_empty_and_out_of_range_arguments_are_refused_and_write_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert lethe(*args) in {1, 2}
    assert message in one_line_error(capsys)
    assert lethe("hold", "list", "--all", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert lethe("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_jurisdiction_in_capitals_is_understood(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    assert lethe("submit", "ada@example.org", "-j", "CCPA") == 69  # past validation
    assert "cannot reach Temporal" in one_line_error(capsys)


# -- what list and status tell an operator ------------------------------------------------------


def test_list_filters_by_status_before_the_limit(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(configured, "er-late1", status="erasing", due_in=timedelta(days=-3))
    seed(configured, "er-late2", status="awaiting_verification", due_in=timedelta(days=-1))
    seed(configured, "er-stuck", status="escalated", due_in=timedelta(days=5))
    args = ("list", "--overdue", "--status", "awaiting_verification", "--limit", "1", "--json")
    assert lethe(*args) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert found["request_id"] == "er-late2"
    # A summary: the outcomes and events are status's (no empty lists that look like "none").
    assert "outcomes" not in found and "events" not in found and found["status"]
    assert lethe("list", "--limit", "2") == 0
    assert "Showing the first 2; --limit N shows more." in capsys.readouterr().out
    assert lethe("list", "--limit", "3") == 0
    assert "--limit N" not in capsys.readouterr().out
    assert lethe("list", "--status", "escalated", "--json") == 0
    assert [r["request_id"] for r in json.loads(capsys.readouterr().out)] == ["er-stuck"]
    assert lethe("audit", "list", "--status", "escalated", "--json") == 0
    assert [r["request_id"] for r in json.loads(capsys.readouterr().out)] == ["er-stuck"]


def test_status_shows_the_clock_and_what_the_operator_does_next(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(configured, "er-wait", status="awaiting_verification", due_in=timedelta(days=10))
    assert lethe("status", "er-wait") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "9 day(s) left" in out
    assert "may be extended once" in out
    assert "receipt not acknowledged yet" in out
    assert "Next: an operator confirms who asks: lethe approve er-wait --reason" in out

    seed(configured, "er-late", status="erasing", due_in=timedelta(days=-2), verification="email")
    assert lethe("status", "er-late") == 0
    assert "OVERDUE by 2 day(s)" in capsys.readouterr().out

    seed(configured, "er-fail", status="partially_failed", due_in=timedelta(days=9), failed="crm")
    assert lethe("status", "er-fail") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Next: crm failed: lethe retry er-fail --system crm --reason" in out
    assert "day(s) left" not in out  # a finished request has no time left to count

    # Still open (another system waits, say): the failed one is retried now, not "later".
    seed(configured, "er-open", status="erasing", due_in=timedelta(days=9), failed="crm")
    assert lethe("status", "er-open") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Next: crm failed: lethe retry er-open --system crm --reason" in out
    assert "once the request has finished" not in out

    assert lethe("status", "er-wait", "--json") == 0
    clock = json.loads(capsys.readouterr().out)["clock"]
    assert clock["answer_rule"] == "gdpr" and clock["acknowledged_at"] is None
    assert clock["extended_at"] is None and clock["extension_limit"]


def test_an_instruction_for_a_system_the_request_does_not_have(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(configured, "er-wait", status="erasing", due_in=timedelta(days=10))
    args = ("controller-instruction", "er-wait", "--system", "lsm", "--erase", "--reason", "x")
    assert lethe(*args) == 1
    assert "er-wait has no system 'lsm' (its systems: crm)" in one_line_error(capsys)


@pytest.mark.parametrize("verb", ["approve", "cancel"])
def test_a_pasted_request_id_with_spaces_is_found(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
) -> None:
    """As status, verify, extend and retry do: the id is found, then Temporal is needed."""
    seed(configured, "er-wait", status="awaiting_verification", due_in=timedelta(days=10))
    monkeypatch.setenv("LETHE_TEMPORAL_ADDRESS", "127.0.0.1:9")
    assert lethe(verb, " er-wait ", "--reason", "called back") == 69
    assert "cannot reach Temporal" in one_line_error(capsys)


def test_next_steps_for_referrals_waiting_and_escalated() -> None:
    now = datetime.now(UTC)
    rec = ErasureRequestRecord(
        request_id="er-ref",
        status="escalated",
        verification_method="operator",
        completed_at=None,
    )

    def referral(state: str) -> ControllerReferral:
        return ControllerReferral(
            request_id="er-ref", system="lms", controller="acme", state=state, answer_by=now
        )

    [waiting] = next_steps(rec, {}, [referral("awaiting")])
    assert waiting.startswith("lms: acme's instruction (asked until ")
    assert "lethe controller-instruction er-ref --system lms" in waiting
    [escalated] = next_steps(rec, {}, [referral("escalated")])
    assert "an operator decides: lethe controller-instruction er-ref --system lms" in escalated
    assert next_steps(rec, {}, [referral("instructed")]) == []
