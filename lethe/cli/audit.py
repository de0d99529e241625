"""``lethe audit``: what an auditor asks of the record, and how they check it.

    show ID            one request: clock, outcomes, exceptions, events, and its receipts
    list               requests filtered by time, law, system, outcome, deadline, exceptions
    export             the request records CCPA §7101 asks for, as CSV or JSON Lines
    certificate ID     a certificate of erasure, as JSON and/or a readable HTML page
    verify FILE        check a certificate offline, with the log's public key and nothing else
    verify --log       recompute the whole proof log from the ledger and check every head
                       (and, given certificates handed out earlier, that their heads are in it)
    public-key         the log's public key, to hand to auditors

``verify`` exits 3 when what it checks does not hold (1 is a mistake in what was typed).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from ledger import (
    Ledger,
    LedgerError,
    ProofError,
    ProofLog,
    TreeHead,
    TreeHeadSigner,
    missing_identifiers,
)
from ledger.proof import deadline_state, key_fingerprint, load_public_key, public_key_pem
from ledger.queries import (
    AuditFilter,
    AuditRecord,
    audit_records,
    systems_done_at,
)
from ledger.queries import list_requests as query_requests
from vocabulary import Jurisdiction, OutcomeKind, RequestStatus, describe_basis

from ..certificates import (
    CERTIFICATE_SUFFIXES,
    check_certificate_file,
    load_certificate,
    write_certificate,
)
from ..errors import ConfigError, LetheError, NotFoundError
from ..keys import load_signing_key
from ..render import outcome_table, request_summary, request_to_dict
from ..runtime import open_existing_ledger
from ..settings import SYSTEM_NAME, Settings, load_settings
from ..terminal import line, visible
from ._app import app, console, emit_json, json_option, run
from ._values import choice_of

__all__ = ["Reader", "VerificationFailed", "audit", "reading"]


class VerificationFailed(LetheError):
    """What was checked does not hold: a certificate or the log was altered."""

    exit_code = 3


T = TypeVar("T")


@dataclass
class Reader:
    """What an auditor's command reads: the settings and an existing ledger, opened without
    keys (an auditor needs none but the log's public key) and without changing it."""

    settings: Settings
    ledger: Ledger


async def reading(fn: Callable[[Reader], Awaitable[T]], settings: Settings | None = None) -> T:
    settings = settings or load_settings()
    ledger = await open_existing_ledger(settings)
    try:
        return await fn(Reader(settings, ledger))
    finally:
        await ledger.dispose()


@app.group()
def audit() -> None:
    """For auditors: each request's record, its proof, and offline verification."""


# -- option types -------------------------------------------------------------------------------


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A date (``2026-01-31``) or an ISO datetime; naive ones are UTC."""
    if value is None:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"expected a date like 2026-01-31 or an ISO datetime, not {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _system_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not SYSTEM_NAME.match(value):
        raise click.BadParameter(
            f"{value!r} is not a system name (lower-case letters, digits, - or _)"
        )
    return value


def _start(value: date | datetime | None) -> datetime | None:
    """A bound that includes the whole of a given day."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=UTC)


def _end(value: date | datetime | None) -> datetime | None:
    """An exclusive upper bound: a date means up to the end of that day."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time(), tzinfo=UTC)


def filter_options(fn: Any) -> Any:
    options = [
        click.option(
            "--since",
            callback=_moment,
            metavar="DATE",
            help="Received on or after this date (or ISO datetime).",
        ),
        click.option(
            "--until",
            callback=_moment,
            metavar="DATE",
            help="Received on or before this date (or before an ISO datetime).",
        ),
        click.option(
            "--system",
            callback=_system_name,
            metavar="SYSTEM",
            help="Requests that reached this system.",
        ),
        click.option(
            "--outcome",
            type=choice_of(OutcomeKind),
            help="Requests where a system's latest round ended so (that of --system, if given).",
        ),
        click.option(
            "--jurisdiction", "-j", type=choice_of(Jurisdiction), help="Under this law."
        ),
        click.option("--status", type=choice_of(RequestStatus), help="With this status."),
        click.option("--overdue", is_flag=True, help="Past due and unanswered, or answered late."),
        click.option(
            "--exceptions-expiring-before",
            "expiring",
            callback=_moment,
            metavar="DATE",
            help="Requests with an open retained exception that ends before this date.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filter(
    since: date | datetime | None,
    until: date | datetime | None,
    system: str | None,
    outcome: str | None,
    jurisdiction: str | None,
    status: str | None,
    overdue: bool,
    expiring: date | datetime | None,
) -> AuditFilter:
    start, end = _start(since), _end(until)
    if start is not None and end is not None and start >= end:
        raise LetheError("--since must come before --until")
    return AuditFilter(
        received_from=start,
        received_before=end,
        system=system,
        outcome=outcome,
        jurisdiction=jurisdiction,
        status=status,
        overdue=overdue,
        exceptions_expiring_before=(
            expiring.date() if isinstance(expiring, datetime) else expiring
        ),
    )


def _signer(rt: Reader) -> TreeHeadSigner | None:
    """The local signing key if this machine has one (certificates self-check with it)."""
    try:
        return TreeHeadSigner(load_signing_key(rt.settings.home, create=False))
    except ConfigError:
        return None


# -- show, list ---------------------------------------------------------------------------------


@audit.command()
@click.argument("request_id")
@json_option
def show(request_id: str, as_json: bool) -> None:
    """One request's record: clock, outcomes, exceptions, events, and its sealed receipts."""

    async def go(rt: Reader) -> None:
        rec = await rt.ledger.get_request(request_id.strip())
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id.strip()!r}")
        rid = rec.request_id
        outcomes = await rt.ledger.outcomes(rid)
        exceptions = await rt.ledger.exceptions(rid)
        events = await rt.ledger.events(rid)
        log = ProofLog(rt.ledger)
        leaves = await log.leaves_of(rid)
        unsealed = await log.unsealed_outcomes(rid)
        unsealed_events = await log.unsealed_events(rid)
        head = await log.newest_head()
        proof = {
            "sealed": bool(leaves) and not unsealed and not unsealed_events,
            "receipts": [
                {
                    "leaf_index": x.leaf_index,
                    "kind": x.kind,
                    "system": x.system,
                    "round": x.round,
                    "event_id": x.event_id,
                    "leaf_hash": x.leaf_hash,
                    "appended_at": x.appended_at.isoformat(),
                }
                for x in leaves
            ],
            "unsealed": [{"system": o.system, "round": o.round} for o in unsealed],
            "unsealed_events": [{"event_id": ev.id, "kind": ev.kind} for ev in unsealed_events],
            "newest_tree_head": head.to_dict() if head else None,
        }
        sealed = rid in await log.sealed_requests([rec])
        if as_json:
            emit_json(
                {
                    **request_to_dict(rec, outcomes, exceptions, events, sealed=sealed),
                    "proof": proof,
                }
            )
            return
        console.print(request_summary(rec, sealed=sealed))
        if outcomes:
            console.print(outcome_table(outcomes))
            console.print(_erasure_line(rec, outcomes), highlight=False)
        for x in exceptions:
            until = x.retained_until.isoformat() if x.retained_until else "no end date"
            console.print(
                f"Kept by {x.system} until {until} ({x.state}): "
                f"{describe_basis(x.legal_basis)} — {visible(x.basis_note)}"
            )
        for ev in events:
            console.print(
                f"  {ev.at:%Y-%m-%d %H:%M:%S}  {ev.kind:<24} {visible(ev.actor):<18}"
                f" {_detail(ev.detail)}",
                style="dim",
                highlight=False,
                soft_wrap=True,  # one event, one line (grep-able); the terminal wraps it
            )
        if leaves:
            where = ", ".join(str(x.leaf_index) for x in leaves)
            console.print(f"Sealed in the proof log: {len(leaves)} receipts (leaves {where}).")
        else:
            console.print("Not sealed: no receipt of this request is in the proof log.")
        if unsealed:
            names = ", ".join(f"{o.system} (round {o.round})" for o in unsealed)
            console.print(line(("Outcomes not sealed yet", "yellow"), f": {names}"))
        if unsealed_events:
            names = ", ".join(f"{ev.kind} (event {ev.id})" for ev in unsealed_events)
            console.print(line(("Events not sealed yet", "yellow"), f": {names}"))

    run(reading(go))


