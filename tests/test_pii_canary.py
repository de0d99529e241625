"""The record holds no personal data: canary identifiers go in, and come out nowhere.

People with unique, never-seen-before identifiers are seeded into the demo systems (with the
demo's S3 bucket, on moto's S3 server, and its per-person encrypted archive) and erased
end to end (real worker, real activities, real connectors, real ledger, the Temporal dev
server), through every door personal data has been seen to come in by:

    the request itself      two pre-verified requests, as a portal files them; one an
                            operator files with ``lethe submit``, the address and a username
                            (``--identifier username=-``) read from stdin, erased from a
                            system keyed on usernames
    the HTTP API            one filed by a portal over ``lethe serve``'s API, approved there
                            with a reason naming the person; its requester's status, the
                            operator's view and the dashboard's page are scanned
    operator free text      an operator-verified request: ``hold add``, ``approve``, ``retry``
                            and ``hold release`` each with a reason (and an operator name)
                            naming the person, their address and a phone number; a second one
                            ``extend``-ed and ``cancel``-led the same way
    error paths             a system whose database refuses the delete with an error that
                            quotes the person's name and address (a trigger), queried by name
                            at DEBUG log level (drivers log bound values there)

Then every ledger table, the ledger's database files (and its write-ahead log), everything
under the Lethe home, certificates (JSON and HTML), exports (CSV and JSON Lines), the
auditor's and operator's views, every command's output, every log line, every Temporal
history of the task queue and the retention sweeper's schedule (each payload must be
ciphertext; workflow ids, search attributes and failures are read raw) are searched for the
canaries, in plain text (any case) and in common encodings. The namespace has Lethe's search
attributes registered, so every request's workflow carries them: each value must be one of
the words, dates, flags or system names they may hold.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflowservice.v1 import DescribeScheduleRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from ledger import LegalHolds
from ledger.tables import Base
from lethe.codec import ENCODING
from lethe.demo.hosted import hosted_services
from lethe.demo.run import write_demo_config
from lethe.demo.systems import BUCKET, S3_SECRET_ENV, DemoSystems, seed_demo_systems
from lethe.demo.systems import _s3_client as s3_client
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.logs import configure_logging
from lethe.runtime import load_registry, open_ledger
from lethe.search_attributes import register_search_attributes
from lethe.settings import Settings, SystemConfig, TemporalSettings, build_connectors
from lethe.sweeper import install_sweeper, schedule_id
from tests.support.canary import Canary, find
from tests.support.cli import Lethe
from tests.support.namespaces import fresh_namespace
from tests.support.portal import portal_verification, preverified_draft
from tests.support.s3_server import start as start_s3
from vocabulary import JURISDICTIONS, VERIFICATION_METHODS, RequestStatus
from workflows import STATUS_FROM_LEDGER, VERIFY_NOT_SEARCHED, ErasurePolicy, ErasureWorkflow
from workflows.erasure import LEDGER_STEPS_LOCAL, SYSTEMS_AT_ONCE
from workflows.refusals import RECORD_REFUSED_SIGNALS
from workflows.retention_sweep import CHECK_STALLED_REQUESTS
from workflows.search_attributes import SEARCH_ATTRIBUTES_PATCH
from workflows.system_erasure import ESCALATION_TO_REQUEST, WAIT_FOR_SYSTEM_WORKER

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

FAST = ErasurePolicy(retry_initial_seconds=0.5, retry_max_interval_seconds=1)
PHONE = "+44 20 7946 0958"


def plant(root: Path, people: list[Canary]) -> None:
    """Put the canaries into the forum, CRM (contacts, notes, invoices), newsletter, a
    nightly backup copy of the CRM, and a directory whose database refuses to delete them."""
    with sqlite3.connect(root / "forum.db") as db:
        for n, p in enumerate(people):
            uid = 900 + n
            db.execute(
                "INSERT INTO phpbb_users VALUES (?, ?, ?, ?, '192.0.2.99', 0)",
                (uid, p.name, p.name.lower(), p.email),
            )
            db.execute(
                "INSERT INTO phpbb_posts VALUES (?, 1, 1, ?, '192.0.2.99', ?, ?, 0, 0)",
                (9000 + n, uid, p.name, f"hello from {p.name}"),
            )
    with sqlite3.connect(root / "crm.db") as db:
        for n, p in enumerate(people):
            cid = 900 + n
            db.execute(
                "INSERT INTO contacts VALUES (?, ?, ?, '+1 555 0100', '2025-01-01')",
                (cid, p.email, p.name),
            )
            db.execute("INSERT INTO notes VALUES (?, ?, ?)", (9000 + n, cid, f"{p.name} rang"))
            db.execute(
                "INSERT INTO invoices VALUES (?, ?, ?, 1200, '2025-02-01')",
                (9000 + n, p.email, p.name),
            )
    (root / "backups" / "crm-nightly-canary.db").write_bytes((root / "crm.db").read_bytes())
    with sqlite3.connect(root / "newsletter.db") as db:
        for n, p in enumerate(people):
            db.execute(
                "INSERT INTO subscribers VALUES (?, ?, '2025-01-01', 'active')", (900 + n, p.email)
            )
            db.execute("INSERT INTO deliveries VALUES (?, ?, 'spring')", (9000 + n, 900 + n))
    with sqlite3.connect(root / "directory.db") as db:
        db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT, email TEXT)")
        # SQLite quotes a bad JSON path in its error: a database error that names the person
        # (the "no such column" makes the connector treat it as permanent, so no retries).
        db.execute(
            "CREATE TRIGGER keep BEFORE DELETE ON people BEGIN SELECT json_extract('{}',"
            " 'no such column: ' || OLD.full_name || ' <' || OLD.email || '>'); END"
        )
        db.executemany(
            "INSERT INTO people (full_name, email) VALUES (?, ?)",
            [(p.name, p.email) for p in people],
        )


def plant_stores(demo: DemoSystems, people: list[Canary]) -> None:
    """The canaries' objects in the demo's bucket (a locked contract too), and their keys in
    the archive's key store."""
    assert demo.s3_endpoint is not None
    s3 = s3_client(demo.s3_endpoint)
    for p in people:
        for version in (1, 2):
            body = f"avatar of {p.name}, v{version}".encode()
            s3.put_object(Bucket=BUCKET, Key=f"avatars/{p.email}/me.png", Body=body)
        s3.put_object(
            Bucket=BUCKET,
            Key=f"contracts/{p.email}/signed.pdf",
            Body=f"contract of {p.name}".encode(),
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime(2034, 12, 31, tzinfo=UTC),
        )
    with sqlite3.connect(demo.root / "archive-keys.db") as db:
        db.executemany(
            "INSERT INTO subject_keys (key_id, email, key_material, created_at)"
            " VALUES (?, ?, ?, '2026-01-01 00:00:00')",
            [(f"canary{n:026d}", p.email, os.urandom(32).hex()) for n, p in enumerate(people)],
        )


