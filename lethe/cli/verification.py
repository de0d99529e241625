"""Verbs of identity verification: verify (an emailed code, or a new one mailed with
``--resend``), dev-assertion (a test portal).

``lethe verify`` answers at once: the code goes to the request's workflow as a Temporal
update, an activity compares it with the stored hash and records the result, and the answer
comes back on the same call. Every refusal is recorded in the request's events, including
those refused before any comparison (a closed request, a malformed or replayed code).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from connectors._subject import normalise_email
from vocabulary import UNVERIFIED_STATUSES, VerificationMethod
from workflows import CodeResendOrder, CodeSubmission, ErasureWorkflow

from ..assertions import dev_portal_key, key_id, mint_assertion, public_key_text
from ..deadlines import parse_duration
from ..errors import LetheError, NotFoundError
from ..free_text import PersonText
from ..runtime import Runtime
from ..settings import load_settings
from ..terminal import visible
from ._app import app, console, emit_json, failure_text, json_option, run, with_runtime
from ._values import address_argument, reason_text, scrubbed
from .requests import _operator

__all__ = ["dev_assertion", "verify"]


async def _refused(rt: Runtime, request_id: str, who: str, reason: str) -> LetheError:
    await rt.ledger.add_event(
        request_id,
        "verification_code_refused",
        at=datetime.now(UTC),
        actor=who[:120],
        detail={"outcome": "refused_before_check", "reason": reason[:300]},
    )
    return LetheError(f"{request_id}: code refused: {reason}")


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
    typed = _operator(operator)
    request_id = request_id.strip()
    if resend:
        run(with_runtime(lambda rt: _resend(rt, request_id, typed, why, as_json=as_json)))
        return
    assert code is not None

    async def go(rt: Runtime) -> None:
        rec = await rt.ledger.get_request(request_id)
        if rec is None:
            raise NotFoundError(f"no erasure request with id {request_id!r}")
        who = f"operator:{(await PersonText.for_request(rt.ledger, request_id)).operator(typed)}"
        if rec.verification_method != VerificationMethod.EMAIL:
            raise await _refused(
                rt, request_id, who, f"it is verified by {rec.verification_method}, not by a code"
            )
        if rec.completed_at is not None:
            raise await _refused(rt, request_id, who, f"the request is closed ({rec.status})")
        client = await rt.client()
        handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
        try:
            check = await handle.execute_update(
                ErasureWorkflow.submit_code, CodeSubmission(code, who)
            )
        except WorkflowUpdateFailedError as exc:
            raise await _refused(rt, request_id, who, failure_text(exc)) from None
        except RPCError as exc:
            raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
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

    run(with_runtime(go))


async def _resend(rt: Runtime, request_id: str, typed: str, reason: str, *, as_json: bool) -> None:
    rec = await rt.ledger.get_request(request_id)
    if rec is None:
        raise NotFoundError(f"no erasure request with id {request_id!r}")
    if rec.verification_method != VerificationMethod.EMAIL:
        raise LetheError(
            f"{request_id}: no new code: it is verified by {rec.verification_method},"
            " not by an emailed code"
        )
    if rec.completed_at is not None:
        raise LetheError(f"{request_id}: no new code: the request is closed ({rec.status})")
    if rec.status not in UNVERIFIED_STATUSES:
        raise LetheError(f"{request_id}: no new code: identity is already verified ({rec.status})")
    why, by = scrubbed(await PersonText.for_request(rt.ledger, request_id), reason, typed)
    who = f"operator:{by}"
    client = await rt.client()
    handle = client.get_workflow_handle_for(ErasureWorkflow.run, rec.workflow_id)
    try:
        sent = await handle.execute_update(ErasureWorkflow.resend_code, CodeResendOrder(who, why))
    except WorkflowUpdateFailedError as exc:
        raise LetheError(f"{request_id}: no new code: {failure_text(exc)}") from None
    except RPCError as exc:
        raise LetheError(f"could not reach {request_id}'s workflow: {exc}") from None
    if as_json:
        emit_json(
            {
                "request_id": request_id,
                "resent_by": who,
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
    settings = load_settings()
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
