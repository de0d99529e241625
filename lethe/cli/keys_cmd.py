"""``lethe keys rotate``: a new payload or vault key, the old one kept to read what it wrote."""

from __future__ import annotations

from typing import Any

import click

from ._app import app, console, emit_json, invocation_settings, json_option, run

__all__ = ["keys"]


@app.group()
def keys() -> None:
    """The keys: rotate the payload and vault keys (the old ones stay, retired, to decrypt)."""


@keys.command("rotate")
@click.option("--payload", is_flag=True, help="A new payload key (Temporal's codec).")
@click.option("--vault", is_flag=True, help="A new vault key (the subjects' identifiers).")
@click.option(
    "--rewrap",
    is_flag=True,
    help="Wrap every vault entry sealed under a retired vault key again under the current one"
    " (alone, or with --vault: after the new key is made).",
)
@json_option
def rotate(payload: bool, vault: bool, rewrap: bool, as_json: bool) -> None:
    """Make a new payload and/or vault key under LETHE_HOME/keys; the old one moves to
    keys/retired/, where it still decrypts what it encrypted (running workflows' histories,
    open requests' vault entries), and the ledger records the new one.

    Then give every worker and command the new key and the retired one, and restart the
    workers: one holding only the old key is refused. Keys set by LETHE_*_KEY are rotated
    where they are kept (LETHE_*_KEY new, LETHE_*_RETIRED_KEYS the old ones).

    --rewrap re-encrypts each open request's data key under the current vault key (the
    identifiers' ciphertext stays as it is), so that no vault entry needs a retired vault key
    any more; it says which retired keys then seal nothing and when they may be removed."""
    from ..keys import load_keyring, rotate_key_files, undo_rotation
    from ..runtime import Runtime, bind_keys

    names = [n for n, wanted in (("payload", payload), ("vault", vault)) if wanted]
    if not names and not rewrap:
        raise click.UsageError("say which key to rotate: --payload, --vault, or both (or --rewrap)")
    settings = invocation_settings()

    async def go() -> tuple[list[dict[str, str]], dict[str, Any] | None]:
        # The keys held now must be the ledger's before anything changes.
        rt = await Runtime.open(settings)
        try:
            done = rotate_key_files(settings.home, names, settings.environ) if names else []
            try:
                await bind_keys(rt.ledger.engine, load_keyring(settings.home, settings.environ))
            except BaseException:
                undo_rotation(done)
                raise
        finally:
            await rt.close()
        rotated = [
            {"key": r.name, "old_id": r.old_id, "new_id": r.new_id, "retired": str(r.retired)}
            for r in done
        ]
        if not rewrap:
            return rotated, None
        rt = await Runtime.open(settings)  # with the new keys, and the old ones retired
        try:
            return rotated, await _rewrap(rt)
        finally:
            await rt.close()

    rotated, rewrapped = run(go())
    if as_json:
        emit_json({"rotated": rotated, "rewrap": rewrapped} if rewrap else rotated)
        return
    for r in rotated:
        console.print(
            f"{r['key']} key rotated: {r['old_id']} -> {r['new_id']} (the old one is kept at"
            f" {r['retired']}: it still decrypts what it encrypted)",
            markup=False,
            soft_wrap=True,
        )
    if rotated:
        console.print(
            "Give every worker and command the new key and the retired one, then restart the"
            " workers: one that holds only the old key is refused."
        )
    if rewrapped is not None:
        console.print(
            f"{rewrapped['rewrapped']} vault entries rewrapped under vault key"
            f" {rewrapped['vault_key']}.",
            markup=False,
            soft_wrap=True,
        )
        for key_id in rewrapped["retired_unused"]:
            after = rewrapped["codes_pending_until"]
            when = (
                f"once the verification codes sent before the rotation expire ({after})"
                if after
                else "now (no vault entry and no pending verification code needs it)"
            )
            console.print(
                f"Retired vault key {key_id} seals nothing any more: it may be removed {when}."
                " (A ledger backup from before keeps needing it.)",
                markup=False,
                soft_wrap=True,
            )


async def _rewrap(rt: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from ledger import key_recorded_at
    from ledger.vault import key_id_of

    ledger = rt.ledger
    n = await ledger.rewrap_vault()
    sealing = await ledger.vault_key_ids()
    retired = sorted(key_id_of(k) for k in rt.keys.retired_vault)
    rotated_at = (await key_recorded_at(ledger.engine)).get("vault")
    now = datetime.now(UTC)
    pending = (
        await ledger.code_expiry_of_codes_issued_before(rotated_at, now) if rotated_at else None
    )
    return {
        "rewrapped": n,
        "vault_key": ledger.vault.key_id,
        "retired_unused": [k for k in retired if k not in sealing],
        "retired_still_sealing": {k: sealing[k] for k in retired if k in sealing},
        "codes_pending_until": pending.isoformat() if pending else None,
    }