def _erasure_line(rec: Any, outcomes: Any) -> str:
    """When the erasure itself was done, against the due date: the answer can be on time
    while a failed system is erased by a retry weeks later."""
    done = systems_done_at(outcomes)
    if done is None:
        return (
            "Erasure not done yet: a system failed, was not searched, or is still under way"
            " (see the table)."
        )
    verdict = deadline_state(rec.due_at, done)
    return f"Every system done {done:%Y-%m-%d %H:%M} UTC (erasure deadline {verdict})."


def _detail(detail: dict[str, Any]) -> str:
    """An event's detail in one line: who decided what and why is what an auditor reads."""
    parts = []
    for key, value in sorted(detail.items()):
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        text = visible(str(value))  # typed by someone: text, on one line
        parts.append(f"{visible(str(key))}={text if len(text) <= 80 else text[:79] + '…'}")
    return " ".join(parts)


@audit.command("list")
@filter_options
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="At most this many.",
)
@json_option
def list_command(limit: int, as_json: bool, **filters: Any) -> None:
    """Requests, newest first, filtered by time, law, system, outcome, deadline, exceptions."""
    f = _filter(**filters)

    async def go(rt: Reader) -> None:
        recs = await query_requests(rt.ledger, f, now=datetime.now(UTC), limit=limit)
        sealed = await ProofLog(rt.ledger).sealed_requests(recs)
        if as_json:
            emit_json(
                [
                    {
                        **request_to_dict(r, sealed=r.request_id in sealed),
                        "deadline": deadline_state(r.due_at, r.completed_at),
                    }
                    for r in recs
                ]
            )
            return
        if not recs:
            console.print("No request matches.")
            return
        table = Table(header_style="bold")
        # An auditor copies ids and reads statuses: those never shrink; the rest may wrap.
        table.add_column("request", no_wrap=True, min_width=max(len(r.request_id) for r in recs))
        # A final status the proof log does not hold yet is not final: it is being sealed.
        shown = {
            r.request_id: f"{r.status} (being sealed)"
            if r.completed_at is not None and r.request_id not in sealed
            else r.status
            for r in recs
        }
        table.add_column("status", no_wrap=True, min_width=max(map(len, shown.values())))
        # Days, not times, and no systems: what fits a terminal; --json and show have the rest.
        for col in ("law", "received", "due", "answered", "deadline"):
            table.add_column(col, no_wrap=True)
        for r in recs:
            verdict = deadline_state(r.due_at, r.completed_at)
            table.add_row(
                r.request_id,
                shown[r.request_id],
                r.jurisdiction,
                f"{r.received_at:%Y-%m-%d}",
                f"{r.due_at:%Y-%m-%d}",
                f"{r.completed_at:%Y-%m-%d}" if r.completed_at else "—",
                Text(verdict, style={"met": "green", "missed": "bold red"}.get(verdict, "")),
            )
        console.print(table)

    run(reading(go))


