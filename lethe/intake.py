"""Intake: turn "please forget me" into a recorded request and a running workflow.

The receipt is recorded first (the statutory clock starts now, not at verification) with
every deadline the rules set; the identifiers go into the subject vault, encrypted; a portal's
signed assertion is checked before anything is written, and its nonce spent with the receipt;
the workflow starts with the request id and the pseudonym only. If any of it fails, the
receipt is withdrawn: nothing is left half-written.

What intake asks of the person is what verification needs and no more (EDPB Guidelines
01/2022): an email address, and then a code, a portal login, or an operator's call. No
copies of identity documents.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from connectors import normalise_email
from ledger import (
    DeadlineRecords,
    DeadlineTerms,
    IdentityRecords,
    Ledger,
    LedgerError,
    Pseudonymizer,
    SubjectVault,
)
from workflows import (
    VERIFICATION_METHODS,
    ErasurePolicy,
    ErasureRequest,
    ErasureWorkflow,
    workflow_id_for,
)

from .assertions import AssertionRejected, PortalAssertion, read_public_keys, verify_assertion
from .deadlines import JURISDICTIONS, plan_deadlines
from .errors import LetheError, UnreachableError
from .keys import Keyring
from .settings import Settings

__all__ = [
    "OPEN_STATUSES",
    "RequestDraft",
    "Submitted",
    "new_request_id",
    "policy_from",
    "submit_request",
    "validate_request",
]

#: A request in one of these is still being worked on (``escalated``: a controller did not
#: answer a referral in time and an operator must act).
OPEN_STATUSES = frozenset({"received", "awaiting_verification", "erasing", "escalated"})
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_request_id() -> str:
    """``er-`` and 12 random base32 characters (60 bits); says nothing about the person."""
    return "er-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def policy_from(settings: Settings) -> ErasurePolicy:
    e, v = settings.erasure, settings.verification
    return ErasurePolicy(
        verification_timeout_seconds=int(e.verification_timeout_hours * 3600),
        attempt_limit=e.attempt_limit,
        erase_timeout_seconds=e.erase_timeout_seconds,
        heartbeat_timeout_seconds=e.heartbeat_timeout_seconds,
        code_ttl_seconds=int(v.code_ttl_hours * 3600),
        code_attempts=v.code_attempts,
        reminder_lead_seconds=int(settings.deadlines.reminder_days * 86400),
    )


@dataclass(frozen=True)
class Submitted:
    request_id: str
    workflow_id: str
    subject_ref: str
    systems: tuple[str, ...]
    received_at: datetime
    due_at: datetime
    verification_method: str
    acknowledge_by: datetime | None = None


@dataclass(frozen=True)
class RequestDraft:
    """A request that passed validation and has not touched anything yet.

    It holds the identifiers in the clear until they are sealed in the vault, so its ``repr``
    (a log line, a traceback, a failed assertion) shows none of them.
    """

    email: str = field(repr=False)
    jurisdiction: str
    systems: tuple[str, ...]
    verification: str
    extra_identifiers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: A checked portal assertion (``preverified``); its nonce is spent at submission.
    assertion: PortalAssertion | None = None


def validate_request(
    settings: Settings,
    *,
    email: str,
    jurisdiction: str | None = None,
    systems: Sequence[str] | None = None,
    verification: str | None = None,
    extra_identifiers: Mapping[str, str] | None = None,
    assertion: str | None = None,
    now: datetime | None = None,
) -> RequestDraft:
    """Check everything the user typed, before any server is contacted."""
    try:
        normalised = normalise_email(email)
    except ValueError:
        raise LetheError(
            "invalid email address: expected something like name@example.org"
        ) from None
    # An empty value is a mistake (an unset shell variable), not a request for the default.
    jurisdiction = (
        settings.erasure.jurisdiction if jurisdiction is None else jurisdiction.strip().lower()
    )
    if jurisdiction not in JURISDICTIONS:
        raise LetheError(
            f"unknown jurisdiction {jurisdiction!r}: use one of {', '.join(JURISDICTIONS)}"
        )
    if assertion is not None and not assertion.strip():
        raise LetheError("--assertion is empty: give the token the privacy portal signed")
    if verification is None:
        verification = "preverified" if assertion else settings.erasure.verification
    else:
        verification = verification.strip().lower()
    if verification not in VERIFICATION_METHODS:
        raise LetheError(
            f"unknown verification method {verification!r}: "
            f"use one of {', '.join(VERIFICATION_METHODS)}"
        )
    configured = list(settings.systems)
    if not configured:
        raise LetheError("no systems are configured: add [systems.NAME] sections to lethe.toml")
    chosen = list(dict.fromkeys(s.strip() for s in systems if s.strip())) if systems else configured
    if not chosen:
        raise LetheError("--systems names no system")
    unknown = [s for s in chosen if s not in settings.systems]
    if unknown:
        raise LetheError(
            f"unknown system {unknown[0]!r}: configured systems are {', '.join(configured)}"
        )
    extra = tuple(sorted((k, v.strip()) for k, v in (extra_identifiers or {}).items() if v.strip()))
    checked = _check_assertion(settings, verification, assertion, normalised, now)
    return RequestDraft(normalised, jurisdiction, tuple(chosen), verification, extra, checked)


def _check_assertion(
    settings: Settings,
    verification: str,
    token: str | None,
    normalised_email: str,
    now: datetime | None,
) -> PortalAssertion | None:
    if verification != "preverified":
        if token:
            raise LetheError(
                f"an assertion only goes with --verification preverified, not {verification}"
            )
        return None
    if not token:
        raise LetheError(
            "a pre-verified request needs the privacy portal's signed assertion: --assertion TOKEN"
        )
    v = settings.verification
    return verify_assertion(
        token,
        normalised_email=normalised_email,
        trusted_keys=read_public_keys(v.portal_public_keys),
        audience=v.portal_audience,
        max_lifetime=timedelta(seconds=v.assertion_max_lifetime_seconds),
        now=now,
    )


async def submit_request(
    draft: RequestDraft,
    *,
    settings: Settings,
    ledger: Ledger,
    client: Client,
    keys: Keyring,
    channel: str = "cli",
    actor: str = "cli",
    allow_duplicate: bool = False,
    policy: ErasurePolicy | None = None,
) -> Submitted:
    """Record the receipt, seal the identifiers and start the workflow (or undo all of it)."""
    subject_ref = Pseudonymizer(keys.pseudonym).subject_ref(draft.email)
    if not allow_duplicate:
        for rec in await ledger.list_requests(
            subject_ref=subject_ref, statuses=sorted(OPEN_STATUSES), limit=1
        ):
            raise LetheError(
                f"this person already has an open request {rec.request_id} ({rec.status});"
                " pass --allow-duplicate to file another"
            )

    identity = IdentityRecords(ledger)
    if draft.assertion is not None and await identity.nonce_seen(draft.assertion.nonce):
        raise AssertionRejected("this portal assertion was already used (its nonce is spent)")

    request_id = new_request_id()
    workflow_id = workflow_id_for(request_id)
    received_at = datetime.now(UTC)
    dl = settings.deadlines
    plan = plan_deadlines(draft.jurisdiction, received_at, policy=dl.policy(), timezone=dl.timezone)
    due_at = plan.answer_by
    sealed = SubjectVault(keys.vault).seal(
        request_id, {"email": draft.email, **dict(draft.extra_identifiers)}
    )
    await ledger.open_request(
        request_id=request_id,
        subject_ref=subject_ref,
        jurisdiction=draft.jurisdiction,
        verification_method=draft.verification,
        channel=channel,
        systems=draft.systems,
        workflow_id=workflow_id,
        received_at=received_at,
        due_at=due_at,
        sealed=sealed,
        actor=actor,
    )
    try:
        await DeadlineRecords(ledger).open_clock(
            request_id,
            DeadlineTerms(
                timezone=dl.timezone,
                answer_rule=plan.answer_rule,
                due_at=due_at,
                acknowledge_by=plan.acknowledge_by,
                acknowledge_rule=plan.acknowledge_rule,
                extension_limit=plan.extension_limit,
                no_extension_because=plan.no_extension_because,
            ),
        )
        if draft.assertion is not None:
            a = draft.assertion
            await identity.record_assertion(
                request_id,
                nonce=a.nonce,
                issuer=a.issuer,
                key_id=a.key_id,
                methods=list(a.methods),
                issued_at=a.issued_at,
                expires_at=a.expires_at,
                at=received_at,
            )
    except LedgerError as exc:
        await ledger.withdraw_request(request_id)
        raise AssertionRejected(str(exc)) from None
    except BaseException:
        await ledger.withdraw_request(request_id)
        raise
    try:
        await client.start_workflow(
            ErasureWorkflow.run,
            ErasureRequest(
                request_id=request_id,
                subject_ref=subject_ref,
                jurisdiction=draft.jurisdiction,
                verification_method=draft.verification,
                systems=draft.systems,
                received_at=received_at,
                due_at=due_at,
                policy=policy or policy_from(settings),
                acknowledge_by=plan.acknowledge_by,
            ),
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
        )
    except (RPCError, RuntimeError) as exc:
        await ledger.withdraw_request(request_id)
        raise UnreachableError(f"could not start the erasure workflow: {exc}") from None
    except BaseException:
        await ledger.withdraw_request(request_id)
        raise
    return Submitted(
        request_id,
        workflow_id,
        subject_ref,
        draft.systems,
        received_at,
        due_at,
        draft.verification,
        plan.acknowledge_by,
    )
