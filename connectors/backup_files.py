"""Backup copies on a file system: found, never edited, retained until rotation.

Backups cannot be edited without breaking them, so this connector does not erase: it finds the
copies that contain the subject and reports them ``Retained`` under ``backup-rotation`` until
the newest such copy is rotated away (its age plus ``retention_days``). The copies are kept
"beyond use": the ledger keeps the subject's pseudonym so that a restore is followed by a new
erasure. When the retention date passes and the copies are gone, erasing again says
``NotFound``.

A copy "contains" the subject if any of the subject's identifiers appears in its text (read as
UTF-8; plain SQL dumps, SQLite files, JSON and CSV exports all qualify). Unlike connectors that
change data, which change only what the matching policy (``connectors._matching``) calls the
subject's, this one errs towards retention on purpose: listing a copy as retained erases
nothing, missing one would be a false record. So it searches for every spelling a look-alike
could have: a substring match of NFKC forms with full Unicode case folding (see ``_contains``),
which finds ``ÁDÁ@EXAMPLE.ORG``, a decomposed ``e`` + U+0308 or a fullwidth a (U+FF41) for the
address the request carries. ``name`` alone does not identify one person and is refused. An
identifier kind of ``identifiers`` that the request lacks cannot be looked for: the outcome is
then ``NotSearched``, naming it (with the copies the other identifiers found, kept as above).
Compressed or encrypted archives are out of reach of this connector.
"""

from __future__ import annotations

import asyncio
import codecs
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from vocabulary import LegalBasis

from ._errors import PermanentError, TransientError
from ._matching import IDENTIFYING_KINDS
from ._outcomes import NotFound, NotSearched, Outcome, Retained
from ._protocol import BaseConnector, Capability, ConnectorOptions
from ._subject import IDENTIFIER_KINDS, Subject

__all__ = ["BackupFilesConnector", "BackupFilesOptions"]

_BLOCK = 1 << 20


class BackupFilesOptions(ConnectorOptions):
    path: str = Field(description="Directory holding the backup copies")
    pattern: str = Field(default="*", description="Glob of copy file names inside path")
    retention_days: int = Field(ge=1, description="How long a copy lives before rotation")
    identifiers: list[str] = Field(default_factory=lambda: ["email"])

    @field_validator("identifiers")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        unknown = set(v) - IDENTIFIER_KINDS
        if unknown or not v:
            raise ValueError(f"identifiers must be among {sorted(IDENTIFIER_KINDS)}")
        if not set(v) & IDENTIFYING_KINDS:
            raise ValueError(
                f"identifiers: {', '.join(v)} does not identify one person; add one that does"
                f" ({', '.join(sorted(IDENTIFYING_KINDS))})"
            )
        return v


def _loose(text: str) -> str:
    """``text`` with every spelling of a character made one: compatibility characters as
    their plain forms, decomposed letters composed, case folded as Unicode folds it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _contains(path: Path, needles: list[str]) -> bool:
    """Whether any needle (in :func:`_loose` form) occurs in the file, read block by block as
    UTF-8.

    Plain substring search, on purpose: backups are often binary (SQLite pages, dumps) where
    fields sit next to each other with no separator, so word boundaries would miss real
    copies. It errs towards retention: a copy holding ``nada@example.org`` is also reported
    for ``ada@example.org``. Over-reporting lists a copy as retained; it never erases.

    The text is decoded (bytes that are not UTF-8 become U+FFFD) and put in :func:`_loose`
    form, so ``ÁDÁ@EXAMPLE.ORG`` in a copy is found for ``ádá@example.org``; lower-casing the
    bytes would fold ASCII letters only. The incremental decoder keeps a character split
    between two blocks whole; the overlap kept from one block to the next is raw text (a
    combining mark at the start of a block still composes with the letter before it) and
    generous (the loose form of a needle's spelling may be longer than the needle).
    """
    overlap = 4 * max(len(n) for n in needles) + 8
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            raw = tail + decoder.decode(block, final=not block)
            window = _loose(raw)
            if any(n in window for n in needles):
                return True
            if not block:
                return False
            tail = raw[-overlap:]


class BackupFilesConnector(BaseConnector[BackupFilesOptions]):
    kind: ClassVar[str] = "backup_files"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ERASE})

    async def check(self) -> None:
        root = Path(self.options.path)
        if not root.is_dir():
            raise PermanentError(f"{self.name}: backup directory does not exist")

    def _scan(self, subject: Subject) -> tuple[int, list[tuple[str, date]]]:
        root = Path(self.options.path)
        if not root.is_dir():
            raise TransientError(f"{self.name}: backup directory is not reachable")
        needles = [
            _loose(v.strip())
            for kind in self.options.identifiers
            if (v := subject.get(kind)) and v.strip()
        ]
        copies = sorted(p for p in root.glob(self.options.pattern) if p.is_file())
        found = []
        if needles:
            for copy in copies:
                if _contains(copy, needles):
                    taken = datetime.fromtimestamp(copy.stat().st_mtime, tz=UTC).date()
                    found.append((copy.name, taken))
        return len(copies), found

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        scanned, found = await asyncio.to_thread(self._scan, subject)
        # A copy that holds the subject only by an identifier the request lacks is not found:
        # the outcome says what was not looked for (``lethe retry --identifier`` adds it).
        missing = tuple(k for k in self.options.identifiers if not (subject.get(k) or "").strip())
        if not found:
            if missing:
                return NotSearched(missing=missing, evidence={"copies_scanned": scanned})
            return NotFound(evidence={"copies_scanned": scanned})
        newest = max(taken for _, taken in found)
        kept = Retained(
            legal_basis=LegalBasis.BACKUP_ROTATION.value,
            note=(
                "backup copies are kept beyond use until rotation; "
                "a restore is followed by a new erasure"
            ),
            retained_until=newest + timedelta(days=self.options.retention_days),
            retained_counts={"copies.retained": len(found)},
            evidence={
                "copies_scanned": scanned,
                "copies": [{"name": name, "taken_on": taken.isoformat()} for name, taken in found],
            },
        )
        if missing:
            return NotSearched(missing=missing, evidence=kept.evidence, kept=kept)
        return kept
