"""``lethe api-client`` and ``lethe serve`` as an engineer runs them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from ledger.api_clients import token_digest
from lethe.devserver import free_port
from tests.support.cli import LETHE, lethe, one_line_error


def _rows(home: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(home / "lethe.db") as db:
        return list(db.execute("SELECT name, token_hash, revoked_at FROM api_clients"))


def test_api_clients_are_added_listed_and_revoked_and_only_digests_are_kept(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("api-client", "add", "portal", "--scope", "intake", "--json") == 0
    added = json.loads(capsys.readouterr().out)
    assert added["scopes"] == ["intake"] and added["token"].startswith("lethe_ac-")
    [(name, digest, revoked)] = _rows(lethe_home)
    assert (name, digest, revoked) == ("portal", token_digest(added["token"]), None)

    assert lethe("api-client", "add", "ops", "--scope", "operate", "--scope", "audit") == 0
    said = capsys.readouterr().out
    assert "Added API client ops" in said and "shown once" in said
    assert lethe("api-client", "list", "--json") == 0
    listed = capsys.readouterr().out
    assert [c["name"] for c in json.loads(listed)] == ["portal", "ops"]
    assert added["token"] not in listed and "token" not in listed

    assert lethe("api-client", "add", "portal", "--scope", "audit") == 1
    assert "an API client named 'portal' exists already" in one_line_error(capsys)
    assert lethe("api-client", "add", "x", "--scope", "admin") == 1
    assert "unknown scope 'admin': use one of intake, operate, audit" in one_line_error(capsys)
    assert lethe("api-client", "add", "Bad Name", "--scope", "audit") == 1
    assert "API client name 'Bad Name'" in one_line_error(capsys)
    assert len(_rows(lethe_home)) == 2  # nothing written by the refusals

    assert lethe("api-client", "revoke", "portal") == 0
    assert "Revoked API client portal" in capsys.readouterr().out
    assert [r[2] is not None for r in _rows(lethe_home)] == [True, False]
    assert lethe("api-client", "revoke", "nobody") == 4
    assert "no API client 'nobody'" in one_line_error(capsys)


def test_serve_without_the_web_extra_says_which_extra_in_one_line(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # what an install without it has
    assert lethe("serve") == 1
    assert one_line_error(capsys) == (
        "lethe: error: lethe serve needs the web extra (FastAPI, uvicorn): pip install 'lethe[web]'"
    )


def test_serve_without_temporal_is_one_line_not_a_traceback(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("serve", "--port", "0") == 69  # LETHE_TEMPORAL_ADDRESS is a closed port
    assert "127.0.0.1:9" in one_line_error(capsys)


def test_the_real_lethe_serve_program_answers_and_stops_cleanly(
    dev_server_env: WorkflowEnvironment,
    lethe_home: Path,
    capsys: pytest.CaptureFixture[str],
    key_environment: dict[str, str],
) -> None:
    address = dev_server_env.client.service_client.config.target_host
    os.environ["LETHE_TEMPORAL_ADDRESS"] = address  # bare_home restores it
    assert lethe("api-client", "add", "ops", "--scope", "operate", "--json") == 0
    token = json.loads(capsys.readouterr().out)["token"]
    port = free_port()
    server = subprocess.Popen(
        [LETHE, "serve", "--port", str(port)],
        env={**os.environ, "LETHE_LOG_LEVEL": "INFO"},
        cwd=lethe_home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                doc = httpx.get(f"{base}/openapi.json")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                time.sleep(0.05)
        assert doc.json()["info"]["title"] == "Lethe"
        listed = httpx.get(f"{base}/v1/requests", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and listed.json() == {"requests": [], "more": False}
        refused = httpx.get(f"{base}/v1/requests")
        assert refused.status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Traceback" not in err
    assert f"Serving the HTTP API on http://127.0.0.1:{port}" in out
    # The log names routes, never a path with its id or the client's address.
    logged = (out + err).replace(f"http://127.0.0.1:{port}", "")
    assert "route=/v1/requests" in logged and "127.0.0.1" not in logged
