"""``lethe config show``: which configuration file and ledger this invocation uses."""

from __future__ import annotations

from ..config_file import settings_shown
from ._app import app, console, emit_json, invocation_settings, json_option

__all__ = ["config"]


@app.group()
def config() -> None:
    """Which configuration file, ledger and Temporal this invocation uses (secrets masked)."""


@config.command("show")
@json_option
def show(as_json: bool) -> None:
    """Print the configuration file in use (LETHE_CONFIG, else ./lethe.toml, else the user's
    ~/.config/lethe/lethe.toml, else /etc/lethe/lethe.toml), the home, the ledger, Temporal,
    where each key comes from, and the systems. Secrets are masked or named, never shown;
    nothing is opened or written."""
    shown = settings_shown(invocation_settings())
    if as_json:
        emit_json(shown)
        return
    t = shown["temporal"]
    config_line = (
        f"{shown['config']} (found by {shown['config_source']})"
        if shown["config"]
        else "none (defaults and LETHE_* variables; looked in "
        + ", ".join(shown["config_searched"])
        + ")"
    )
    lines = [
        f"config:   {config_line}",
        f"home:     {shown['home']}",
        f"ledger:   {shown['ledger']}",
        f"temporal: {t['address']} namespace {t['namespace']} task queue {t['task_queue']}"
        f" tls {'on' if t['tls'] else 'off'}" + (" api key set" if t["api_key"] else ""),
        *(f"{name + ' key:':<15}{where}" for name, where in shown["keys"].items()),
        "systems:  " + (", ".join(f"{n} ({c})" for n, c in shown["systems"].items()) or "none"),
        f"mail:     {shown['mail'] or 'none (no mail is sent)'}",
    ]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
