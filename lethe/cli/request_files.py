"""``lethe submit --from FILE``: many requests, each validated and received as ``lethe submit``
receives one (``lethe/request_file.py`` reads the file, ``lethe/operations/batch_intake.py``
says what is submitted when a line is bad).

Each line's result is printed as it is settled: a received request on stdout, a refused or
failed line on stderr by its line number (with ``--json``, one JSON object a line on stdout).
A message never repeats the person's identifiers: the values of the line are masked in it.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connectors import ConnectorRegistry
from vocabulary import RequestStatus

from ..errors import LetheError
from ..intake import CHANNELS, RequestDraft, Submitted, parse_received_at, validate_request
from ..operations.batch_intake import BatchLine, LineResult, receive_batch
from ..request_file import IDENTIFIER_FIELDS, read_request_file
from ..runtime import load_registry
from ..settings import Settings
from ..terminal import visible
from ._app import call, console, invocation_settings
from ._values import operator_name

__all__ = ["submit_from_file", "submitted_to_dict"]


def submitted_to_dict(done: Submitted, jurisdiction: str) -> dict[str, Any]:
    """What ``submit --json`` prints of a request received."""
    return {
        "request_id": done.request_id,
        "workflow_id": done.workflow_id,
        "subject_ref": done.subject_ref,
        "jurisdiction": jurisdiction,
        "systems": list(done.systems),
        "received_at": done.received_at.isoformat(),
        "entered_at": done.entered_at.isoformat() if done.entered_at else None,
        "due_at": done.due_at.isoformat(),
        "acknowledge_by": done.acknowledge_by.isoformat() if done.acknowledge_by else None,
        "verification_method": done.verification_method,
        "status": RequestStatus.RECEIVED,
    }


def _read(source: str) -> str:
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise LetheError(f"cannot read {visible(source)}: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's CSV may start with a BOM
    except UnicodeDecodeError:
        where = "stdin" if source == "-" else visible(source)
        raise LetheError(f"{where} is not UTF-8 text") from None


def _masked(message: str, fields: Mapping[str, str | tuple[str, ...]]) -> str:
    """``message`` with every value the line gave for the person (the address, identifiers,
    the assertion) replaced by its field's name. Intake's messages are written never to quote
    a value; this is the second guard, for this one line's values."""
    for name, value in fields.items():
        if name in _NOT_PERSONAL or not isinstance(value, str):
            continue
        for form in sorted({value, value.strip(), value.strip().lower()}, key=len, reverse=True):
            if len(form) >= 3:
                message = re.sub(re.escape(form), f"<{name}>", message, flags=re.IGNORECASE)
    return message


_NOT_PERSONAL = frozenset({"jurisdiction", "systems", "verification", "channel", "received_at"})


@dataclass
class _Lines:
    """Validates lines as ``lethe submit`` validates what is typed, the command's options
    standing for what a line does not give."""

    settings: Settings
    jurisdiction: str | None
    systems: tuple[str, ...] | None
    verification: str | None
    channel: str
    received_at: datetime | None
    #: Who enters the lines received earlier (asked once, when a line needs it).
    operator: Callable[[], str]
    registry: ConnectorRegistry = field(default_factory=load_registry)
    #: The preflight's verdict per (jurisdiction, systems): None, or why and the exit code.
    _preflight: dict[tuple[str, tuple[str, ...]], tuple[str, int] | None] = field(
        default_factory=dict
    )

    def check(self, number: int, fields: Mapping[str, str | tuple[str, ...]]) -> BatchLine:
        """The line as a draft to submit, or refused with the reason."""
        try:
            draft, channel = self._draft(fields)
            refused = self._check_systems(draft)
        except LetheError as exc:
            # Intake words its reasons for the command line: here they are fields of a line.
            why = re.sub(r"--(identifier |(?=assertion\b))", "field ", str(exc))
            return BatchLine(number, None, _masked(why, fields), exc.exit_code)
        if refused is not None:
            return BatchLine(number, None, refused[0], refused[1])
        return BatchLine(
            number,
            draft,
            channel=channel,
            entered_by=self.operator() if draft.received_at is not None else None,
        )

    def _draft(self, fields: Mapping[str, str | tuple[str, ...]]) -> tuple[RequestDraft, str]:
        def text(name: str, default: str | None = None) -> str | None:
            """The line's field (an empty one is a mistake, as an empty option is), or the
            command's option."""
            value = fields.get(name, default)
            assert value is None or isinstance(value, str)  # only systems may be a list
            return value

        email = text("email")
        if email is None:
            raise LetheError("no email: the person's address is the one field every line needs")
        channel = text("channel", self.channel)
        assert channel is not None
        if channel.strip() not in CHANNELS:
            raise LetheError(f"unknown channel: use one of {', '.join(CHANNELS)}")
        received_text = text("received_at")
        systems = fields.get("systems", self.systems)
        draft = validate_request(
            self.settings,
            email=email,
            jurisdiction=text("jurisdiction", self.jurisdiction),
            systems=tuple(systems.split(",")) if isinstance(systems, str) else systems,
            verification=text("verification", self.verification),
            assertion=text("assertion"),
            extra_identifiers={
                k: v for k, v in fields.items() if isinstance(v, str) and k in IDENTIFIER_FIELDS
            },
            received_at=(
                parse_received_at(received_text, timezone=self.settings.deadlines.timezone)
                if received_text is not None
                else self.received_at
            ),
        )
        return draft, channel.strip()

    def _check_systems(self, draft: RequestDraft) -> tuple[str, int] | None:
        """What the worker would refuse (lethe/preflight.py), once per set of systems."""
        from ..preflight import check_systems

        key = (draft.jurisdiction, draft.systems)
        if key not in self._preflight:
            try:
                check_systems(self.settings, self.registry, jurisdiction=key[0], systems=key[1])
                self._preflight[key] = None
            except LetheError as exc:
                self._preflight[key] = (str(exc), exc.exit_code)
        return self._preflight[key]


