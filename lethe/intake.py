"""Intake: turn "please forget me" into a recorded request and a running workflow.

The receipt is recorded first (the statutory clock starts now, not at verification); the
identifiers go into the subject vault, encrypted; the workflow starts with the request id and
the pseudonym only. If the workflow cannot start, the receipt is withdrawn: nothing is left
half-written.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.service import RPCError

from connectors import normalise_email
from ledger import Ledger, Pseudonymizer, SubjectVault
from workflows import (
    VERIFICATION_METHODS,
    ErasurePolicy,
    ErasureRequest,
    ErasureWorkflow,
    workflow_id_for,
)

from .deadlines import JURISDICTIONS, answer_due
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

OPEN_STATUSES = frozenset({"received", "awaiting_verification", "erasing"})
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_request_id() -> str:
    """``er-`` and 12 random base32 characters (60 bits); says nothing about the person."""
    return "er-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def policy_from(settings: Settings) -> ErasurePolicy:
    e = settings.erasure
    return ErasurePolicy(
        verification_timeout_seconds=int(e.verification_timeout_hours * 3600),
        attempt_limit=e.attempt_limit,
        erase_timeout_seconds=e.erase_timeout_seconds,
        heartbeat_timeout_seconds=e.heartbeat_timeout_seconds,
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


@dataclass(frozen=True)
class RequestDraft:
    """A request that passed validation and has not touched anything yet."""

    email: str
    jurisdiction: str
    systems: tuple[str, ...]
    verification: str
    extra_identifiers: tuple[tuple[str, str], ...] = ()


def validate_request(
    settings: Settings,
    *,
    email: str,
    jurisdiction: str | None = None,
    systems: Sequence[str] | None = None,
    verification: str | None = None,
    extra_identifiers: Mapping[str, str] | None = None,
) -> RequestDraft:
    """Check everything the user typed, before any server is contacted."""
    try:
        normalised = normalise_email(email)
    except ValueError:
        raise LetheError(
            "invalid email address: expected something like name@example.org"
        ) from None
    jurisdiction = jurisdiction or settings.erasure.jurisdiction
    if jurisdiction not in JURISDICTIONS:
        raise LetheError(
            f"unknown jurisdiction {jurisdiction!r}: use one of {', '.join(JURISDICTIONS)}"
        )
    verification = verification or settings.erasure.verification
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
    return RequestDraft(normalised, jurisdiction, tuple(chosen), verification, extra)


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

    request_id = new_request_id()
    workflow_id = workflow_id_for(request_id)
    received_at = datetime.now(UTC)
    due_at = answer_due(draft.jurisdiction, received_at)
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
        request_id, workflow_id, subject_ref, draft.systems, received_at, due_at, draft.verification
    )
