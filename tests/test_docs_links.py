"""Every relative link in README.md and docs/**/*.md leads somewhere: the file (or directory)
exists, and a ``#fragment`` names a heading of the target as GitHub renders it.

Links inside fenced code blocks and inline code are not links. Web addresses (``https:``,
``mailto:`` …) are not checked: this test reads files only.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the target may be <wrapped>.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code blanked out."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(_INLINE_CODE.sub("", line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-cased, markup and punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").lower()
    kept = []
    for ch in text:
        if ch == " ":
            kept.append("-")
        elif ch in "-_" or unicodedata.category(ch)[0] in "LNM":
            kept.append(ch)
    return "".join(kept)


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(_HTML_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    out: list[str] = []
    for line in _prose_lines(path.read_text()):
        for m in _INLINE_LINK.finditer(line):
            out.append(m.group(1).strip("<>"))
        r = _REFERENCE.match(line)
        if r:
            out.append(r.group(1).strip("<>"))
    return out


def _relative(target: str) -> bool:
    return not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) and not target.startswith("//")


def broken_links(doc: Path) -> list[str]:
    """What in ``doc`` links to a missing file or heading, one line each."""
    broken: list[str] = []
    for target in links(doc):
        if not _relative(target):
            continue
        where, _, fragment = target.partition("#")
        dest = (doc.parent / unquote(where)).resolve() if where else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.is_file() and dest.suffix == ".md":
            if unquote(fragment).lower() not in anchors(dest):
                broken.append(f"{target}: no heading #{fragment} in {dest.name}")
        elif fragment and not re.fullmatch(r"L\d+(-L\d+)?", fragment):
            broken.append(f"{target}: an anchor into a file that has no headings")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = broken_links(doc)
    assert not broken, f"{doc.relative_to(ROOT)}:\n  " + "\n  ".join(broken)


def test_the_docs_are_found() -> None:
    """A walk that finds nothing would pass for the wrong reason."""
    assert ROOT / "README.md" in DOCS
    assert ROOT / "docs" / "writing-a-connector.md" in DOCS


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Two commands", "two-commands"),
        (
            "Matching: the same person, and only that person",
            "matching-the-same-person-and-only-that-person",
        ),
        ("1. Scaffold", "1-scaffold"),
        ("For auditors: proof", "for-auditors-proof"),
        ("`--json` shapes", "--json-shapes"),
        (
            "What the law makes us keep: holds, retention, referrals",
            "what-the-law-makes-us-keep-holds-retention-referrals",
        ),
    ],
)
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text(
        "# Top\n\n[ok](#top) [file](b.md#there) [dir](sub) [web](https://example.org/x)\n"
        "[gone](c.md) [no heading](b.md#elsewhere) [self](#nowhere)\n"
        "`[code](d.md)`\n\n```\n[fenced](e.md)\n```\n\n[ref]: f.md\n"
    )
    (tmp_path / "b.md").write_text("## There\n")
    assert broken_links(tmp_path / "a.md") == [
        "c.md: no such file",
        "b.md#elsewhere: no heading #elsewhere in b.md",
        "#nowhere: no heading #nowhere in a.md",
        "f.md: no such file",
    ]


def test_repeated_headings_are_numbered(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Notes\n## Notes\n### Notes\n")
    assert anchors(tmp_path / "a.md") == {"notes", "notes-1", "notes-2"}
