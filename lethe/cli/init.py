"""``lethe init``: the keys and the ledger, made once, before anything else runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config_file import write_config
from ..runtime import initialise
from ._app import app, console, emit_json, invocation_settings, json_option, run

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["init"]


async def _register(settings: Settings) -> str:
    """Lethe's search attributes on the namespace, if Temporal answers (a short wait)."""
    from ..keys import load_keyring
    from ..search_attributes import register_for

    return await register_for(settings, load_keyring(settings.home), timeout=3.0)


@app.command()
@json_option
def init(as_json: bool) -> None:
    """Create what is missing: the keys (under LETHE_HOME/keys, unless LETHE_*_KEY are set)
    and the ledger, which records the ids of its keys. Safe to run again: it makes nothing
    that exists, and refuses keys other than those an existing ledger was made with.

    Where no configuration file is found, it writes a commented ./lethe.toml (every key at
    its default); an existing one is never touched. If Temporal answers, Lethe's search
    attributes are registered on the namespace (LetheStatus, LetheDueDate, LetheOverdue…).

    No other command makes keys or a ledger (`lethe dev` and `lethe demo` run this first)."""
    settings = invocation_settings()
    report = run(initialise(settings))
    search_attributes = run(_register(settings))
    if settings.config_path is not None:
        config = f"found {settings.config_path}"
    else:
        path = Path.cwd() / "lethe.toml"
        config = f"{'created' if write_config(path) else 'found'} {path}"
    if as_json:
        emit_json(
            {
                "config": config,
                "search_attributes": search_attributes,
                "home": str(settings.home),
                "keys": report.keys,
                "ledger": report.ledger,
                "ledger_created": report.ledger_created,
                "key_ids": report.key_ids,
                "key_ids_recorded": list(report.key_ids_recorded),
            }
        )
        return
    made = [name for name, how in report.keys.items() if how.startswith("created")]
    console.print(f"config: {config}", markup=False, soft_wrap=True)
    if made:
        console.print(
            f"keys: in {settings.home / 'keys'} (directory 0700, each key 0600)",
            markup=False,
            soft_wrap=True,
        )
    for name, how in report.keys.items():
        console.print(f"{name} key: {how}", markup=False, soft_wrap=True)
    console.print(
        f"ledger: {'created' if report.ledger_created else 'found'} {report.ledger}",
        markup=False,
        soft_wrap=True,
    )
    console.print(f"search attributes: {search_attributes}", markup=False, soft_wrap=True)
    if report.key_ids_recorded:
        ids = ", ".join(f"{n} {report.key_ids[n]}" for n in report.key_ids_recorded)
        console.print(f"the ledger now records its keys' ids: {ids}", markup=False, soft_wrap=True)
    if not made and not report.ledger_created and not report.key_ids_recorded:
        console.print("Nothing to create: the keys and the ledger were already here.")
    elif made:
        console.print(
            "Keep the keys apart from the ledger's backups; every worker and command of this"
            " ledger needs the same ones (see docs/threat-model.md)."
        )