def plant_logins(root: Path, people: list[Canary]) -> None:
    with sqlite3.connect(root / "accounts.db") as db:
        db.execute("CREATE TABLE logins (id INTEGER PRIMARY KEY, username TEXT NOT NULL)")
        db.executemany("INSERT INTO logins (username) VALUES (?)", [(p.username,) for p in people])


def logins(root: Path) -> list[str]:
    with sqlite3.connect(root / "accounts.db") as db:
        return sorted(r[0] for r in db.execute("SELECT username FROM logins"))


def accounts(root: Path) -> SystemConfig:
    """Keyed by username: only the identifier given with ``--identifier`` finds the row."""
    return SystemConfig(
        "accounts",
        "sql",
        {
            "url": f"sqlite+aiosqlite:///{root / 'accounts.db'}",
            "max_rows": 10,
            "tables": [
                {"table": "logins", "key": "username", "identifier": "username", "action": "delete"}
            ],
        },
    )


def directory(root: Path) -> SystemConfig:
    """Keyed by name (with the address: a name alone identifies no one), so the name is a
    bound value of every query; every delete fails."""
    return SystemConfig(
        "directory",
        "sql",
        {
            "url": f"sqlite+aiosqlite:///{root / 'directory.db'}",
            "max_rows": 10,
            "tables": [
                {
                    "table": "people",
                    "key": "full_name",
                    "identifier": "name",
                    "also": {"email": "email"},
                    "action": "delete",
                }
            ],
        },
    )