# -- export -------------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "request_id",
    "date_of_request",
    "nature_of_request",
    "manner_of_request",
    "jurisdiction",
    "verification_method",
    "date_acknowledged",
    "date_due_original",
    "date_due",
    "extension_reason",
    "date_of_response",
    "deadline",
    "date_systems_done",
    "erasure_deadline",
    "nature_of_response",
    "status",
    "basis_for_denial",
    "systems",
    "systems_failed",
    "systems_not_searched",
)

_RESPONSES: dict[str, str] = {
    RequestStatus.COMPLETED: "deleted",
    RequestStatus.COMPLETED_WITH_EXCEPTIONS: "deleted in part; the rest kept under the bases given",
    RequestStatus.PARTIALLY_FAILED: (
        "deletion failed, or could not be searched for, in some systems"
    ),
    RequestStatus.FAILED: "deletion failed, or could not be searched for, in every system",
    RequestStatus.REJECTED: "denied",
    RequestStatus.CANCELLED: "withdrawn",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_row(record: AuditRecord) -> dict[str, Any]:
    """One request as CCPA regulations §7101(b) lists it: date, nature and manner of the
    request, date and nature of the response, and the basis for any denial in whole or in
    part (each exception with its state: an exception a later round ended stays listed, as
    the basis of the answer given then). Also what §7021 asks to show: when receipt was
    confirmed, and any extension of the deadline with its reason."""
    r = record.request
    clock = record.clock
    basis: list[dict[str, Any]] = [
        {
            "system": e.system,
            "legal_basis": e.legal_basis,
            "description": describe_basis(e.legal_basis),
            "retained_until": e.retained_until.isoformat() if e.retained_until else None,
            "review_on": e.review_on.isoformat() if e.review_on else None,
            "note": e.basis_note,
            "state": e.state,
        }
        for e in record.exceptions
    ]
    if r.status == RequestStatus.REJECTED:
        basis.append({"system": None, "legal_basis": None, "description": r.status_reason})
    latest = record.latest_outcomes()
    return {
        "request_id": r.request_id,
        "date_of_request": r.received_at.isoformat(),
        "nature_of_request": "deletion",
        "manner_of_request": r.channel,
        "jurisdiction": r.jurisdiction,
        "verification_method": r.verification_method,
        "date_acknowledged": _iso(clock.acknowledged_at) if clock else None,
        "date_due_original": _iso(clock.original_due_at) if clock else r.due_at.isoformat(),
        "date_due": r.due_at.isoformat(),
        "extension_reason": clock.extension_reason if clock else None,
        "date_of_response": _iso(r.completed_at),
        "deadline": record.deadline(),
        "date_systems_done": _iso(systems_done_at(record.outcomes)),
        "erasure_deadline": record.erasure_deadline(),
        "nature_of_response": _RESPONSES.get(r.status, "not answered yet"),
        "status": r.status,
        "basis_for_denial": basis,
        "systems": list(r.systems),
        "systems_failed": sorted(s for s, o in latest.items() if o.outcome == OutcomeKind.FAILED),
        # Not searched for want of an identifier: each system with the kinds it lacked.
        "systems_not_searched": [
            f"{s} (no {', '.join(missing_identifiers(o.evidence)) or 'identifier'})"
            for s, o in sorted(latest.items())
            if o.outcome == OutcomeKind.NOT_SEARCHED
        ],
    }


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "basis_for_denial":
        parts = []
        for b in value:
            text = b["description"] or ""
            if b.get("system"):
                until = b.get("retained_until") or f"review {b.get('review_on') or '?'}"
                text = f"{b['system']}: {text} [{b['legal_basis']}], kept until {until}"
                if b.get("state") != "open":
                    text += f" ({b.get('state')} by a later round)"
            parts.append(text)
        return "; ".join(parts)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@audit.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="File format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@filter_options
@json_option
def export(fmt: str, output: Path | None, as_json: bool, **filters: Any) -> None:
    """The request records CCPA §7101 asks to keep, one row per request, newest first."""
    f = _filter(**filters)
    if as_json and output is None:
        raise LetheError("--json reports on the file written: give -o FILE with it")

    async def go(rt: Reader) -> int:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        rows = 0
        async for record in audit_records(rt.ledger, f, now=datetime.now(UTC)):
            row = export_row(record)
            if writer is not None:
                writer.writerow({k: _csv_cell(k, v) for k, v in row.items()})
            else:
                buffer.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            rows += 1
        if output is None:
            sys.stdout.write(buffer.getvalue())
        else:
            try:
                output.write_text(buffer.getvalue(), encoding="utf-8")
            except OSError as exc:
                raise LetheError(f"cannot write {output}: {exc.strerror}") from None
        return rows

    rows = run(reading(go))
    if output is not None:
        if as_json:
            emit_json({"format": fmt, "rows": rows, "path": str(output)})
        else:
            console.print(f"Wrote {rows} request records to {output} ({fmt}).")


# -- certificate, verify, public-key --------------------------------------------------------------


@audit.command()
@click.argument("request_id")
@click.option(
    "-o",
    "--output",
    "outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="FILE.json or FILE.html; repeat for both.",
)
@json_option
def certificate(request_id: str, outputs: Sequence[Path], as_json: bool) -> None:
    """Write a certificate of erasure for a sealed request (JSON and/or readable HTML)."""
    for path in outputs:
        if path.suffix.lower() not in CERTIFICATE_SUFFIXES:
            raise LetheError(f"{path.name}: a certificate file ends in .json or .html")

    async def go(rt: Reader) -> tuple[dict[str, Any], list[str]]:
        rid = request_id.strip()
        if await rt.ledger.get_request(rid) is None:
            raise NotFoundError(f"no erasure request with id {rid!r}")
        log = ProofLog(rt.ledger, _signer(rt))
        try:
            cert = await log.certificate(rid, issued_at=datetime.now(UTC))
        except LedgerError as exc:
            raise LetheError(str(exc)) from None
        for path in outputs:
            write_certificate(cert, path)
        return cert, [
            *(f"{o.system} (round {o.round})" for o in await log.unsealed_outcomes(rid)),
            *(f"event {ev.id} ({ev.kind})" for ev in await log.unsealed_events(rid)),
        ]

    cert, unsealed = run(reading(go))
    info = {
        "request_id": cert["request"]["request_id"],
        "files": [str(p) for p in outputs],
        "receipts": len(cert["receipts"]),
        "events": sum(1 for e in cert["receipts"] if e["receipt"].get("kind") == "request_event"),
        "tree_size": cert["tree_head"]["tree_size"],
        "public_key_fingerprint": cert["public_key_fingerprint"],
        "deadline": cert["request"]["deadline"],
        "status": cert["request"]["status"],
        "signed_at": cert["tree_head"]["timestamp"],
        "not_sealed_yet": unsealed,
    }
    if as_json:
        emit_json(info)
    else:
        for path in outputs:
            console.print(f"Wrote {path}")
        console.print(
            f"{info['receipts']} receipts, proven in the log of {info['tree_size']}; "
            f"key {info['public_key_fingerprint'][:16]}…"
        )
        if unsealed:
            console.print(
                line(
                    ("Not in this certificate", "yellow"),
                    f" (not sealed yet): {', '.join(unsealed)}. It shows the request as last"
                    " sealed.",
                )
            )


def _read_key(path: Path) -> Any:
    try:
        return load_public_key(path.read_bytes())
    except OSError as exc:
        raise LetheError(f"cannot read the public key {path}: {exc.strerror}") from None
    except ProofError as exc:
        raise LetheError(f"{path}: {exc}") from None


def _fail(message: str, *, as_json: bool) -> None:
    if as_json:
        print(f"lethe: error: {visible(message)}", file=sys.stderr)
        raise click.exceptions.Exit(VerificationFailed.exit_code)
    raise VerificationFailed(message)


def _print_problems(problems: Sequence[str], notes: Sequence[str]) -> None:
    for p in problems[:20]:
        console.print(line("  ", ("✗", "red"), f" {p}"))
    if len(problems) > 20:
        console.print(f"  … and {len(problems) - 20} more")
    for n in notes:
        console.print(line("  ", ("!", "yellow"), f" {n}"))


@audit.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="KEY",
    help="The log's public key (PEM); repeat for heads signed by an earlier key.",
)
@click.option(
    "--log",
    "whole_log",
    is_flag=True,
    help="Check the whole proof log in the ledger (and that each certificate FILE is in it).",
)
@json_option
def verify(
    files: Sequence[Path], public_keys: Sequence[Path], whole_log: bool, as_json: bool
) -> None:
    """Check a certificate offline (FILE, with --public-key), or the whole log (--log).

    With --log, certificates handed out earlier (FILE ...) are checked against the log as it
    is now: a log cut back or rewritten since then fails, and a certificate that no longer
    shows everything the log holds for its request is pointed out.

    Exits 3 when what is checked does not hold, naming the first problem.
    """
    if not whole_log:
        if not files:
            raise click.UsageError("give a certificate FILE or --log (one of them)")
        if len(files) > 1:
            raise click.UsageError("check one certificate at a time (or several with --log)")
        if len(public_keys) != 1:
            raise click.UsageError("checking a certificate needs exactly one --public-key KEY")
        _verify_certificate(files[0], _read_key(public_keys[0]), as_json=as_json)
    else:
        _verify_log([_read_key(p) for p in public_keys], files, as_json=as_json)