def submit_from_file(
    source: str,
    *,
    jurisdiction: str | None,
    systems: str | None,
    verification: str | None,
    channel: str,
    received_at: str | None,
    operator: str | None,
    allow_duplicate: bool,
    keep_going: bool,
    as_json: bool,
) -> None:
    """Read, validate and submit the file's requests; exit non-zero if a line failed."""
    settings = invocation_settings()
    received: datetime | None = (
        parse_received_at(received_at, timezone=settings.deadlines.timezone)
        if received_at is not None
        else None
    )
    lines = read_request_file(_read(source))
    if (
        operator is not None
        and received is None
        and not any("received_at" in x.fields for x in lines)
    ):
        raise LetheError(
            "--operator names who enters requests received earlier: --received-at, or a"
            " received_at field"
        )
    check = _Lines(
        settings,
        jurisdiction=jurisdiction,
        systems=tuple(systems.split(",")) if systems is not None else None,
        verification=verification,
        channel=channel,
        received_at=received,
        operator=functools.cache(lambda: operator_name(operator)),
    ).check
    batch = [
        BatchLine(line.number, None, line.problem)
        if line.problem is not None
        else check(line.number, line.fields)
        for line in lines
    ]
    fields_of = {line.number: line.fields for line in lines}

    def report(result: LineResult) -> None:
        if result.received is not None:
            done = result.received.submitted
            draft = next(b.draft for b in batch if b.number == result.number)
            assert draft is not None
            if as_json:
                received = submitted_to_dict(done, draft.jurisdiction)
                _print_json({"line": result.number, "result": "received", **received})
            else:
                console.print(
                    f"line {result.number}: received {done.request_id}"
                    f" ({draft.jurisdiction.upper()}, answer due {done.due_at:%Y-%m-%d});"
                    f" systems: {', '.join(done.systems)}"
                )
        elif result.error is not None:
            why = visible(_masked(result.error, fields_of.get(result.number, {})))
            if as_json:
                _print_json({"line": result.number, "result": "failed", "error": why})
            print(f"lethe: error: line {result.number}: {why}", file=sys.stderr)
        elif as_json:
            _print_json(
                {"line": result.number, "result": "not_submitted", "reason": result.not_submitted}
            )

    outcome = call(
        receive_batch, batch, keep_going=keep_going, allow_duplicate=allow_duplicate, report=report
    )
    total = len(batch)
    if outcome.failed:
        lines_text = ", ".join(str(n) for n in outcome.failed[:10])
        more = f" and {len(outcome.failed) - 10} more" if len(outcome.failed) > 10 else ""
        if outcome.stopped_by is not None:
            tail = (
                f"{outcome.received} received; line {outcome.stopped_by} stopped the batch, the"
                f" {outcome.not_submitted} after it were not submitted"
            )
        elif outcome.not_submitted:
            tail = "nothing was submitted (fix them, or --keep-going submits the others)"
        else:
            tail = f"{outcome.received} received"
        print(
            f"lethe: {len(outcome.failed)} of {total} line(s) failed"
            f" (line{'s' if len(outcome.failed) > 1 else ''} {lines_text}{more}): {tail}",
            file=sys.stderr,
        )
        raise click.exceptions.Exit(outcome.exit_code or 1)
    if not as_json:
        console.print(f"Received {outcome.received} request(s).")


def _print_json(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
