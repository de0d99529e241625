"""Certificates of erasure as files: JSON for machines, a self-contained HTML page for people.

The HTML page embeds the JSON certificate it was rendered from, so ``lethe audit verify``
checks a page as it checks a JSON file; and because rendering is deterministic, it also
re-renders the page and refuses one whose visible text was edited afterwards, or that does
not say it came from this renderer (its generator tag is as editable as its text).
Everything shown is escaped; the page loads nothing from anywhere.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import CertificateCheck, ProofError, check_certificate, missing_identifiers
from ledger.proof import canonical_json, read_json
from ledger.proof.merkle import leaf_hash
from vocabulary import OutcomeKind, RequestStatus, VerificationMethod, describe_basis, stamp_when

from .errors import LetheError

__all__ = [
    "CERTIFICATE_SUFFIXES",
    "GENERATOR",
    "STATUS_LABELS",
    "check_certificate_file",
    "load_certificate",
    "render_html",
    "write_certificate",
]

CERTIFICATE_SUFFIXES = (".json", ".html")
GENERATOR = "lethe certificate-html/4"
#: The page before the template (``_render_v3``): every row of every system, tokens only.
_GENERATOR_BEFORE_TEMPLATE = "lethe certificate-html/3"
#: Pages rendered before events were sealed: no events table. Still checked, by rendering
#: them as that renderer did, if their certificate holds no event receipts.
_GENERATOR_BEFORE_EVENTS = "lethe certificate-html/2"
_EMBED = re.compile(
    r'<script type="application/json" id="lethe-certificate">(.*?)</script>', re.DOTALL
)
_GENERATOR = re.compile(r'<meta name="generator" content="([^"]*)">')
_ISSUER = re.compile(r'<script type="application/json" id="lethe-issuer">(.*?)</script>', re.DOTALL)

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;
max-width:62rem;margin:2rem auto;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
.id{font-family:ui-monospace,monospace;color:#555;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5;width:14rem;font-weight:600}
code,.mono{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
.met,.clean,.erased,.not_found{color:#176b2c;font-weight:600}
.missed,.failed,.left{color:#b00020;font-weight:600}
.retained,.referred,.open{color:#8a5a00;font-weight:600}
.note{color:#555}
"""


def _e(value: Any) -> str:
    """Escaped text for any value; empty values show as a dash."""
    if value is None or value == "" or value == {} or value == []:
        return "—"
    if isinstance(value, Mapping | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return html.escape(str(value), quote=True)


def _when(value: Any) -> str:
    """``2026-01-31T12:00:00.000000Z`` as ``2026-01-31 12:00 UTC``, escaped."""
    return html.escape(stamp_when(str(value) if value else None))


def _counts(counts: Any) -> str:
    if not counts:
        return "—"
    return "<br>".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(dict(counts).items()))


def _row(label: str, cell: str, cls: str = "") -> str:
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<tr><th>{html.escape(label)}</th><td{attr}>{cell}</td></tr>"


def _basis(code: Any) -> str:
    if not code:
        return "—"
    return f"{_e(describe_basis(str(code)))} <code>{_e(code)}</code>"


def _check_cell(receipt: Mapping[str, Any]) -> tuple[str, str]:
    v = receipt.get("verification") or {}
    if not v.get("checked"):
        return "not checked (the system cannot be asked)", ""
    if v.get("clean"):
        return f"nothing left ({_when(v.get('verified_at'))})", "clean"
    return f"items left: {_e(v.get('residual'))} ({_when(v.get('verified_at'))})", "left"


#: How each verification method established who asked (what an auditor asks first).
_VERIFIED_BY: dict[str, str] = {
    VerificationMethod.EMAIL: "a one-time code mailed to the address on file",
    VerificationMethod.PREVERIFIED: "the privacy portal's signed assertion",
    VerificationMethod.OPERATOR: "a named operator, with a recorded reason",
}