def _verify_certificate(path: Path, key: Any, *, as_json: bool) -> None:
    """No settings, no ledger, no network: the file and the key."""
    check = check_certificate_file(path, key)
    if as_json:
        emit_json({**check.to_dict(), "file": str(path), "key_fingerprint": key_fingerprint(key)})
    else:
        verdict = ("VERIFIED", "green") if check.ok else ("FAILED", "bold red")
        console.print(
            line(
                f"Certificate {path.name}: ",
                verdict,
                f" — request {check.request_id}, "
                f"{check.receipts} receipts ({check.events} of its events) proven in a log of "
                f"{check.tree_size} "
                f"signed {_when(check.signed_at)}, key {key_fingerprint(key)[:16]}…",
            )
        )
        _print_problems(check.problems, check.notes)
    if not check.ok:
        _fail(f"certificate {path.name} does not verify: {check.problems[0]}", as_json=as_json)


def _when(stamp: str | None) -> str:
    """``2026-01-31T12:00:00.123000Z`` as ``2026-01-31 12:00:00 UTC``."""
    return f"{stamp[:10]} {stamp[11:19]} UTC" if stamp else "at an unknown time"


def _key_for(cert: dict[str, Any], keys: Sequence[Any]) -> Any:
    """The given key that signed the certificate's head (else the first, which will fail)."""
    wanted = (cert.get("tree_head") or {}).get("key_fingerprint")
    return next((k for k in keys if key_fingerprint(k) == wanted), keys[0])


