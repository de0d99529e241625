"""``visible``: control characters written out as escapes, so that text shows as text.

Rich-free (``lethe.terminal`` says why it matters and re-exports it): the command line's
error line uses it, and ``lethe --help`` loads no Rich.
"""

from __future__ import annotations

__all__ = ["visible"]

#: Characters that move the cursor, change the terminal's state or the order text is read in.
_BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hidden(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in _BIDI


def _escape(ch: str) -> str:
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with every control character written out as an escape (``\\x1b``, ``\\r``,
    ``\\u202e``), so that it shows as text and cannot act on the terminal. ``newlines=True``
    keeps ``\\n`` (text printed on several lines on purpose)."""
    if not any(_hidden(ch) for ch in text):
        return text
    return "".join(
        _escape(ch) if _hidden(ch) and not (newlines and ch == "\n") else ch for ch in text
    )
