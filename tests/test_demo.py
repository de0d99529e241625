"""`lethe demo` as a newcomer runs it: a fresh directory, one command, nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.cli import LETHE, run_in_process, run_program

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def temporal_servers(tag: str | None = None) -> set[int]:
    """PIDs of running `temporal server start-dev` processes; with ``tag``, only those whose
    environment carries ``LETHE_TEST_TAG=tag`` (i.e. started by the process we launched, not by
    some other test run sharing the machine)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                if not (len(cmd) > 2 and cmd[0].endswith(b"temporal")):
                    continue
                if cmd[1:3] != [b"server", b"start-dev"]:
                    continue
                if tag is not None:
                    environ = (entry / "environ").read_bytes().split(b"\0")
                    if f"LETHE_TEST_TAG={tag}".encode() not in environ:
                        continue
            except OSError:
                continue
            pids.add(int(entry.name))
    return pids


TAG = uuid.uuid4().hex


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env["LETHE_TEST_TAG"] = TAG
    return env


def lethe(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lethe ARGS`` as the newcomer runs it: the real program (``lethe demo`` must leave no
    server running when it exits)."""
    return subprocess.CompletedProcess(args, *run_program(args, _env(), cwd))


def command(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lethe ARGS`` in this process (tests/support/cli.py): reading what the demo left."""
    return subprocess.CompletedProcess(args, *run_in_process(args, _env(), cwd))


def test_demo_runs_end_to_end_and_leaves_a_record(tmp_path: Path) -> None:
    demo = lethe(tmp_path, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    for system in (
        "forum",
        "crm",
        "newsletter",
        "backups",
        "mailchimp",
        "discourse",
        "uploads",
        "archive",
    ):
        assert f"│ {system}" in out
    assert "Final status: completed_with_exceptions" in out
    assert "Bystander check passed" in out
    assert "GDPR Art. 17(3)(b)" in out and "until" in out
    assert not temporal_servers(TAG), "the demo left a Temporal server running"

    listed = command(tmp_path, "list", "--json")
    [request] = json.loads(listed.stdout)
    shown = command(tmp_path, "status", request["request_id"], "--json")
    record = json.loads(shown.stdout)
    assert record["status"] == "completed_with_exceptions"
    assert {o["system"]: o["outcome"] for o in record["outcomes"]} == {
        "forum": "erased",
        "crm": "retained",
        "newsletter": "erased",
        "backups": "retained",
        # The hosted services, through the http connector's presets, on local fakes.
        "mailchimp": "retained",  # deleted permanently; the suppression entry is kept
        "discourse": "erased",  # anonymised: posts kept, author gone
        # The object store and the encrypted archive.
        "uploads": "retained",  # a contract under S3 Object Lock (COMPLIANCE) until 2034
        "archive": "retained",  # the key destroyed; the unreadable archive until it rotates
    }
    assert all(
        e["legal_basis"] and (e["retained_until"] or e["review_on"])
        for e in record["retained_exceptions"]
    )
    kept = {e["system"]: e for e in record["retained_exceptions"]}
    suppression = kept["mailchimp"]
    assert suppression["legal_basis"] == "suppression" and suppression["review_on"]
    counts = {o["system"]: o["counts"] for o in record["outcomes"]}
    assert counts["mailchimp"] == {"members.deleted_permanently": 2}
    assert counts["discourse"] == {"users.anonymised": 1}
    assert kept["uploads"]["legal_basis"] == "gdpr-17-3-b"
    assert kept["uploads"]["retained_until"].startswith("2034-12-31")
    assert kept["archive"]["legal_basis"] == "backup-rotation" and kept["archive"]["retained_until"]
    assert "ada@example.org" not in shown.stdout
    assert (tmp_path / ".lethe" / "demo" / "lethe.toml").exists()

    # The certificate: written under .lethe/, checked by the demo, and checkable by anyone
    # with the public key alone, in a directory that has nothing else.
    rid = request["request_id"]
    cert_json = tmp_path / ".lethe" / "certificates" / f"{rid}.json"
    cert_html = cert_json.with_suffix(".html")
    key = tmp_path / ".lethe" / "proof-log-public-key.pem"
    assert f"Certificate of erasure: {cert_json}" in out and str(cert_html) in out
    assert "only: VERIFIED" in out
    cert = json.loads(cert_json.read_text())
    assert cert["request"]["request_id"] == rid and cert["request"]["deadline"] == "met"
    assert {r["receipt"].get("system") for r in cert["receipts"]} == {
        "forum",
        "crm",
        "newsletter",
        "backups",
        "mailchimp",
        "discourse",
        "uploads",
        "archive",
        None,  # the request's own receipt
    }
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    for path in (cert_json, cert_html):
        checked = lethe(elsewhere, "audit", "verify", str(path), "--public-key", str(key))
        assert checked.returncode == 0 and "VERIFIED" in checked.stdout, checked.stderr
    assert list(elsewhere.iterdir()) == []
    assert "ada@example.org" not in cert_json.read_text() + cert_html.read_text()
    events = [r["receipt"] for r in cert["receipts"] if r["receipt"]["kind"] == "request_event"]
    assert [e["event"] for e in events][:1] == ["received"]
    assert {e["event"] for e in events} >= {"verification_code_accepted", "system_erased"}, events
    # Who acted is beside each event receipt, in its opening, never in the sealed receipt.
    openings = [r["opening"] for r in cert["receipts"] if r["receipt"]["kind"] == "request_event"]
    assert all("actor" not in e and "detail" not in e and e["commitment"] for e in events)
    assert len(openings) == len(events) and all(o["actor"] for o in openings)
    page = cert_html.read_text()
    assert "<h2>What happened, and who did it</h2>" in page
    assert '<td>Received<span class="token">received</span></td>' in page
    assert "8 systems: 3 erased, 5 kept under a legal basis" in page  # the outcome first
    whole = command(tmp_path, "audit", "verify", "--log", "--json")
    assert whole.returncode == 0, whole.stderr
    # the 8 systems' receipts, the request's own, and its events
    assert json.loads(whole.stdout)["receipts"] == 9 + len(events), whole.stdout
    # The demo's lethe.toml names the hosted services' keys by variable, never inline.
    config = (tmp_path / ".lethe" / "demo" / "lethe.toml").read_text()
    assert 'preset = "mailchimp"' in config and 'password_env = "MAILCHIMP_API_KEY"' in config
    assert 'secret_access_key_env = "LETHE_DEMO_S3_SECRET"' in config


def test_demo_json_and_a_second_run(tmp_path: Path) -> None:
    first = lethe(tmp_path, "demo", "--json")
    second = lethe(tmp_path, "demo", "--json")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["ok"] and b["ok"] and b["bystanders"]["problems"] == []
    # One log: the second run's head covers both runs' receipts (systems, state, events).
    both = a["certificate"]["receipts"] + b["certificate"]["receipts"]
    assert a["certificate"]["receipts"] > 9  # 8 systems, the request's state, its events
    assert b["certificate"]["verified"] and b["certificate"]["tree_size"] == both
    assert a["request"]["request_id"] != b["request"]["request_id"]
    # Same person, same pseudonym: that is what lets holds and tombstones find them again.
    assert a["request"]["subject_ref"] == b["request"]["subject_ref"]
    listed = json.loads(command(tmp_path, "list", "--json").stdout)
    assert len(listed) == 2
    # Two seals, one log: each head consistent with the one before.
    whole = json.loads(command(tmp_path, "audit", "verify", "--log", "--json").stdout)
    assert whole["ok"] and whole["signed_heads"] == 2 and whole["receipts"] == both


def test_killing_lethe_dev_takes_its_server_down(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    # Two ports the kernel chose (port + 1 was often the next connection's own port).
    with socket.socket() as s, socket.socket() as ui:
        s.bind(("127.0.0.1", 0))
        ui.bind(("127.0.0.1", 0))
        port, ui_port = s.getsockname()[1], ui.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    tag = uuid.uuid4().hex
    env["LETHE_TEST_TAG"] = tag
    dev = subprocess.Popen(
        [LETHE, "dev", "--port", str(port), "--ui-port", str(ui_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dev.stdout is not None
        line = dev.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line
        # Not the default port: other shells are told how to find it.
        hint = dev.stdout.readline()
        assert f"export LETHE_TEMPORAL_ADDRESS=127.0.0.1:{port}" in hint, hint
        started = temporal_servers(tag)
        assert len(started) == 1
    finally:
        dev.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel must do it
        dev.wait(timeout=10)
    deadline = time.monotonic() + 10
    while temporal_servers() & started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not temporal_servers() & started, "the dev server outlived a killed `lethe dev`"