def lethe_env(
    settings: Settings, keys: Keyring, signing_seed: bytes, config: Path
) -> dict[str, str]:
    b64 = base64.b64encode
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(settings.home),
        "LETHE_CONFIG": str(config),
        "LETHE_DATABASE_URL": settings.database_url,
        "LETHE_TEMPORAL_ADDRESS": settings.temporal.address,
        "LETHE_TEMPORAL_NAMESPACE": settings.temporal.namespace,
        "LETHE_TASK_QUEUE": settings.temporal.task_queue,
        "LETHE_PSEUDONYM_KEY": b64(keys.pseudonym).decode(),
        "LETHE_VAULT_KEY": b64(keys.vault).decode(),
        "LETHE_PAYLOAD_KEY": b64(keys.payload).decode(),
        "LETHE_SIGNING_KEY": b64(signing_seed).decode(),
        "LETHE_LOG_LEVEL": "DEBUG",
    }


def payloads(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a protobuf message (repeated and map fields too)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items: Any = value.values()
        elif field.is_repeated:
            items = value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Message):
                yield from payloads(item)


#: The ``workflow.patched`` ids of our workflows. The SDK records a patch itself, in plain JSON
#: that no codec sees: the marker (the id and a flag) and the ``TemporalChangeVersion`` search
#: attribute (the ids). Nothing of the request; anything else in plain JSON still fails.
PATCH_IDS = {
    LEDGER_STEPS_LOCAL,
    SEARCH_ATTRIBUTES_PATCH,
    STATUS_FROM_LEDGER,
    SYSTEMS_AT_ONCE,
    VERIFY_NOT_SEARCHED,
    RECORD_REFUSED_SIGNALS,
    WAIT_FOR_SYSTEM_WORKER,
    CHECK_STALLED_REQUESTS,
    ESCALATION_TO_REQUEST,
}


def names_a_patch(p: Payload) -> bool:
    if p.metadata.get("encoding") != b"json/plain":
        return False
    data = json.loads(p.data)
    if isinstance(data, dict):
        return set(data) == {"id", "deprecated"} and data["id"] in PATCH_IDS
    return isinstance(data, list) and bool(data) and set(data) <= PATCH_IDS


#: The request's ledger steps run as local activities (``ledger-steps-local``). Beside each
#: step's result (encrypted, like every payload of ours) the SDK records, in plain JSON that
#: no codec sees, its bookkeeping: sequence number, attempt, id, type, times. Each field is
#: checked for what it may hold; anything else in plain JSON still fails.
LEDGER_STEPS = {
    "confirm_portal_assertion",
    "record_status",
    "plan_erasure",
    "record_answer",
    "seal_request",
}
_TIME_OR_NONE = (dict, type(None))


def describes_a_ledger_step(p: Payload) -> bool:
    if p.metadata.get("encoding") != b"json/plain":
        return False
    data = json.loads(p.data)
    if not isinstance(data, dict) or data.get("activity_type") not in LEDGER_STEPS:
        return False
    times = ("complete_time", "original_schedule_time", "backoff")
    return (
        set(data) <= {"seq", "attempt", "activity_id", "activity_type", "activation_index", *times}
        and all(isinstance(data.get(k, 0), int) for k in ("seq", "attempt", "activation_index"))
        and str(data.get("activity_id", "")).isdigit()
        and all(isinstance(data.get(k), _TIME_OR_NONE) for k in times)
        and all(
            isinstance(v, int)
            for k in times
            if isinstance(data.get(k), dict)
            for v in data[k].values()
        )
    )


#: What Lethe's search attributes may hold: plain JSON (the cluster indexes them), so each is
#: checked against what it may say: a status, a jurisdiction, a method, a date, the
#: configured systems' names, a flag. An identifier in one fails.
def is_a_lethe_search_attribute(p: Payload, systems: set[str]) -> bool:
    if p.metadata.get("encoding") != b"json/plain" or b"type" not in p.metadata:
        return False
    data = json.loads(p.data)
    words = {*RequestStatus, *JURISDICTIONS, *VERIFICATION_METHODS, *systems}
    if isinstance(data, bool):
        return True
    if isinstance(data, list):
        return bool(data) and all(isinstance(v, str) and v in systems for v in data)
    if not isinstance(data, str):
        return False
    if data in words:
        return True
    try:
        datetime.fromisoformat(data)
    except ValueError:
        return False
    return True


async def histories(client: Client, task_queue: str) -> list[tuple[str, bytes, list[Payload]]]:
    """Each workflow of the task queue: its id, its raw history, and every payload in it."""
    out = []
    async for wf in client.list_workflows(f'TaskQueue="{task_queue}"'):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        proto = History(events=history.events)
        out.append((wf.id, proto.SerializeToString(), list(payloads(proto))))
    return out


