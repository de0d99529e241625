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

import io
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ledger import ProofError
from ledger.proof import deadline_state, key_fingerprint, load_public_key, public_key_pem
from ledger.queries import AuditFilter
from vocabulary import Jurisdiction, OutcomeKind, RequestStatus, describe_basis, stamp_when

from ..certificates import (
    CERTIFICATE_SUFFIXES,
    check_certificate_file,
    load_certificate,
    write_certificate,
)
from ..errors import ConfigError, LetheError
from ..keys import load_signing_key
from ..operations.ccpa_export import EXPORT_FORMATS, write_export
from ..operations.log_verification import verify_log
from ..operations.request_record import (
    RequestRecord,
    issue_certificate,
    request_record,
    select_requests,
)
from ..render import being_sealed, outcome_table, request_summary, request_to_dict
from ..settings import SYSTEM_NAME
from ..terminal import line, visible
from ._app import app, console, emit_json, invocation_settings, json_option, read
from ._values import choice_of

__all__ = ["VerificationFailed", "audit"]


class VerificationFailed(LetheError):
    """What was checked does not hold: a certificate or the log was altered."""

    exit_code = 3


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


# -- show, list ---------------------------------------------------------------------------------


@audit.command()
@click.argument("request_id")
@json_option
def show(request_id: str, as_json: bool) -> None:
    """One request's record: clock, outcomes, exceptions, events, and its sealed receipts."""
    record = read(request_record, request_id.strip())
    rec = record.request
    if as_json:
        proof = {
            "sealed": record.receipts_sealed,
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
                for x in record.leaves
            ],
            "unsealed": [{"system": o.system, "round": o.round} for o in record.unsealed],
            "unsealed_events": [
                {"event_id": ev.id, "kind": ev.kind} for ev in record.unsealed_events
            ],
            "newest_tree_head": record.newest_head.to_dict() if record.newest_head else None,
        }
        emit_json(
            {
                **request_to_dict(
                    rec, record.outcomes, record.exceptions, record.events, sealed=record.sealed
                ),
                "proof": proof,
            }
        )
        return
    console.print(request_summary(rec, sealed=record.sealed))
    if record.outcomes:
        console.print(outcome_table(record.outcomes))
        console.print(_erasure_line(record), highlight=False)
    for x in record.exceptions:
        until = x.retained_until.isoformat() if x.retained_until else "no end date"
        console.print(
            f"Kept by {x.system} until {until} ({x.state}): "
            f"{describe_basis(x.legal_basis)} — {visible(x.basis_note)}"
        )
    for ev in record.events:
        console.print(
            f"  {ev.at:%Y-%m-%d %H:%M:%S}  {ev.kind:<24} {visible(ev.actor):<18}"
            f" {_detail(ev.detail)}",
            style="dim",
            highlight=False,
            soft_wrap=True,  # one event, one line (grep-able); the terminal wraps it
        )
    if record.leaves:
        where = ", ".join(str(x.leaf_index) for x in record.leaves)
        console.print(
            f"Sealed in the proof log: {len(record.leaves)} receipts (leaves {where})."
        )
    else:
        console.print("Not sealed: no receipt of this request is in the proof log.")
    if record.unsealed:
        names = ", ".join(f"{o.system} (round {o.round})" for o in record.unsealed)
        console.print(line(("Outcomes not sealed yet", "yellow"), f": {names}"))
    if record.unsealed_events:
        names = ", ".join(f"{ev.kind} (event {ev.id})" for ev in record.unsealed_events)
        console.print(line(("Events not sealed yet", "yellow"), f": {names}"))


def _erasure_line(record: RequestRecord) -> str:
    """When the erasure itself was done, against the due date: the answer can be on time
    while a failed system is erased by a retry weeks later."""
    done = record.systems_done_at
    if done is None:
        return (
            "Erasure not done yet: a system failed, was not searched, or is still under way"
            " (see the table)."
        )
    verdict = record.erasure_deadline
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
    selected = read(select_requests, _filter(**filters), limit=limit)
    recs, sealed = selected.requests, selected.sealed
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
        if being_sealed(r, r.request_id in sealed)
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


# -- export -------------------------------------------------------------------------------------


@audit.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
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

    buffer = io.StringIO()  # written out whole: a failure leaves no half a file
    rows = read(write_export, f, buffer, fmt=fmt)
    if output is None:
        sys.stdout.write(buffer.getvalue())
        return
    try:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise LetheError(f"cannot write {output}: {exc.strerror}") from None
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

    issued = read(issue_certificate, request_id.strip())
    cert = issued.certificate
    issuer = invocation_settings().issuer
    for path in outputs:
        write_certificate(
            cert, path, issuer={"organisation": issuer.organisation, "contact": issuer.contact}
        )
    unsealed = [
        *(f"{o.system} (round {o.round})" for o in issued.unsealed),
        *(f"event {ev.id} ({ev.kind})" for ev in issued.unsealed_events),
    ]
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
                f"signed {stamp_when(check.signed_at, seconds=True, missing='at an unknown time')},"
                f" key {key_fingerprint(key)[:16]}…",
            )
        )
        _print_problems(check.problems, check.notes)
    if not check.ok:
        _fail(f"certificate {path.name} does not verify: {check.problems[0]}", as_json=as_json)


def _verify_log(keys: list[Any], files: Sequence[Path], *, as_json: bool) -> None:
    certs = [(path, load_certificate(path)[0]) for path in files]
    done = read(verify_log, keys, certs)
    check, reports, keys = done.check, done.certificates, done.keys
    if as_json:
        emit_json(
            {
                **check.to_dict(),
                "ok": done.ok,
                "certificates": reports,
                "key_fingerprints": [key_fingerprint(k) for k in keys],
                "checked_against": "this machine's signing key" if done.own_key else "--public-key",
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
    if done.own_key and not as_json:
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
    elif done.certificate_problems:
        _fail(done.certificate_problems[0], as_json=as_json)


@audit.command("public-key")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the PEM here."
)
@json_option
def public_key(output: Path | None, as_json: bool) -> None:
    """The proof log's public key (PEM), which auditors verify certificates with."""
    settings = invocation_settings()
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