#: What a refused request's page says instead of listing systems.
_REFUSED: dict[str, str] = {
    RequestStatus.REJECTED: (
        "No system was asked to erase anything: the requester's identity was not "
        "verified, so the request was refused."
    ),
    RequestStatus.CANCELLED: (
        "No system was asked to erase anything: the request was withdrawn before "
        "the requester's identity was verified."
    ),
}


def _newest(entries: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A system's receipt in force: its latest round (then its latest leaf)."""
    return max(entries, key=lambda e: (int(e["receipt"].get("round") or 0), e["leaf_index"]))


def _system_table(entry: Mapping[str, Any], superseded_by: Mapping[str, Any] | None) -> str:
    r = entry["receipt"]
    check, check_cls = _check_cell(r)
    outcome = str(r.get("outcome"))
    later = (
        [
            _row(
                "Superseded by",
                f"round {_e(superseded_by['receipt'].get('round'))}: "
                f"{_e(superseded_by['receipt'].get('outcome'))}",
                "note",
            )
        ]
        if superseded_by is not None
        else []
    )
    # A system not searched in full: what the request lacked (only such receipts get the row,
    # so pages rendered before it existed render the same).
    unsearched = (
        [
            _row(
                "Not searched",
                "the request had no "
                f"{_e(', '.join(missing_identifiers(r.get('evidence'))) or 'identifier')}: what"
                " is keyed by it was not looked for (the counts are what the other identifiers"
                " found)",
                "missed",
            )
        ]
        if outcome == OutcomeKind.NOT_SEARCHED
        else []
    )
    rows = [
        *later,
        _row("Outcome", _e(outcome), re.sub(r"[^a-z_]", "", outcome)),
        *unsearched,
        _row("Round", _e(r.get("round"))),
        _row(
            "Connector",
            f"{_e(r.get('connector'))} version {_e(r.get('connector_version'))}"
            if r.get("connector")
            else "not called",
        ),
        _row("Erased (rows/items)", _counts(r.get("counts"))),
        _row("Kept", _counts(r.get("retained_counts"))),
        _row("Legal basis for keeping", _basis(r.get("legal_basis"))),
        _row("Why", _e(r.get("basis_note"))),
        _row("Kept until", _e(r.get("retained_until"))),
        _row("Review on", _e(r.get("review_on"))),
        _row("Check after erasure", check, check_cls),
        _row("Referred to", _e(r.get("controller"))),
        _row("Ticket", _e(r.get("ticket"))),
        _row("Error", _e(r.get("error"))),
        _row("Evidence", f"<code>{_e(r.get('evidence'))}</code>"),
        _row("Attempts", _e(r.get("attempts"))),
        _row("Started", _when(r.get("started_at"))),
        _row("Finished", _when(r.get("finished_at"))),
        _row(
            "Receipt in the proof log",
            f"leaf {_e(entry.get('leaf_index'))}, hash "
            f"<code>{_e(leaf_hash(canonical_json(r)).hex())}</code>",
        ),
    ]
    return "<table>" + "".join(rows) + "</table>"


def _detail_cell(detail: Any) -> str:
    """An event's detail, one ``key: value`` per line."""
    if not isinstance(detail, Mapping) or not detail:
        return _e(detail)
    return "<br>".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(detail.items()))


def _events(cert: Mapping[str, Any]) -> str:
    events = sorted(
        (e for e in cert["receipts"] if e["receipt"].get("kind") == "request_event"),
        key=lambda e: (str(e["receipt"].get("at")), e["leaf_index"]),
    )
    if not events:
        return "<p>No event of this request is sealed in this certificate.</p>"
    rows = "".join(
        "<tr>"
        f"<td>{_when(r.get('at'))}</td><td>{_e(r.get('event'))}</td>"
        + (
            f"<td>{_e(o.get('actor'))}</td><td>{_detail_cell(o.get('detail'))}</td>"
            if isinstance(o, Mapping)
            else '<td colspan="2">(not disclosed in this certificate)</td>'
        )
        + f"<td>leaf {_e(e.get('leaf_index'))}</td>"
        "</tr>"
        for e in events
        for r, o in [(e["receipt"], e.get("opening"))]
    )
    return (
        "<table><tr><th>Time</th><th>Event</th><th>By</th><th>Detail</th><th>Receipt</th></tr>"
        + rows
        + "</table>"
    )


