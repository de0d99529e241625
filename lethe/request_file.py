"""A file of erasure requests (``lethe submit --from FILE``): JSON Lines or CSV, one request
a line, read into fields and checked for shape only; what the fields say is checked by
``lethe.intake.validate_request`` as for one request typed on the command line.

    JSON Lines   one object a line: {"email": "…", "jurisdiction": "ccpa", "username": "…"};
                 values are text (``systems`` may be a list of names); null is absent
    CSV          a header line naming the fields, then one request a line; an empty cell is
                 absent (the command's option, or the default, applies)

Which one is told by the first line that is not blank: ``{`` starts JSON Lines. Blank lines
are skipped in both. A line is numbered as an editor numbers it (the header is line 1), so a
problem is reported by its line number and field name: the values are the person's and are
never repeated in a message.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors import IDENTIFIER_KINDS

from .errors import LetheError
from .terminal import visible

__all__ = ["FIELDS", "IDENTIFIER_FIELDS", "FileLine", "read_request_file"]

#: The identifiers a line may give beside the address, each in a field of its own name.
IDENTIFIER_FIELDS = tuple(sorted(k for k in IDENTIFIER_KINDS if k != "email"))
#: Every field a line may have.
FIELDS = (
    "email",
    "jurisdiction",
    "systems",
    "verification",
    "assertion",
    "channel",
    "received_at",
    *IDENTIFIER_FIELDS,
)


@dataclass(frozen=True)
class FileLine:
    """One request of the file: its line number and its fields as given, or why its shape is
    wrong (``problem``: a message that names fields, never values)."""

    number: int
    fields: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict, repr=False)
    problem: str | None = None


def read_request_file(text: str) -> list[FileLine]:
    """The requests of a file's text, in order; LetheError if the file as a whole cannot be
    read as requests (no request in it, a CSV header that is not one)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise LetheError("the file holds no request (every line is blank)")
    lines = _json_lines(text) if first.startswith("{") else _csv_lines(text)
    if not lines:
        raise LetheError("the file holds no request (a CSV header and nothing after it)")
    return lines


def _unknown(names: Iterable[str]) -> str | None:
    unknown = [n for n in names if n not in FIELDS]
    if not unknown:
        return None
    return f"unknown field {visible(unknown[0])!r}: a request's fields are {', '.join(FIELDS)}"


def _json_lines(text: str) -> list[FileLine]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:
            # The decoder's message names a position, never what it read.
            why = str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else "invalid"
            out.append(FileLine(number, problem=f"not a JSON object ({why})"))
            continue
        if not isinstance(value, dict):
            out.append(FileLine(number, problem="not a JSON object (one request a line)"))
            continue
        problem = _unknown(value)
        fields: dict[str, str | tuple[str, ...]] = {}
        for name, v in value.items():
            if problem is not None or v is None:
                continue
            if isinstance(v, str):
                fields[name] = v
            elif name == "systems" and isinstance(v, list) and all(isinstance(s, str) for s in v):
                fields[name] = tuple(v)
            else:
                kind = "text or a list of names" if name == "systems" else "text"
                problem = f"field {name!r} must be {kind}"
        out.append(FileLine(number, fields, problem))
    return out


def _csv_lines(text: str) -> list[FileLine]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    out: list[FileLine] = []
    end = 0  # the line the last record ended on
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # A quote left open swallows the rest of the file: nothing after it is a request.
            raise LetheError(f"line {start}: not CSV ({str(exc).split(':')[0]})") from None
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if header is None:
            header = [cell.strip().lower() for cell in row]
            problem = _unknown(header)
            if problem is not None:
                raise LetheError(f"line {start}: the CSV header's {problem}")
            if "email" not in header:
                raise LetheError(f"line {start}: the CSV header names no 'email' field")
            twice = sorted({n for n in header if header.count(n) > 1})
            if twice:
                raise LetheError(f"line {start}: the CSV header names {twice[0]!r} twice")
            continue
        if len(row) != len(header):
            out.append(
                FileLine(start, problem=f"has {len(row)} fields, the header names {len(header)}")
            )
            continue
        out.append(FileLine(start, {n: c for n, c in zip(header, row, strict=True) if c.strip()}))
    return out
