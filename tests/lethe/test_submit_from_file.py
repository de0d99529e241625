"""``lethe submit --from FILE`` where nothing reaches Temporal: a file with bad lines submits
nothing, each bad line is reported by its number and never by its values, and a line that
cannot be written (no server) is not half-written. The file submitted for real, against the
dev server, is in tests/test_submit_from_file.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.support.cli import lethe, one_line_error
from tests.support.ledger_state import written

from .test_cli import CONFIG

SECRETS = ("ada@example.org", "grace@example.org", "adal_1815", "kim@example.org")


@pytest.fixture
def configured(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (lethe_home.parent / "lethe.toml").write_text(CONFIG)
    monkeypatch.setenv("LETHE_OPERATOR", "kim")
    return lethe_home


def stdin(monkeypatch: pytest.MonkeyPatch, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def errors_of(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert all(line.startswith("lethe: ") for line in lines), err
    assert "Traceback" not in err
    return lines


def test_a_bad_line_in_the_middle_submits_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "email,jurisdiction,username\n"
        "\n"
        "ada@example.org,gdpr,adal_1815\n"
        "not-an-address,gdpr,\n"
        "grace@example.org,mars,\n"
        "Ada@Example.org,gdpr,\n"  # the same person as line 3, written otherwise
        "kim@example.org,ccpa,\n"
    )
    assert lethe("submit", "--from", str(requests)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = errors_of(err)
    assert lines[0].startswith("lethe: error: line 4: invalid email address")
    assert lines[1] == "lethe: error: line 5: unknown jurisdiction 'mars': use one of gdpr, ccpa"
    assert lines[2].startswith("lethe: error: line 6: the same person as line 3")
    assert lines[3] == (
        "lethe: 3 of 5 line(s) failed (lines 4, 5, 6): nothing was submitted"
        " (fix them, or --keep-going submits the others)"
    )
    assert len(lines) == 4
    for secret in (*SECRETS, "not-an-address", "Ada@Example"):
        assert secret not in err
    assert written(configured) == {}


def test_json_says_what_became_of_every_line(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(
        monkeypatch,
        '{"email": "ada@example.org", "username": "adal_1815"}\n'
        '{"email": "grace@example.org", "customer_id": ""}\n'
        "\n"
        '{"email": "kim@example.org", "channel": "fax"}\n',
    )
    assert lethe("submit", "--from", "-", "--json") == 1
    out, err = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    assert results == [
        {
            "line": 1,
            "result": "not_submitted",
            "reason": "not submitted: 2 line(s) of the file refused (--keep-going submits the"
            " others)",
        },
        {"line": 2, "result": "failed", "error": "field customer_id has an empty value"},
        {
            "line": 4,
            "result": "failed",
            "error": "unknown channel: use one of email, web-form,"
            " portal, phone, mail, in-person, cli",
        },
    ]
    assert len(errors_of(err)) == 3
    for secret in SECRETS:
        assert secret not in out + err
    assert written(configured) == {}


def test_a_line_that_cannot_be_written_stops_the_batch_and_leaves_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's Temporal address is a closed port: the first line cannot be started.
    stdin(monkeypatch, "email\nada@example.org\ngrace@example.org\n")
    assert lethe("submit", "--from", "-", "--json") == 69
    out, err = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    assert [(r["line"], r["result"]) for r in results] == [(2, "failed"), (3, "not_submitted")]
    assert "cannot reach Temporal" in results[0]["error"]
    assert "line 2 stopped the batch" in errors_of(err)[-1]
    assert written(configured) == {}


def test_keep_going_tries_every_good_line(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, "email\nada@example.org\nnope\ngrace@example.org\n")
    assert lethe("submit", "--from", "-", "--keep-going", "--json") == 69  # line 2's code
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Every line was tried (and failed: no server), none stopped the others.
    assert [(r["line"], r["result"]) for r in results] == [
        (2, "failed"),
        (3, "failed"),
        (4, "failed"),
    ]
    assert written(configured) == {}


@pytest.mark.parametrize(
    ("args", "text", "message"),
    [
        (("--from", "-"), "", "the file holds no request"),
        (("--from", "-"), "nom,address\nx,y\n", "unknown field 'nom'"),
        (("--from", "-"), b"email\n\xff\n", "stdin is not UTF-8 text"),
        (("--from", "no-such-file.csv"), "", "cannot read no-such-file.csv"),
        (("--from", "-", "ada@example.org"), "", "EMAIL goes with one"),
        (("--from", "-", "--wait"), "", "--wait goes with one"),
        (("--from", "-", "--identifier", "username=x"), "", "--identifier goes with one"),
        (("--from", "-", "--operator", "kim"), "email\nada@example.org\n", "--operator names"),
        (("ada@example.org", "--keep-going"), "", "--keep-going goes with --from"),
    ],
)
def test_what_is_wrong_with_the_whole_file_or_command_is_one_line(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    text: str | bytes,
    message: str,
) -> None:
    stdin(monkeypatch, text)
    assert lethe("submit", *args) == 1
    err = one_line_error(capsys)
    assert message in err
    assert "ada@example.org" not in err.replace("ada@example.org goes", "")
    assert written(configured) == {}


def test_a_csv_from_a_spreadsheet_with_a_byte_order_mark(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, "\ufeffEmail;x\n".encode())
    assert lethe("submit", "--from", "-") == 1
    assert "unknown field 'email;x'" in one_line_error(capsys)  # the BOM is not in the name


def test_a_line_without_an_address_says_so(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, "email,username\n,adal_1815\n")  # an empty cell is no value at all
    assert lethe("submit", "--from", "-") == 1
    err = capsys.readouterr().err
    assert errors_of(err)[0] == (
        "lethe: error: line 2: no email: the person's address is the one field every line needs"
    )
    assert "adal_1815" not in err
