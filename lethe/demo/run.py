"""``lethe demo``: one erasure, end to end, on embedded defaults.

Starts the Temporal dev server (in memory, on free ports), a worker in this process and the
SQLite ledger under ``.lethe/``; seeds four local systems and starts two hosted services
(local fakes of Mailchimp and Discourse, erased through the ``http`` connector's presets:
``lethe.demo.hosted``) and, where ``boto3`` and ``moto[server]`` are installed (as ``make
demo``'s environment has them), an S3 object store on moto's S3 server (a thread of this
process, on a free port) and a per-person encrypted archive; files a GDPR request for the demo
person, verified by an emailed code (a console mailer prints the message instead of sending
it, and the demo reads the code from it); gives a wrong code first, to show it refused, then
the right one; waits; checks that nobody else's data changed; prints the outcome table and
where the record is. Every process it started is stopped on the way out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from temporalio.client import WorkflowHandle

from activities import ConsoleAlerts, ConsoleMailer
from ledger import ProofLog, TreeHeadSigner
from ledger.proof import load_public_key, public_key_pem
from vocabulary import Jurisdiction, RequestStatus, VerificationMethod
from workflows import CodeSubmission, ErasureResult, ErasureWorkflow

from ..certificates import check_certificate_file, write_certificate
from ..devserver import DevServer
from ..errors import LetheError
from ..intake import submit_request, validate_request
from ..keys import load_signing_key
from ..render import outcome_table, request_summary, request_to_dict
from ..runtime import Runtime, connect_when_ready, initialise, load_registry
from ..settings import Settings, SystemConfig, TemporalSettings, build_connectors
from ..terminal import line, print_visible
from ..worker import build_worker, close_connectors  # the composition, as `lethe worker`'s
from .hosted import hosted_services
from .systems import (
    BYSTANDERS,
    S3_SECRET_ENV,
    SUBJECT,
    check_bystanders,
    check_stores,
    seed_demo_systems,
)

__all__ = ["run_demo"]

EXPECTED_STATUS = RequestStatus.COMPLETED_WITH_EXCEPTIONS


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_demo_config(path: Path, systems: dict[str, SystemConfig]) -> None:
    """The demo's systems as lethe.toml, to read and to copy from."""
    lines = ["# The systems `lethe demo` erases from. Copy what you need into your lethe.toml.", ""]
    for name, cfg in systems.items():
        lines.append(f"[systems.{name}]")
        lines.append(f"connector = {_toml_value(cfg.connector)}")
        tables = None
        for key, value in cfg.options.items():
            if key == "tables":
                tables = value
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for table in tables or []:
            lines.append("")
            lines.append(f"[[systems.{name}.tables]]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        lines.append("")
    path.write_text("\n".join(lines))


async def run_demo(settings: Settings, *, console: Console, as_json: bool = False) -> int:
    started = time.monotonic()
    say = (lambda *a, **k: None) if as_json else console.print
    demo_root = settings.home / "demo"
    stack = ExitStack()
    s3 = _start_object_store()
    if s3 is not None:
        stack.callback(s3.stop)
    try:
        seeded = seed_demo_systems(demo_root, s3_endpoint=s3.url if s3 else None)
        # Hosted services (local fakes speaking the vendors' protocols), stopped on the way out.
        hosted = stack.enter_context(
            hosted_services([BYSTANDERS[0], SUBJECT, *BYSTANDERS[1:]], SUBJECT)
        )
    except BaseException:
        stack.close()
        raise
    systems = {**seeded.systems, **hosted.systems()}
    write_demo_config(demo_root / "lethe.toml", systems)
    say(
        f"Seeded {len(systems)} demo systems under {demo_root} with the demo person and 4"
        f" others; two are hosted services (local fakes of Mailchimp on {hosted.mailchimp.url}"
        f" and Discourse on {hosted.discourse.url})."
    )
    if s3 is None:
        say("(No object store or archive: pip install 'lethe-erasure[s3]' 'moto[server]'.)")
    else:
        say(f"S3 object store (moto's S3 server) on {s3.url}, stopped when the demo ends.")
    # The object store's secret, made up for this run, as the variable its system names.
    stores_env = {S3_SECRET_ENV: "demo"} if s3 is not None else {}
    stores_checked, stores_problems = 0, ["the object store and the archive were not checked"]

    server = DevServer(log_file=settings.home / "logs" / "demo-temporal.log")
    connectors: dict[str, Any] = {}
    rt: Runtime | None = None
    submitted: str | None = None
    hosted_checked, hosted_problems = 0, ["the hosted services were not checked"]
    try:
        await server.start()
        local = dataclasses.replace(
            settings,
            systems=systems,
            temporal=TemporalSettings(address=server.address, task_queue="lethe-demo"),
        )
        say(f"Temporal dev server on {server.address} (in memory, stopped when the demo ends).")
        await initialise(local)  # the demo makes its keys and ledger, as `lethe init` does
        rt = await Runtime.open(local)
        signing_key = load_signing_key(local.home)
        # The hosted services' keys, made up for this run, as the variables the systems name.
        connectors = build_connectors(
            local.systems, load_registry(), env={**os.environ, **hosted.env, **stores_env}
        )
        client = await connect_when_ready(local, rt.keys)
        # What they print carries what others typed (reasons, errors): shown as text.
        mailer = ConsoleMailer(print_visible if as_json else console.print)
        w = build_worker(
            client,
            task_queue=local.temporal.task_queue,
            ledger=rt.ledger,
            connectors=connectors,
            heartbeat_every=1.0,
            signing_key=signing_key,
            mailer=mailer,
            # Operator alerts (an overdue request, a failed system) are printed, not sent.
            alerts=[ConsoleAlerts(print_visible if as_json else console.print)],
        )
        async with w:
            draft = validate_request(
                local,
                email=SUBJECT.email,
                jurisdiction=Jurisdiction.GDPR,
                verification=VerificationMethod.EMAIL,
            )
            done = await submit_request(
                draft,
                settings=local,
                ledger=rt.ledger,
                client=client,
                keys=rt.keys,
                channel="demo",
                actor="demo",
                allow_duplicate=True,
            )
            submitted = done.request_id
            say(
                f"Received {done.request_id} for {SUBJECT.email}"
                f" (GDPR, due {done.due_at:%Y-%m-%d}); workflow {done.workflow_id}"
                f" carries only the pseudonym {done.subject_ref}."
            )
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, done.workflow_id)
            say("A verification code goes to the address on file (console mailer: not sent):")
            code = await _code_from(mailer)
            await _until_code_sent(handle)
            wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
            for given in (wrong, code):
                check = await handle.execute_update(
                    ErasureWorkflow.submit_code, CodeSubmission(given, "demo-operator")
                )
                say(f"Code {given} given back: {check.message}")
            say(f"Erasing from {len(systems)} systems …")
            try:
                result = await asyncio.wait_for(handle.result(), timeout=120)
            except TimeoutError:
                raise LetheError(
                    f"the demo request {done.request_id} did not finish within 120 s;"
                    f" the worker's log is above, the server's in {settings.home / 'logs'}"
                ) from None
        rec = await rt.ledger.require_request(done.request_id)
        outcomes = await rt.ledger.outcomes(done.request_id)
        exceptions = await rt.ledger.exceptions(done.request_id)
        events = await rt.ledger.events(done.request_id)
        # Proof: the workflow sealed the receipts; write the certificate and the public key.
        cert = await ProofLog(rt.ledger, TreeHeadSigner(signing_key)).certificate(
            done.request_id, issued_at=datetime.now(UTC)
        )
        hosted_checked, hosted_problems = hosted.check()
        if s3 is not None:  # while the object store still runs
            stores_checked, stores_problems = check_stores(seeded)
    except BaseException:
        # The demo's server lives in memory: a request it leaves unfinished can never finish.
        if rt is not None and submitted is not None:
            await _abandon(rt, submitted)
        raise
    finally:
        await close_connectors(connectors)
        if rt is not None:
            await rt.close()
        server.stop()
        stack.close()

    checked, problems = check_bystanders(seeded)
    checked += hosted_checked + stores_checked
    problems += hosted_problems + (stores_problems if s3 is not None else [])
    certificate = _write_and_check_certificate(
        settings.home,
        cert,
        public_key_pem(signing_key.public_key()),
        {"organisation": settings.issuer.organisation, "contact": settings.issuer.contact},
    )
    elapsed = time.monotonic() - started
    ok = result.status == EXPECTED_STATUS and not problems and certificate["verified"]
    if as_json:
        from ._json import emit

        emit(
            {
                "ok": ok,
                "request": request_to_dict(rec, outcomes, exceptions, events),
                "bystanders": {"checked": checked, "problems": problems},
                "certificate": certificate,
                "ledger": settings.database_url,
                "seconds": round(elapsed, 1),
            }
        )
        return 0 if ok else 1

    console.print()
    console.print(outcome_table(outcomes, title="What each system did"))
    console.print(request_summary(rec))
    if problems:
        console.print(line(("Bystander check FAILED", "bold red"), f": {len(problems)} problem(s)"))
        for p in problems:
            console.print(f"  - {p}")
    else:
        console.print(
            f"Bystander check passed: {checked} rows and backup copies of other people unchanged."
        )
    # Paths are printed whole (soft_wrap): they are for copying.
    console.print(f"Certificate of erasure: {certificate['json']}", soft_wrap=True)
    console.print(f"                        {certificate['html']}", soft_wrap=True)
    verdict = ("VERIFIED", "green") if certificate["verified"] else ("FAILED", "bold red")
    console.print(
        line(
            f"Checked offline with the public key {certificate['public_key']} only: ",
            verdict,
            f" ({certificate['receipts']} receipts in a signed log of {certificate['tree_size']})",
        ),
        soft_wrap=True,
    )
    for problem in certificate["problems"]:
        console.print(f"  - {problem}")
    console.print(line("Final status: ", (result.status, "bold"), f" (in {elapsed:.1f} s)"))
    console.print(f"The record is in the ledger at {settings.database_url}", soft_wrap=True)
    console.print(f"  lethe status {rec.request_id}    ·    lethe audit show {rec.request_id}")
    console.print(
        f"  lethe audit verify {certificate['html']} --public-key {certificate['public_key']}",
        highlight=False,
        soft_wrap=True,
    )
    if not ok:
        console.print(
            line(
                ("Demo did not end as expected", "bold red"),
                f" (wanted {EXPECTED_STATUS}, bystanders intact, a certificate that verifies)",
            )
        )
        return 1
    console.print("Done.")
    return 0