async def test_no_canary_anywhere_in_the_record(
    dev_server_env: WorkflowEnvironment,
    keys: Keyring,
    tmp_path: Path,
    task_queue: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    people = [Canary.new() for _ in range(5)]
    portal_a, portal_b, called, withdrawn, over_http = people
    object_store = start_s3()
    request.addfinalizer(object_store.stop)
    monkeypatch.setenv(S3_SECRET_ENV, "demo")
    demo = seed_demo_systems(tmp_path / "systems", s3_endpoint=object_store.url)
    plant(demo.root, people)
    plant_stores(demo, people)
    plant_logins(demo.root, people)
    # The scanner works, and the canaries really are in the systems before the erasure.
    assert find(people, "crm.db", (demo.root / "crm.db").read_bytes())

    # Hosted services (Mailchimp, Discourse: local fakes) erased through the http connector's
    # presets: what it sends them stays out of the record (Mailchimp's member ids are MD5s of
    # the address: looked for below as well).
    stack = ExitStack()
    hosted = stack.enter_context(hosted_services(people, people[0]))
    # A namespace of its own, with Lethe's search attributes registered (as `lethe dev` and
    # `lethe init` do): every request's workflow carries them, and they are scanned too.
    client = await fresh_namespace(dev_server_env.client)
    await register_search_attributes(client, client.namespace)
    systems = {
        **demo.systems,
        "directory": directory(demo.root),
        "accounts": accounts(demo.root),
        **hosted.systems(),
        # Worked by a person: a task, answered at the command line with the person named.
        "paper": SystemConfig(
            "paper",
            "manual",
            {"instructions": "Shred the paper file in cabinet B.", "assignee": "records team"},
        ),
    }
    settings = Settings(
        home=tmp_path / ".lethe",
        database_url=f"sqlite+aiosqlite:///{tmp_path / '.lethe' / 'lethe.db'}",
        temporal=TemporalSettings(
            address=client.service_client.config.target_host,
            namespace=client.namespace,
            task_queue=task_queue,
        ),
        systems=systems,
        verification=portal_verification(),
    )
    config = tmp_path / "lethe.toml"
    write_demo_config(config, systems)
    signing_key = Ed25519PrivateKey.generate()
    seed = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    for name, value in lethe_env(settings, keys, seed, config).items():
        monkeypatch.setenv(name, value)

    cli = Lethe(dict(os.environ), tmp_path, echo=True)  # what it prints is scanned too

    async def lethe(*args: str, stdin: str = "") -> None:
        """The command line, as an operator types it (in this process: a process each would
        double the test's time; the code that runs is the same)."""
        code, _, err = await cli(*args, stdin=stdin)
        assert code == 0, (args, err)

    configure_logging(level="DEBUG")
    ledger = await open_ledger(settings, keys)
    connectors = build_connectors(
        settings.systems, load_registry(), env={**os.environ, **hosted.env}
    )
    request_ids = []
    try:
        async with worker_module.build_worker(
            client,
            task_queue=task_queue,
            ledger=ledger,
            connectors=connectors,
            heartbeat_every=0.5,
            signing_key=signing_key,
        ):
            # The request itself: as a privacy portal files it (identifiers in any case).
            for person in (portal_a, portal_b):
                draft = preverified_draft(
                    settings,
                    person.email.upper(),
                    systems=[*demo.systems, *hosted.systems()],
                    extra_identifiers={"name": person.name},
                )
                done = await submit_request(
                    draft, settings=settings, ledger=ledger, client=client, keys=keys, policy=FAST
                )
                handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
                result = await handle.result()
                assert result.status == "completed_with_exceptions", result
                request_ids.append(done.request_id)

            # Operator free text, on a request verified by an operator: held, approved, one
            # system failing with the person's name in the database's error, retried.
            def operator_request(person: Canary, systems: list[str]) -> Any:
                return validate_request(
                    settings,
                    email=person.email,
                    systems=systems,
                    verification="operator",
                    extra_identifiers={"name": person.name},
                )

            # Filed at the command line: the address and the username from stdin.
            await lethe(
                "submit", "-", "--identifier", "username=-", "--identifier", f"name={called.name}",
                "--verification", "operator", "--systems",
                "newsletter,crm,directory,accounts,paper",
                "--json", stdin=f"{called.email}\n{called.username}\n",
            )  # fmt: skip
            [newest] = await ledger.list_requests(limit=1)
            assert newest.request_id not in request_ids
            request_ids.append(newest.request_id)
            rid, surname = newest.request_id, called.name.split()[-1]
            until = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
            await lethe(
                "hold", "add", "--subject", "-", "--systems", "newsletter", "--until", until,
                "--reason", f"litigation: {called.name} <{called.email}> v. us, case 17",
                "--operator", "counsel", stdin=called.email + "\n",
            )  # fmt: skip
            await lethe(
                "approve", rid, "--operator", f"desk ({surname})",
                "--reason",
                f"called {called.email.upper()} back on {PHONE}; {called.name} ok"
                f" (login {called.username})",
            )  # fmt: skip
            for _ in range(600):  # the paper system's task is opened
                if any(e.kind == "manual_task_opened" for e in await ledger.events(rid)):
                    break
                await asyncio.sleep(0.05)
            await lethe("task", "show", rid, "--system", "paper")
            await lethe(
                "task", "done", rid, "--system", "paper", "--operator", f"records ({surname})",
                "--evidence",
                f"shredded the file of {called.name} <{called.email}>, {PHONE}, login"
                f" {called.username}",
            )  # fmt: skip
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, newest.workflow_id)
            assert (await handle.result()).status == "partially_failed"
            # The connector had the username from the vault: that login went, no other.
            assert logins(demo.root) == sorted(p.username for p in people if p is not called)
            await lethe(
                "retry", rid, "--system", "directory", "--wait", "--operator", "desk",
                "--reason", f"{surname} asked again from {called.email}",
            )  # fmt: skip
            [hold] = await LegalHolds(ledger).list_holds()
            await lethe(
                "hold", "release", hold.hold_id, "--operator", "counsel",
                "--reason", f"case 17 settled, {called.name} told",
            )  # fmt: skip

            # ... and a request extended, then withdrawn, each with the person in the reason.
            done = await submit_request(
                operator_request(withdrawn, ["crm"]),
                settings=settings,
                ledger=ledger,
                client=client,
                keys=keys,
                policy=FAST,
            )
            request_ids.append(done.request_id)
            await lethe(
                "extend", done.request_id, "--operator", "desk",
                "--reason", f"waiting for {withdrawn.name} ({withdrawn.email}) to call back",
            )  # fmt: skip
            await lethe(
                "cancel", done.request_id, "--operator", "desk",
                "--reason", f"{withdrawn.name} withdrew by phone from {PHONE}",
            )  # fmt: skip
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            assert (await handle.result()).status == "cancelled"

            # The HTTP API (lethe serve): filed by a portal, approved by an operator there.
            served = await _over_http(settings, keys, ledger, over_http)
            request_ids.append(served["request_id"])
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, served["workflow_id"])
            assert (await handle.result()).status == "completed_with_exceptions"
            served["pages"] += await _read_over_http(settings, keys, ledger, served)

        # Every table of the ledger, every row, every column.
        dump: list[str] = []
        async with ledger.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in await conn.execute(sa.select(table)):
                    dump.append(f"{table.name}: {tuple(row)!r}")
        failed = [o for o in await ledger.outcomes(request_ids[2]) if o.system == "directory"]
        verified = [e for e in await ledger.events(request_ids[2]) if e.kind == "verified"]
        # The hosted services did erase the portal requests' people.
        hosted_left = repr(hosted.records()).lower()
        assert not any(p.email.lower() in hosted_left for p in (portal_a, portal_b))
        done_task = [e for e in await ledger.events(request_ids[2]) if e.kind == "manual_task_done"]
    finally:
        await worker_module.close_connectors(connectors)
        await ledger.dispose()
        stack.close()
    md5s = {hashlib.md5(p.email.lower().encode()).hexdigest() for p in people}
    assert not [h for h in md5s if h in "\n".join(dump)], "a Mailchimp member id in the ledger"
    assert any(line.startswith("proof_leaves:") for line in dump)  # sealed, so it is scanned

    # Temporal's own record: every payload ciphertext; ids, attributes and failures clean.
    recorded = await histories(client, task_queue)
    sweeper = schedule_id(task_queue)
    await install_sweeper(client, settings)
    try:
        described = await client.workflow_service.describe_schedule(
            DescribeScheduleRequest(namespace=client.namespace, schedule_id=sweeper)
        )
    finally:
        await client.get_schedule_handle(sweeper).delete()
    recorded.append((sweeper, described.SerializeToString(), list(payloads(described))))
    assert recorded[-1][2], "the schedule's action carries its input as a payload"
    # The requests (each erases its systems in its own history; a system that waits gets a
    # child), a later round, and the sweeper's schedule.
    assert len(recorded) >= 4 + 1 + 1
    assert any("/round/" in wid for wid, _, _ in recorded)
    clear = [
        f"{wid}: {p.metadata.get('encoding', b'')!r}"
        for wid, _, found in recorded
        for p in found
        if p.metadata.get("encoding") != ENCODING
        and not names_a_patch(p)
        and not describes_a_ledger_step(p)
        and not is_a_lethe_search_attribute(p, set(systems))
    ]
    assert clear == []
    # The requests' workflows did carry them (so the check above had something to check).
    attributes = [
        p for _, _, found in recorded for p in found if is_a_lethe_search_attribute(p, set(systems))
    ]
    assert any(json.loads(p.data) == "completed_with_exceptions" for p in attributes)
    assert sum(len(found) for _, _, found in recorded) > 50

    # The auditor's and the operator's outputs, through the command line, from the same ledger.
    out = tmp_path / "out"
    out.mkdir()
    readers = [
        ["audit", "export", "--format", "csv", "-o", str(out / "export.csv")],
        ["audit", "export", "--format", "jsonl", "-o", str(out / "export.jsonl")],
        ["audit", "list", "--json"],
        ["list", "--json"],
        ["hold", "list", "--all", "--json"],
        ["audit", "verify", "--log"],
    ]
    for rid in request_ids:
        files = ["-o", str(out / f"{rid}.json"), "-o", str(out / f"{rid}.html")]
        readers += [
            ["audit", "certificate", rid, *files],
            ["audit", "show", rid, "--json"],
            ["status", rid, "--json", "--events"],
        ]
    for args in readers:
        await lethe(*args)

    logs = capfd.readouterr()
    hits: list[str] = []
    hits += find(people, "ledger tables", "\n".join(dump))
    for path in sorted(p for p in settings.home.rglob("*") if p.is_file()):
        hits += find(people, str(path.relative_to(tmp_path)), path.read_bytes())
    for path in sorted(out.iterdir()):
        hits += find(people, path.name, path.read_bytes())
    for wid, raw, _ in recorded:
        hits += find(people, f"history of {wid}", wid.encode() + b"\n" + raw)
    hits += find(people, "the HTTP API's answers and pages", served["pages"])
    hits += find(people, "commands' output and log lines (stdout)", logs.out)
    hits += find(people, "commands' output and log lines (stderr)", logs.err)
    assert not [h for h in md5s if h in logs.out + logs.err], "a Mailchimp member id logged"
    assert hits == []

    # The stores did their part for the portal's two: avatars gone in every version, the
    # locked contracts kept, the archive keys destroyed.
    s3 = s3_client(object_store.url)
    keys_left = {k["Key"] for k in s3.list_object_versions(Bucket=BUCKET)["Versions"]}
    for p in (portal_a, portal_b):
        assert f"avatars/{p.email}/me.png" not in keys_left
        assert f"contracts/{p.email}/signed.pdf" in keys_left
    with sqlite3.connect(demo.root / "archive-keys.db") as db:
        live = {e for (e,) in db.execute("SELECT email FROM subject_keys WHERE email IS NOT NULL")}
    assert portal_a.email not in live and portal_b.email not in live and called.email in live

    # What was fed in went through: the database's error, the operator's reason.
    assert [o.outcome for o in failed] == ["failed", "failed"]
    assert all("[redacted] <[redacted]>" in (o.error or "") for o in failed), failed
    assert "called [redacted] back on [phone redacted]" in verified[0].detail["reason"]
    assert "(login [redacted])" in verified[0].detail["reason"]  # the username, from the vault
    assert done_task[0].detail["evidence"] == (
        "shredded the file of [redacted] <[redacted]>, [phone redacted], login [redacted]"
    )
    # What was scanned is not empty: the outputs exist and say what they should.
    assert len(list(out.glob("*.html"))) == 5 and (out / "export.csv").read_text().count("\n") == 6
    assert "Done, with exceptions the law allows" in served["pages"]  # the dashboard's page
    assert "request.sealed" in logs.err  # the worker's log lines were captured
    assert any(p.name == "lethe.db" for p in settings.home.iterdir())


