"""Text people typed, shown as text: never as Rich markup, never as terminal control.

Operators' reasons and names, controllers' and systems' messages, notes of legal bases end up
on an operator's or an auditor's terminal. Typed as ``[/]`` or ``[bold red]x``, Rich would read
them as markup (and crash on the first, print the second in red); ``\\x1b[2J`` would clear the
screen, ``\\r`` overwrite the line before it, a bidi override reorder what is read. Two guards:

    TextConsole   the command line's one console: Rich markup and emoji codes off (``[/]`` and
                  ``:x:`` print as typed), and every string it prints has its control
                  characters made visible; only newlines stay (output has lines). Styles come
                  from ``Text`` objects and ``style=``, never from markup inside strings.
    line          one line of output from plain and styled parts, each through ``visible``
    visible       control characters (C0, DEL, C1) and bidi controls as escapes (``\\x1b``,
                  ``\\r``, ``\\u202e``); newlines too, unless told to keep them: for places that
                  are one line (an event's detail, a ``Next:`` line, an error message).

Anything built as a ``Text`` from what someone typed goes through ``visible`` first: the
console's guard sees strings, not ``Text``.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from .visible_text import visible

__all__ = ["TextConsole", "line", "print_visible", "visible"]


class TextConsole(Console):
    """A Rich console for output that carries what people typed (see the module)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{"highlight": False, **options, "markup": False, "emoji": False})

    def render_str(self, text: str, **options: Any) -> Text:
        options["markup"] = False  # also when a caller asks for it: strings are text here
        options["emoji"] = False
        return super().render_str(visible(text, newlines=True), **options)


def line(*parts: str | tuple[str, str]) -> Text:
    """One line of output from parts: plain strings, or ``(text, style)`` pairs. Each part is
    shown as text (``visible``, newlines escaped too): use it where styled output carries
    values (``line(("FAILED", "bold red"), f" — {problem}")``)."""
    out = Text()
    for part in parts:
        text, style = (part, "") if isinstance(part, str) else part
        out.append(visible(text), style=style)
    return out


def print_visible(text: str) -> None:
    """``print`` to stderr with control characters visible (newlines kept): for printers of
    whole messages (the console mailer, console alerts) whose parts someone else typed."""
    print(visible(text, newlines=True), file=sys.stderr, flush=True)
