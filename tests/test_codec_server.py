"""``lethe codec-server`` as the real ``temporal`` CLI uses it (``--codec-endpoint``,
``--codec-auth``) against the dev server: a request's history decodes with a token and not
without; each decode is a ``payload_decoded`` event in the ledger naming who and which
workflow; CORS is answered for the configured origin only."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import _binary
from tests.support.cli import LETHE, Lethe, lethe, one_line_error

from .lethe.test_cli import CONFIG

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

TOKEN = "kim-codec-token-0123456789"
ORIGIN = "http://localhost:8233"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def show(address: str, wid: str, *codec: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("temporal"), "workflow", "show", "-w", wid, "--address", address,
         "--output", "json", *codec],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def http(
    url: str, method: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def readable(shown: str) -> str:
    """The history ``temporal workflow show -o json`` printed, with every payload's data
    base64-decoded beside it (the CLI prints payloads as protobuf JSON: base64)."""
    texts = [shown]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                texts.append(base64.b64decode(node["data"]).decode(errors="replace"))
                texts.extend(
                    base64.b64decode(v).decode(errors="replace") for v in node["metadata"].values()
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown) if shown.strip() else {})
    return "\n".join(texts)


def decoded_events(home: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(home / "lethe.db") as conn:
        rows = conn.execute(
            "SELECT request_id, actor, detail FROM request_events WHERE kind = 'payload_decoded'"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def unbound_decodes(home: Path) -> list[tuple[str, str | None, int]]:
    with sqlite3.connect(home / "lethe.db") as conn:
        rows = conn.execute(
            "SELECT actor, workflow_id, payloads FROM payload_decodes ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_the_temporal_cli_decodes_through_the_codec_server_with_a_token(
    dev_server_env: WorkflowEnvironment, lethe_home: Path, tmp_path: Path, task_queue: str
) -> None:
    address = dev_server_env.client.service_client.config.target_host
    (tmp_path / "lethe.toml").write_text(
        CONFIG + f'\n[codec_server]\ncors_origins = ["{ORIGIN}"]\n'
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "TEMPORAL_"))},
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "LETHE_TEMPORAL_ADDRESS": address,
        "LETHE_TASK_QUEUE": task_queue,  # no worker: the workflow waits, started
        "LETHE_CODEC_TOKENS": f"kim:{TOKEN},lee:lee-codec-token-9876543210",
    }
    code, out, err = await Lethe(env, tmp_path)(
        "submit", "ada@example.org", "--verification", "operator", "--json"
    )
    assert code == 0, err
    submitted = json.loads(out)
    wid, rid = submitted["workflow_id"], submitted["request_id"]

    server = await asyncio.create_subprocess_exec(
        LETHE, "codec-server", "--port", str(port), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.returncode is None
            await asyncio.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"

        # Without the codec server: ciphertext. With it and a token: the request's input.
        plain = await asyncio.to_thread(show, address, wid)
        assert plain.returncode == 0 and "binary/encrypted" in readable(plain.stdout)
        assert submitted["subject_ref"] not in readable(plain.stdout)
        assert decoded_events(lethe_home) == []
        done = await asyncio.to_thread(
            show, address, wid, "--codec-endpoint", endpoint, "--codec-auth", f"Bearer {TOKEN}"
        )
        assert done.returncode == 0, done.stderr
        shown = readable(done.stdout)
        assert submitted["subject_ref"] in shown and "binary/encrypted" not in shown
        assert "ada@example.org" not in shown  # the input never held the address
        events = decoded_events(lethe_home)
        assert events and all(r == rid and actor == "codec:kim" for r, actor, _ in events)
        assert json.loads(events[0][2])["workflow_id"] == wid

        # No token, or a wrong one: refused, nothing decoded, nothing recorded.
        for auth in ((), ("--codec-auth", "Bearer not-a-token-of-this-server")):
            refused = await asyncio.to_thread(
                show, address, wid, "--codec-endpoint", endpoint, *auth
            )
            assert submitted["subject_ref"] not in readable(refused.stdout or "{}")
        assert len(decoded_events(lethe_home)) == len(events)

        # As a browser (the Web UI) asks: preflight, then the POST with the user's token.
        preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        status, headers, _ = await asyncio.to_thread(
            http, f"{endpoint}/decode", "OPTIONS", preflight
        )
        assert status == 204 and headers.get("Access-Control-Allow-Origin") == ORIGIN
        assert "Authorization" in headers.get("Access-Control-Allow-Headers", "")
        status, headers, _ = await asyncio.to_thread(
            http, f"{endpoint}/decode", "OPTIONS", {**preflight, "Origin": "http://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in headers
        body = json.dumps({"payloads": []}).encode()
        status, _, answer = await asyncio.to_thread(
            http, f"{endpoint}/decode", "POST", {"Content-Type": "application/json"}, body
        )
        assert status == 401 and "bearer token" in json.loads(answer)["error"]
        status, _, answer = await asyncio.to_thread(
            http, f"{endpoint}/decode", "POST",
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, b"not json",
        )  # fmt: skip
        assert status == 400
        # Encode then decode round-trips (what the UI does to signal a workflow).
        payload = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        status, _, enc = await asyncio.to_thread(
            http, f"{endpoint}/encode", "POST", auth, json.dumps({"payloads": [payload]}).encode()
        )
        assert status == 200 and json.loads(enc)["payloads"][0]["data"] != payload["data"]
        unbound_before = unbound_decodes(lethe_home)
        status, _, dec = await asyncio.to_thread(http, f"{endpoint}/decode", "POST", auth, enc)
        assert status == 200 and json.loads(dec)["payloads"] == [payload]
        # Tied to no request (as the retention sweep's payloads are): recorded all the same.
        assert unbound_decodes(lethe_home) == [*unbound_before, ("codec:kim", None, 1)]
        code, out, err = await Lethe(env, tmp_path)("audit", "decodes", "--json")
        assert code == 0, err
        listed = json.loads(out)
        assert len(listed) == len(unbound_before) + 1
        assert listed[-1]["actor"] == "codec:kim" and listed[-1]["workflow_id"] is None
        assert listed[-1]["payloads"] == 1
    finally:
        server.terminate()
        _, stderr = await asyncio.wait_for(server.communicate(), 60)
    assert server.returncode == 0, stderr.decode()
    assert TOKEN not in stderr.decode()


def test_the_codec_server_will_not_start_without_tokens(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lethe("codec-server") == 78
    assert "LETHE_CODEC_TOKENS" in one_line_error(capsys)
    monkeypatch.setenv("LETHE_CODEC_TOKENS", "kim:short")
    assert lethe("codec-server") == 78
    assert "16 characters" in one_line_error(capsys)