def _write_and_check_certificate(
    home: Path, cert: dict[str, Any], pem: str, issuer: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """Write the certificate (JSON and HTML) and the log's public key under ``home``, then
    check the page the way an auditor would: the file and the public key, nothing else."""
    rid = cert["request"]["request_id"]
    paths = {suffix: home / "certificates" / f"{rid}.{suffix}" for suffix in ("json", "html")}
    for path in paths.values():
        write_certificate(cert, path, issuer=issuer)
    key_path = home / "proof-log-public-key.pem"
    key_path.write_text(pem)
    check = check_certificate_file(paths["html"], load_public_key(key_path.read_bytes()))
    return {
        "json": str(paths["json"]),
        "html": str(paths["html"]),
        "public_key": str(key_path),
        "verified": check.ok,
        "problems": check.problems,
        "receipts": check.receipts,
        "tree_size": check.tree_size,
    }


class _ObjectStore:
    """moto's S3 server in a thread of this process (nothing is left running: :meth:`stop`)."""

    def __init__(self, server: Any, url: str) -> None:
        self._server = server
        self.url = url

    def stop(self) -> None:
        self._server.stop()


def _start_object_store() -> _ObjectStore | None:
    """An S3 server for the demo's object store, or None where boto3 or moto is missing."""
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return _ObjectStore(server, f"http://{host}:{port}")


async def _code_from(mailer: ConsoleMailer, within: float = 30.0) -> str:
    """The code in the (only) message the demo's console mailer printed."""
    for _ in range(int(within / 0.1)):
        for message in mailer.outbox:
            found = re.search(r"\b\d{8}\b", message.get_content())
            if found:
                return found.group()
        await asyncio.sleep(0.1)
    raise LetheError(f"no verification code was mailed within {within:g} s")


async def _until_code_sent(handle: WorkflowHandle[ErasureWorkflow, ErasureResult]) -> None:
    """The mail is out; wait (briefly) until the workflow has heard so too."""
    for _ in range(600):
        if (await handle.query(ErasureWorkflow.progress)).code_sent:
            return
        await asyncio.sleep(0.05)
    raise LetheError("the demo request never reported its code as sent")


async def _abandon(rt: Runtime, request_id: str) -> None:
    rec = await rt.ledger.get_request(request_id)
    if rec is not None and rec.completed_at is None:
        await rt.ledger.set_status(
            request_id,
            RequestStatus.CANCELLED,
            at=datetime.now(UTC),
            actor="demo",
            reason="the demo stopped before this request finished",
        )
