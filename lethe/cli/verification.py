"""Verbs of identity verification: verify (an emailed code, or a new one mailed with
``--resend``), dev-assertion (a test portal).

What is refused, and recorded when it is, is ``lethe/operations/identity.py``'s.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from connectors._subject import normalise_email

from ..assertions import dev_portal_key, key_id, mint_assertion, public_key_text
from ..deadlines import parse_duration
from ..errors import LetheError
from ..operations.identity import check_code, resend_code
from ..terminal import visible
from ._app import app, call, console, emit_json, invocation_settings, json_option
from ._values import address_argument, note_rewritten, operator_name, reason_text

__all__ = ["dev_assertion", "verify"]


@app.command()
@click.argument("request_id")
@click.option("--code", help="The code from the requester's message.")
@click.option(
    "--resend",
    is_flag=True,
    help="Instead: mail a new code to the address on file (the old one stops working).",
)
@click.option(
    "--reason",
    help="With --resend: why (a reference; the person's details are removed).",
)
@click.option("--operator", help="Who acts (default: LETHE_OPERATOR or your login).")
@json_option
def verify(
    request_id: str,
    code: str | None,
    resend: bool,
    reason: str | None,
    operator: str | None,
    as_json: bool,
) -> None:
    """Check the code the requester received by email (verification method 'email'), or
    with --resend mail them a new one.

    A resend is for a code lost or stuck in a spam folder. The previous code stops working at
    once; wrong tries so far still count (a locked request stays locked); at most
    [verification] code_resends per request (3). The new code is good for code_ttl_hours, but
    never past the request's verification window (the longer of code_ttl_hours and
    verification_timeout_hours from the first code), and the answer deadline does not move.
    """
    if resend and code is not None:
        raise LetheError("give --code or --resend, not both")
    if not resend and code is None:
        raise LetheError("give the requester's --code (or --resend to mail a new one)")
    if reason is not None and not resend:
        raise LetheError("--reason goes with --resend")
    why = reason_text(reason, "why a new code is sent") if reason is not None else ""
    typed = operator_name(operator)
    request_id = request_id.strip()
    if resend:
        _resend(request_id, typed, why, as_json=as_json)
        return
    assert code is not None
    check = call(check_code, request_id, code, typed)
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "accepted": check.accepted,
                "outcome": check.outcome,
                "message": check.message,
                "attempts_left": check.attempts_left,
            }
        )
        if not check.accepted:
            # The answer is on stdout; the refusal is still one line on stderr.
            print(
                f"lethe: error: {request_id}: code refused: {visible(check.message)}",
                file=sys.stderr,
            )
            raise click.exceptions.Exit(1)
        return
    if not check.accepted:
        raise LetheError(f"{request_id}: code refused: {check.message}")
    console.print(f"{request_id}: {check.message}.")


def _resend(request_id: str, typed: str, reason: str, *, as_json: bool) -> None:
    done = call(resend_code, request_id, reason, typed, rewritten=note_rewritten)
    sent = done.answer
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "resent_by": done.resent_by,
                "expires_at": sent.expires_at.isoformat(),
                "resends_left": sent.resends_left,
                "attempts_left": sent.attempts_left,
            }
        )
        return
    console.print(
        f"{request_id}: a new code went to the address on file; the previous one no longer"
        f" works. It is good until {sent.expires_at:%Y-%m-%d %H:%M} UTC;"
        f" {sent.attempts_left} attempt(s) and {sent.resends_left} resend(s) left."
    )


@app.command("dev-assertion")
@click.argument("email", required=False)
@click.option("--audience", help="The aud claim (default: [verification] portal_audience).")
@click.option("--issuer", default="dev-portal", show_default=True, help="The iss claim.")
@click.option("--lifetime", default="5m", show_default=True, help="How long it is valid.")
@click.option("--public-key", is_flag=True, help="Print the dev portal's public key instead.")
@json_option
def dev_assertion(
    email: str | None,
    audience: str | None,
    issuer: str,
    lifetime: str,
    public_key: bool,
    as_json: bool,
) -> None:
    """Sign a portal assertion for EMAIL ('-': from stdin) with a development key (for tests
    and trying out).

    The key lives in <home>/keys/portal-dev.key. Lethe trusts it only once its public key is
    in [verification] portal_public_keys (or LETHE_PORTAL_PUBLIC_KEYS): see --public-key.
    """
    settings = invocation_settings()
    key = dev_portal_key(settings.home)
    public = public_key_text(key.public_key())
    if public_key:
        if as_json:
            emit_json({"public_key": public, "key_id": key_id(key.public_key())})
        else:
            print(public)
        return
    if not email:
        raise LetheError("give the EMAIL the assertion is about (or --public-key)")
    try:
        normalised = normalise_email(address_argument(email))
    except ValueError as exc:  # IdentifierRefused: why, never the value
        raise LetheError(f"invalid email address: {exc}") from None
    try:
        life = parse_duration(lifetime)
    except ValueError as exc:
        raise LetheError(f"--lifetime: {exc}") from None
    if life > timedelta(hours=1):
        raise LetheError("--lifetime: an assertion is short-lived; one hour at most")
    token = mint_assertion(
        key,
        normalised,
        audience=audience or settings.verification.portal_audience,
        issuer=issuer,
        lifetime=life,
    )
    if as_json:
        emit_json({"assertion": token, "public_key": public, "key_id": key_id(key.public_key())})
    else:
        print(token)
    if public not in settings.verification.portal_public_keys:
        print(
            "lethe: note: this Lethe does not trust the dev portal key yet; set "
            f"LETHE_PORTAL_PUBLIC_KEYS={public} (or portal_public_keys in lethe.toml)",
            file=sys.stderr,
        )