def test_the_scanner_sees_through_encodings() -> None:
    """The scan above can fail: each form a leak might take is found."""
    person = Canary.new()
    email, name = person.email.encode(), person.name.encode("utf-8")
    leaks = {
        "upper case": person.email.upper().encode(),
        "base64, any offset": base64.b64encode(b"id=" + email + b";"),
        "urlsafe base64": base64.urlsafe_b64encode(b"x" + name),
        "url-encoded": b"?q=" + person.email.replace("@", "%40").encode(),
        "json escape": b'{"n": "' + person.name.encode("ascii", "backslashreplace") + b'"}',
        "hex": email.hex().encode(),
        "surname alone": person.name.split()[-1].upper().encode(),
        "username": b"login=" + person.username.encode(),
    }
    for what, blob in leaks.items():
        assert find([person], what, b"..." + blob + b"..."), what
    assert find([person], "clean", b"ps_0123 er-abc [email redacted]") == []


def test_the_history_walk_finds_every_payload() -> None:
    """The check that every payload of a history is ciphertext sees nested, repeated and
    map fields (a memo, a header), so a plaintext payload cannot hide from it."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    event = HistoryEvent()
    attrs = event.workflow_execution_started_event_attributes
    attrs.input.payloads.append(plain)
    attrs.memo.fields["who"].CopyFrom(plain)
    attrs.header.fields["h"].CopyFrom(plain)
    found = list(payloads(History(events=[event, event])))
    assert len(found) == 6 and all(p == plain for p in found)


async def _over_http(
    settings: Settings, keys: Keyring, ledger: Any, person: Canary
) -> dict[str, Any]:
    """File and approve ``person``'s request through the HTTP API, in this process."""
    import httpx

    from ledger.api_clients import ApiClients
    from lethe.runtime import Runtime
    from lethe.web.app import create_app

    issued = await ApiClients(ledger).add(
        "portal", ["intake", "operate", "audit"], at=datetime.now(UTC), created_by="test"
    )
    app = create_app(settings, runtime=Runtime(settings, keys, ledger))
    auth = {"Authorization": f"Bearer {issued.token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as http:
        made = await http.post(
            "/v1/requests",
            json={
                "email": person.email,
                "verification": "operator",
                "systems": ["crm", "newsletter"],
                "identifiers": {"name": person.name},
                "channel": "web-form",
            },
            headers={**auth, "Idempotency-Key": "web-form-1"},
        )
        assert made.status_code == 201, made.text
        rid = made.json()["request_id"]
        for _ in range(200):
            if (await ledger.require_request(rid)).status == "awaiting_verification":
                break
            await asyncio.sleep(0.05)
        approved = await http.post(
            f"/v1/requests/{rid}/approve",
            json={"reason": f"called {person.name} at {person.email} on {PHONE}"},
            headers=auth,
        )
        assert approved.status_code == 200, approved.text
    record = await ledger.require_request(rid)
    return {
        "request_id": rid,
        "workflow_id": record.workflow_id,
        "token": issued.token,
        "status_token": made.json()["status_token"],
        "pages": made.text + approved.text,
    }


async def _read_over_http(
    settings: Settings, keys: Keyring, ledger: Any, served: dict[str, Any]
) -> str:
    """What the requester, the operator and the dashboard see of the finished request, and
    the exports of the request list."""
    import httpx

    from lethe.runtime import Runtime
    from lethe.web.app import create_app

    app = create_app(settings, runtime=Runtime(settings, keys, ledger))
    rid, auth = served["request_id"], {"Authorization": f"Bearer {served['token']}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lethe") as http:
        seen = [
            await http.get(
                f"/v1/requests/{rid}/status", headers={"X-Status-Token": served["status_token"]}
            ),
            await http.get(f"/v1/requests/{rid}", headers=auth),
            await http.get("/v1/audit/requests", headers=auth),
            await http.get("/v1/export/requests?format=csv", headers=auth),
            await http.get("/v1/export/requests", headers=auth),
        ]
        await http.post("/dashboard/login", data={"token": served["token"]})
        seen.append(await http.get(f"/dashboard/requests/{rid}"))
        seen.append(await http.get("/dashboard"))  # its sections, exceptions expiring too
        seen.append(await http.get("/dashboard/export.csv"))
        seen.append(await http.get("/dashboard/export.json"))
    assert all(r.status_code == 200 for r in seen), [r.text for r in seen]
    return "\n".join(r.text for r in seen)
