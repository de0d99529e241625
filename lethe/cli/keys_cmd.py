"""``lethe keys rotate``: a new payload or vault key, the old one kept to read what it wrote."""

from __future__ import annotations

import click

from ._app import app, console, emit_json, invocation_settings, json_option, run

__all__ = ["keys"]


@app.group()
def keys() -> None:
    """The keys: rotate the payload and vault keys (the old ones stay, retired, to decrypt)."""


@keys.command("rotate")
@click.option("--payload", is_flag=True, help="A new payload key (Temporal's codec).")
@click.option("--vault", is_flag=True, help="A new vault key (the subjects' identifiers).")
@json_option
def rotate(payload: bool, vault: bool, as_json: bool) -> None:
    """Make a new payload and/or vault key under LETHE_HOME/keys; the old one moves to
    keys/retired/, where it still decrypts what it encrypted (running workflows' histories,
    open requests' vault entries), and the ledger records the new one.

    Then give every worker and command the new key and the retired one, and restart the
    workers: one holding only the old key is refused. Keys set by LETHE_*_KEY are rotated
    where they are kept (LETHE_*_KEY new, LETHE_*_RETIRED_KEYS the old ones)."""
    from ..keys import load_keyring, rotate_key_files, undo_rotation
    from ..runtime import Runtime, bind_keys

    names = [n for n, wanted in (("payload", payload), ("vault", vault)) if wanted]
    if not names:
        raise click.UsageError("say which key to rotate: --payload, --vault, or both")
    settings = invocation_settings()

    async def go() -> list[dict[str, str]]:
        # The keys held now must be the ledger's before anything changes.
        rt = await Runtime.open(settings)
        try:
            done = rotate_key_files(settings.home, names, settings.environ)
            try:
                await bind_keys(rt.ledger.engine, load_keyring(settings.home, settings.environ))
            except BaseException:
                undo_rotation(done)
                raise
        finally:
            await rt.close()
        return [
            {"key": r.name, "old_id": r.old_id, "new_id": r.new_id, "retired": str(r.retired)}
            for r in done
        ]

    rotated = run(go())
    if as_json:
        emit_json(rotated)
        return
    for r in rotated:
        console.print(
            f"{r['key']} key rotated: {r['old_id']} -> {r['new_id']} (the old one is kept at"
            f" {r['retired']}: it still decrypts what it encrypted)",
            markup=False,
            soft_wrap=True,
        )
    console.print(
        "Give every worker and command the new key and the retired one, then restart the"
        " workers: one that holds only the old key is refused."
    )