def _has_events(cert: Mapping[str, Any]) -> bool:
    return any(e["receipt"].get("kind") == "request_event" for e in cert["receipts"])


def _render_v3(cert: Mapping[str, Any], *, generator: str) -> str:
    """The page as ``lethe certificate-html/3`` (and, without events, ``/2``) rendered it:
    kept, unchanged, so that pages made before the template still verify."""
    with_events = generator != _GENERATOR_BEFORE_EVENTS
    req = cert["request"]
    head = cert["tree_head"]
    rid = _e(req.get("request_id"))
    deadline = str(req.get("deadline"))
    # How identity was verified, from the newest request receipt itself (proven by the log).
    states = [e for e in cert["receipts"] if e["receipt"].get("kind") == "request_status"]
    state = max(states, key=lambda e: e["leaf_index"])["receipt"] if states else {}
    method = str(state.get("verification_method"))
    summary = "".join(
        [
            _row("Request", f"<code>{rid}</code>"),
            _row("Law", _e(str(req.get("jurisdiction", "")).upper())),
            _row("Received through", _e(req.get("channel"))),
            _row("Received", _when(req.get("received_at"))),
            _row(
                "Identity verified by",
                f"{_e(_VERIFIED_BY.get(method, method))} <code>{_e(method)}</code>",
            ),
            _row("Identity verified", _when(state.get("verified_at"))),
            _row("Answer due", _when(req.get("due_at"))),
            _row("Answered", _when(req.get("completed_at"))),
            _row("Deadline", _e(deadline), re.sub(r"[^a-z]", "", deadline)),
            _row("Final status", _e(req.get("status"))),
            _row("Systems", _e(", ".join(str(s) for s in req.get("systems") or []))),
        ]
    )
    entries = [e for e in cert["receipts"] if e["receipt"].get("kind") == "system_outcome"]
    systems: dict[str, list[Mapping[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: (str(e["receipt"].get("system")), e["leaf_index"])):
        systems.setdefault(str(entry["receipt"].get("system")), []).append(entry)
    in_force = {system: _newest(items) for system, items in systems.items()}
    parts = []
    for system, items in systems.items():
        parts.append(f"<h3>{_e(system)}</h3>")
        newest = in_force[system]
        parts.extend(_system_table(entry, None if entry is newest else newest) for entry in items)
    refused = _REFUSED.get(str(req.get("status")))
    if refused is not None:
        parts.append(f"<p>{_e(refused)}</p>")
    else:
        for system in req.get("systems") or []:
            if str(system) not in systems:
                parts.append(
                    f"<h3>{_e(system)}</h3><p>No receipt in this certificate: the system had "
                    "not finished when the request was sealed.</p>"
                )
    kept = [
        e["receipt"]
        for e in in_force.values()
        if e["receipt"].get("outcome") == OutcomeKind.RETAINED
        or (
            e["receipt"].get("outcome") == OutcomeKind.NOT_SEARCHED
            and e["receipt"].get("legal_basis")
        )
    ]
    if kept:
        exception_rows = "".join(
            "<tr>"
            f"<td>{_e(r.get('system'))}</td><td>{_basis(r.get('legal_basis'))}</td>"
            f"<td>{_counts(r.get('retained_counts'))}</td>"
            f"<td>{_e(r.get('retained_until'))}</td><td>{_e(r.get('review_on'))}</td>"
            f"<td>{_e(r.get('basis_note'))}</td>"
            "</tr>"
            for r in kept
        )
        exceptions = (
            "<table><tr><th>System</th><th>Legal basis</th><th>What is kept</th>"
            "<th>Until</th><th>Review on</th><th>Why</th></tr>" + exception_rows + "</table>"
        )
    else:
        exceptions = "<p>None: nothing is kept.</p>"
    ended = [
        (e["receipt"], in_force[system]["receipt"])
        for system, items in systems.items()
        for e in items
        if e is not in_force[system] and e["receipt"].get("outcome") == OutcomeKind.RETAINED
    ]
    if ended:
        exceptions += (
            "<p>Exceptions that have since ended:</p><ul>"
            + "".join(
                f"<li>{_e(old.get('system'))}: kept under {_basis(old.get('legal_basis'))} "
                f"(round {_e(old.get('round'))}); round {_e(new.get('round'))}: "
                f"{_e(new.get('outcome'))}</li>"
                for old, new in ended
            )
            + "</ul>"
        )
    proof = "".join(
        [
            _row("Receipts in this certificate", _e(len(cert["receipts"]))),
            _row("Signed tree head: size", _e(head.get("tree_size"))),
            _row("Root hash (RFC 6962, SHA-256)", f"<code>{_e(head.get('root_hash'))}</code>"),
            _row("Signed at", _e(head.get("timestamp"))),
            _row("Signature (Ed25519)", f"<code>{_e(head.get('signature'))}</code>"),
            _row("Key fingerprint", f"<code>{_e(cert.get('public_key_fingerprint'))}</code>"),
            _row("Certificate issued", _when(cert.get("issued_at"))),
        ]
    )
    embedded = (
        json.dumps(cert, indent=1, ensure_ascii=False)
        .replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="{generator}">'
        f"<title>Certificate of erasure {rid}</title><style>{_CSS}</style></head>\n<body>\n"
        f'<h1>Certificate of erasure</h1><p class="id">{rid}</p>\n'
        "<p>What each system holding this person's data did with the request, what was kept "
        "and under which legal basis, and a signed proof that this record is the one in "
        "the erasure log. The person is not named here.</p>\n"
        f"<h2>The request</h2><table>{summary}</table>\n"
        f"<h2>What each system did</h2>\n{''.join(parts) or '<p>No system receipts.</p>'}\n"
        f"<h2>Exceptions: what is kept, and why</h2>\n{exceptions}\n"
        + (
            "<h2>What happened to the request: its events</h2>\n"
            "<p>Who verified the requester, extended the deadline, applied a hold or "
            "cancelled, when and why. The log seals when and what; who and why are sealed "
            "by a salted commitment, opened here by the certificate's own copy of them, "
            f"which `lethe audit verify` checks.</p>\n{_events(cert)}\n"
            if with_events
            else ""
        )
        + f"<h2>Proof</h2><table>{proof}</table>\n"
        '<p class="note">To check this page offline: <code>lethe audit verify THIS_FILE '
        "--public-key KEY.pem</code>, with the log's public key from its operator "
        "(<code>lethe audit public-key</code>).</p>\n"
        f'<script type="application/json" id="lethe-certificate">{embedded}</script>\n'
        "</body></html>\n"
    )


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CERTIFICATE_SUFFIXES:
        raise LetheError(f"{path.name}: a certificate file ends in .json or .html")
    return suffix


def write_certificate(
    cert: Mapping[str, Any], path: Path, *, issuer: Mapping[str, str | None] | None = None
) -> None:
    """Write atomically: a reader never sees half a certificate. ``issuer``: the page's
    issuer block (``[issuer]`` organisation, contact)."""
    text = (
        render_html(cert, issuer=issuer)
        if _suffix(path) == ".html"
        else json.dumps(cert, indent=2, ensure_ascii=False) + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_certificate(path: Path) -> tuple[dict[str, Any], str | None]:
    """The certificate in a .json or .html file, and the page's text if it is a page."""
    suffix = _suffix(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LetheError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LetheError(f"{path}: cannot read it ({type(exc).__name__})") from None
    page = None
    if suffix == ".html":
        found = _EMBED.search(text)
        if found is None:
            raise LetheError(f"{path.name}: no embedded certificate in this page")
        page, text = text, found.group(1)
    try:
        cert = read_json(text)
    except ProofError as exc:
        raise LetheError(f"{path.name}: {exc}") from None
    if not isinstance(cert, dict):
        raise LetheError(f"{path.name}: not a certificate (expected a JSON object)")
    return cert, page


def check_certificate_file(path: Path, public_key: Ed25519PublicKey) -> CertificateCheck:
    """Check a certificate file with the public key alone (no ledger, no settings)."""
    cert, page = load_certificate(path)
    check = check_certificate(cert, public_key)
    if page is not None and check.ok:
        generator = _GENERATOR.search(page)
        renderers = {GENERATOR, _GENERATOR_BEFORE_TEMPLATE} | (
            set() if _has_events(cert) else {_GENERATOR_BEFORE_EVENTS}
        )
        if generator is None or generator.group(1) not in renderers:
            # The visible text is only vouched for by re-rendering it; a page that does not say
            # it came from this renderer (the tag is as editable as the text) cannot be.
            made_by = f"made by {generator.group(1)!r}" if generator else "no generator tag"
            check.problems.append(
                f"the page's visible text cannot be checked ({made_by}; this Lethe renders "
                f"{GENERATOR!r}): check its JSON certificate instead"
            )
        elif render_html(cert, generator=generator.group(1), issuer=_issuer_of(page)) != page:
            check.problems.append(
                "the page's visible text differs from the certificate it embeds (edited)"
            )
    return check


# -- the page people read (``lethe certificate-html/4``): lethe/templates/certificate.html.j2 --

#: Each outcome in words, the CSS class it shows in, and how the summary counts it.
_OUTCOMES: dict[str, tuple[str, str, str]] = {
    OutcomeKind.ERASED: ("Erased", "ok", "erased"),
    OutcomeKind.NOT_FOUND: ("Nothing found to erase", "ok", "held nothing"),
    OutcomeKind.RETAINED: ("Kept under a legal basis", "kept", "kept under a legal basis"),
    OutcomeKind.NOT_SEARCHED: ("Not searched in full", "bad", "not searched in full"),
    OutcomeKind.REFERRED: ("Referred to its controller", "kept", "referred to their controller"),
    OutcomeKind.FAILED: ("Failed", "bad", "failed"),
    OutcomeKind.PENDING: ("Not finished", "kept", "not finished"),
    OutcomeKind.IN_PROGRESS: ("Not finished", "kept", "not finished"),
}
#: A request's final status in words (the token is shown beside it).
STATUS_LABELS: dict[str, str] = {
    RequestStatus.RECEIVED: "Received",
    RequestStatus.AWAITING_VERIFICATION: "Waiting for the requester's identity to be verified",
    RequestStatus.ERASING: "Erasing",
    RequestStatus.ESCALATED: "Erasing, escalated",
    RequestStatus.COMPLETED: "Done: erased everywhere",
    RequestStatus.COMPLETED_WITH_EXCEPTIONS: "Done, with exceptions the law allows",
    RequestStatus.PARTIALLY_FAILED: "Partly failed",
    RequestStatus.FAILED: "Failed",
    RequestStatus.REJECTED: "Refused: the requester's identity was not verified",
    RequestStatus.CANCELLED: "Withdrawn before verification",
}
_CHANNELS = {"cli": "entered by an operator", "web-form": "web form", "in-person": "in person"}


def _stamp(value: Any) -> str:
    """The one time format of the page: ``2026-01-31 12:00 UTC`` (a date stays a date)."""
    return stamp_when(str(value) if value else None, missing="")


def _lines(value: Any, prefix: str = "") -> list[str]:
    """A value as ``key: value`` lines, nested keys joined with dots, in key order."""
    if isinstance(value, Mapping):
        out: list[str] = []
        for key in sorted(value, key=str):
            out.extend(_lines(value[key], f"{prefix}{key}."))
        return out
    key = prefix[:-1]
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, list):
        if all(isinstance(v, Mapping) for v in value):
            out = []
            for n, item in enumerate(value, 1):
                out.extend(_lines(item, f"{prefix}{n}."))
            return out
        value = ", ".join(str(v) for v in value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", value):
        value = _stamp(value.replace("+00:00", "Z"))
    return [f"{key}: {value}" if key else str(value)]


def _kv(label: str, lines: list[str], cls: str = "", token: str = "") -> dict[str, Any] | None:
    return {"label": label, "lines": lines, "cls": cls, "token": token} if lines else None


def _summary(req: Mapping[str, Any], in_force: Mapping[str, Mapping[str, Any]]) -> str:
    """``4 systems: 2 erased, 2 kept under a legal basis``."""
    named = [str(s) for s in req.get("systems") or []] or sorted(in_force)
    if str(req.get("status")) in _REFUSED:
        return f"{len(named)} system{'s' if len(named) != 1 else ''}: none was asked to erase"
    counts: dict[str, int] = {}
    for system in named:
        entry = in_force.get(system)
        outcome = str(entry["receipt"].get("outcome")) if entry is not None else "pending"
        phrase = _OUTCOMES.get(outcome, (outcome, "", outcome))[2]
        counts[phrase] = counts.get(phrase, 0) + 1
    order = [o[2] for o in _OUTCOMES.values()]
    parts = [
        f"{n} {phrase}"
        for phrase, n in sorted(
            counts.items(), key=lambda i: (order.index(i[0]) if i[0] in order else 99, i[0])
        )
    ]
    return f"{len(named)} system{'s' if len(named) != 1 else ''}: {', '.join(parts)}"


def _system_view(
    system: str, items: list[Mapping[str, Any]], newest: Mapping[str, Any]
) -> dict[str, Any]:
    r = newest["receipt"]
    outcome = str(r.get("outcome"))
    label, cls, _ = _OUTCOMES.get(outcome, (outcome, "", outcome))
    v = r.get("verification") or {}
    if not v.get("checked"):
        check = ["not checked (the system cannot be asked)"] if r.get("connector") else []
        check_cls = ""
    elif v.get("clean"):
        check, check_cls = [f"nothing left ({_stamp(v.get('verified_at'))})"], "ok"
    else:
        check = [f"items left ({_stamp(v.get('verified_at'))})", *_lines(v.get("residual"))]
        check_cls = "bad"
    basis = r.get("legal_basis")
    rows = [
        _kv("Erased (rows/items)", _lines(r.get("counts"))),
        _kv("Kept", _lines(r.get("retained_counts"))),
        _kv(
            "Legal basis for keeping",
            [describe_basis(str(basis))] if basis else [],
            token=str(basis or ""),
        ),
        _kv("Why", _lines(r.get("basis_note"))),
        _kv("Kept until", _lines(r.get("retained_until"))),
        _kv("Review on", _lines(r.get("review_on"))),
        _kv(
            "Not searched",
            [
                "the request had no "
                f"{', '.join(missing_identifiers(r.get('evidence'))) or 'identifier'}: what is"
                " keyed by it was not looked for"
            ]
            if outcome == OutcomeKind.NOT_SEARCHED
            else [],
            "bad",
        ),
        _kv("Check after erasure", check, check_cls),
        _kv("Referred to", _lines(r.get("controller"))),
        _kv("Ticket", _lines(r.get("ticket"))),
        _kv("Error", _lines(r.get("error")), "bad"),
        _kv("Evidence", _lines(r.get("evidence"))),
        _kv(
            "Connector",
            [f"{r.get('connector')} version {r.get('connector_version')}"]
            if r.get("connector")
            else ["not called"],
        ),
        _kv("Round", [str(r.get("round"))] if int(r.get("round") or 0) else []),
        _kv("Attempts", [str(r.get("attempts"))] if int(r.get("attempts") or 0) > 1 else []),
        _kv(
            "When",
            [f"{_stamp(r.get('started_at'))} to {_stamp(r.get('finished_at'))}"]
            if r.get("started_at") and r.get("finished_at")
            else [],
        ),
        _kv(
            "Receipt in the proof log",
            [f"leaf {newest.get('leaf_index')}", f"hash {leaf_hash(canonical_json(r)).hex()}"],
        ),
    ]
    earlier = []
    for entry in items:
        if entry is newest:
            continue
        old = entry["receipt"]
        old_outcome = str(old.get("outcome"))
        earlier.append(
            {
                "round": old.get("round"),
                "label": _OUTCOMES.get(old_outcome, (old_outcome,))[0],
                "token": old_outcome,
                "basis": describe_basis(str(old["legal_basis"])) if old.get("legal_basis") else "",
                "leaf": entry.get("leaf_index"),
            }
        )
    return {
        "name": system,
        "label": label,
        "cls": cls,
        "token": outcome,
        "rows": [row for row in rows if row is not None],
        "earlier": earlier,
    }


def _event_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    r, opening = entry["receipt"], entry.get("opening")
    kind = str(r.get("event"))
    disclosed = isinstance(opening, Mapping)
    o: Mapping[str, Any] = opening if isinstance(opening, Mapping) else {}
    return {
        "at": _stamp(r.get("at")),
        "label": kind.replace("_", " ").capitalize(),
        "token": kind,
        "actor": str(o.get("actor") or "") if disclosed else "(not disclosed)",
        "detail": _lines(o.get("detail")) if disclosed else [],
    }


def _embedded(element_id: str, value: Any, indent: int | None) -> str:
    text = (
        json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=indent is None)
        .replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _issuer_of(page: str) -> dict[str, str] | None:
    found = _ISSUER.search(page)
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {k: str(v) for k, v in value.items() if k in ("organisation", "contact") and v}


def render_html(
    cert: Mapping[str, Any],
    *,
    generator: str = GENERATOR,
    issuer: Mapping[str, str | None] | None = None,
) -> str:
    """The certificate as one readable page. Deterministic: same certificate and issuer,
    same bytes. ``generator``: an older renderer's tag, to re-render a page it made.
    ``issuer``: organisation and contact, shown at the top (the page embeds them, so that
    verification re-renders the page as it was issued)."""
    if generator in (_GENERATOR_BEFORE_TEMPLATE, _GENERATOR_BEFORE_EVENTS):
        return _render_v3(cert, generator=generator)
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("lethe", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    req = cert["request"]
    head = cert["tree_head"]
    given = {k: str(v) for k, v in (issuer or {}).items() if k in ("organisation", "contact") and v}
    states = [e for e in cert["receipts"] if e["receipt"].get("kind") == "request_status"]
    state = max(states, key=lambda e: e["leaf_index"])["receipt"] if states else {}
    method = str(state.get("verification_method") or "")
    entries = [e for e in cert["receipts"] if e["receipt"].get("kind") == "system_outcome"]
    by_system: dict[str, list[Mapping[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: (str(e["receipt"].get("system")), e["leaf_index"])):
        by_system.setdefault(str(entry["receipt"].get("system")), []).append(entry)
    in_force = {system: _newest(items) for system, items in by_system.items()}
    status = str(req.get("status"))
    deadline = str(req.get("deadline") or "")
    channel = str(req.get("channel") or "")
    request_rows = [
        {"label": "Law", "value": str(req.get("jurisdiction", "")).upper(), "cls": "", "token": ""},
        {"label": "Received", "value": _stamp(req.get("received_at")), "cls": "", "token": ""},
        {
            "label": "Received through",
            "value": _CHANNELS.get(channel, channel),
            "cls": "",
            "token": channel if channel in _CHANNELS else "",
        },
        {
            "label": "Identity verified by",
            "value": _VERIFIED_BY.get(method, method),
            "cls": "",
            "token": method,
        },
        {
            "label": "Identity verified",
            "value": _stamp(state.get("verified_at")),
            "cls": "",
            "token": "",
        },
        {"label": "Answer due", "value": _stamp(req.get("due_at")), "cls": "", "token": ""},
        {"label": "Answered", "value": _stamp(req.get("completed_at")), "cls": "", "token": ""},
        {
            "label": "Deadline",
            "value": {"met": "met", "missed": "missed", "open": "not answered yet"}.get(
                deadline, deadline
            ),
            "cls": {"met": "ok", "missed": "bad"}.get(deadline, ""),
            "token": "",
        },
        {
            "label": "Systems",
            "value": ", ".join(str(s) for s in req.get("systems") or []),
            "cls": "",
            "token": "",
        },
    ]
    kept = [
        {
            "system": r.get("system"),
            "basis": describe_basis(str(r.get("legal_basis"))) if r.get("legal_basis") else "",
            "basis_token": str(r.get("legal_basis") or ""),
            "counts": _lines(r.get("retained_counts")),
            "until": _stamp(r.get("retained_until"))
            or (f"review on {r.get('review_on')}" if r.get("review_on") else "no end date"),
            "why": str(r.get("basis_note") or ""),
        }
        for e in in_force.values()
        for r in [e["receipt"]]
        if r.get("outcome") == OutcomeKind.RETAINED
        or (r.get("outcome") == OutcomeKind.NOT_SEARCHED and r.get("legal_basis"))
    ]
    events = sorted(
        (e for e in cert["receipts"] if e["receipt"].get("kind") == "request_event"),
        key=lambda e: (str(e["receipt"].get("at")), e["leaf_index"]),
    )
    refused = _REFUSED.get(status)
    proof_rows = [
        {
            "label": "Receipts in this certificate",
            "value": str(len(cert["receipts"])),
            "mono": False,
        },
        {"label": "Signed tree head: size", "value": str(head.get("tree_size")), "mono": False},
        {
            "label": "Root hash (RFC 6962, SHA-256)",
            "value": str(head.get("root_hash")),
            "mono": True,
        },
        {"label": "Signed at", "value": _stamp(head.get("timestamp")), "mono": False},
        {"label": "Signature (Ed25519)", "value": str(head.get("signature")), "mono": True},
        {
            "label": "Key fingerprint",
            "value": str(cert.get("public_key_fingerprint")),
            "mono": True,
        },
        {"label": "Certificate issued", "value": _stamp(cert.get("issued_at")), "mono": False},
    ]
    embedded = _embedded("lethe-certificate", cert, 1)
    if given:
        embedded += "\n" + _embedded("lethe-issuer", given, None)
    return env.get_template("certificate.html.j2").render(
        generator=generator,
        request_id=str(req.get("request_id")),
        issuer=given,
        summary=_summary(req, in_force),
        status={"label": STATUS_LABELS.get(status, status), "token": status},
        answered=_stamp(req.get("completed_at")) or "not yet",
        deadline_text={
            "met": "the deadline was met",
            "missed": "the deadline was MISSED",
        }.get(deadline, "the deadline runs"),
        request_rows=[row for row in request_rows if row["value"]],
        refused=refused,
        systems=[_system_view(s, items, in_force[s]) for s, items in by_system.items()],
        unfinished=[]
        if refused is not None
        else [str(s) for s in req.get("systems") or [] if str(s) not in by_system],
        kept=kept,
        ended=[
            {
                "system": old.get("system"),
                "basis": describe_basis(str(old.get("legal_basis"))),
                "round": old.get("round"),
                "now_round": new.get("round"),
                "now_label": _OUTCOMES.get(str(new.get("outcome")), (str(new.get("outcome")),))[0],
                "now_token": str(new.get("outcome")),
            }
            for system, items in by_system.items()
            for e in items
            for old, new in [(e["receipt"], in_force[system]["receipt"])]
            if e is not in_force[system] and old.get("outcome") == OutcomeKind.RETAINED
        ],
        events=[_event_view(e) for e in events],
        proof_rows=proof_rows,
        # JSON with every <, > and & escaped by _embedded: it cannot close the script element.
        embedded=Markup(embedded),  # noqa: S704
    )