def _verify_log(keys: list[Any], files: Sequence[Path], *, as_json: bool) -> None:
    settings = load_settings()
    own_key = not keys  # whoever can rewrite the log can replace this machine's key too
    certs = [(path, load_certificate(path)[0]) for path in files]

    async def go(rt: Reader) -> tuple[Any, list[dict[str, Any]]]:
        if not keys:
            try:
                keys.append(load_signing_key(rt.settings.home, create=False).public_key())
            except ConfigError as exc:
                raise LetheError(
                    f"no public key to check against: give --public-key ({exc})"
                ) from None
        log = ProofLog(rt.ledger)
        heads, reports = [], []
        for path, cert in certs:
            found = check_certificate_file(path, _key_for(cert, keys))
            report = {**found.to_dict(), "file": str(path), "newer_receipts": []}
            reports.append(report)
            if not found.ok or found.request_id is None:
                continue
            heads.append((f"certificate {path.name}", TreeHead.from_dict(cert["tree_head"])))
            shown = {e["leaf_index"] for e in cert["receipts"]}
            newer = [x.leaf_index for x in await log.leaves_of(found.request_id)]
            report["newer_receipts"] = [i for i in newer if i not in shown]
            if report["newer_receipts"]:
                report["notes"].append(
                    f"superseded: the log holds {len(report['newer_receipts'])} receipts of "
                    f"{found.request_id} this certificate does not show (leaves "
                    f"{', '.join(map(str, report['newer_receipts']))}): issue a new one"
                )
        return await log.verify(keys, heads), reports

    check, reports = run(reading(go, settings))
    if check.ok and check.receipts == 0 and check.heads == 0:
        # Nothing was checked: "verified" would be the wrong word for it.
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        check.add(None, f"the proof log is empty: nothing was ever sealed in {where}")
    cert_problems = [
        f"certificate {Path(r['file']).name}: {p}" for r in reports for p in r["problems"]
    ]
    ok = check.ok and not cert_problems
    if as_json:
        emit_json(
            {
                **check.to_dict(),
                "ok": ok,
                "certificates": reports,
                "key_fingerprints": [key_fingerprint(k) for k in keys],
                "checked_against": "this machine's signing key" if own_key else "--public-key",
            }
        )
    elif check.ok:
        console.print(
            line(
                "Proof log: ",
                ("VERIFIED", "green"),
                f" — {check.receipts} receipts, {check.heads} signed "
                f"heads (key {', '.join(key_fingerprint(k)[:16] + '…' for k in keys)}), "
                "each consistent with the one before"
                + (
                    f"; the heads of the {len(certs)} certificate(s) given are in it."
                    if certs
                    else "."
                ),
            )
        )
        _print_problems([], check.notes)
    else:
        console.print(
            line(
                "Proof log: ",
                ("FAILED", "bold red"),
                f" — first bad index {check.first_bad_index}",
            )
        )
        _print_problems([p.message for p in check.ordered()], check.notes)
    if own_key and not as_json:
        console.print(
            line(
                "  ",
                ("!", "yellow"),
                " checked against this machine's own signing key: an auditor gives "
                "the public key they were handed (--public-key), since whoever can rewrite the "
                "log can replace that key too",
            )
        )
    for r in [] if as_json else reports:
        if r["problems"] or r["notes"]:
            console.print(f"Certificate {Path(r['file']).name}:", highlight=False)
            _print_problems(r["problems"], r["notes"])
    if not check.ok:
        first = check.first_bad_index
        where = f"first bad index {first}" if first is not None else "no receipt named"
        top = check.ordered()[0]
        _fail(f"the proof log does not verify: {where}: {top.message}", as_json=as_json)
    elif cert_problems:
        _fail(cert_problems[0], as_json=as_json)


@audit.command("public-key")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the PEM here."
)
@json_option
def public_key(output: Path | None, as_json: bool) -> None:
    """The proof log's public key (PEM), which auditors verify certificates with."""
    settings = load_settings()
    try:
        key = load_signing_key(settings.home, create=False).public_key()
    except ConfigError as exc:
        raise ConfigError(
            "no signing key yet: a worker creates it on first run, "
            f"or set LETHE_SIGNING_KEY ({exc})"
        ) from None
    pem = public_key_pem(key)
    if output is not None:
        try:
            output.write_text(pem)
        except OSError as exc:
            raise LetheError(f"cannot write {output}: {exc.strerror}") from None
    if as_json:
        emit_json(
            {
                "algorithm": "Ed25519",
                "fingerprint": key_fingerprint(key),
                "public_key_pem": pem,
                "path": str(output) if output else None,
            }
        )
    elif output is not None:
        console.print(f"Wrote {output} (fingerprint {key_fingerprint(key)})")
    else:
        sys.stdout.write(pem)
