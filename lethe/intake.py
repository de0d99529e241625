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
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from connectors import IDENTIFIER_KINDS
from connectors._matching import IdentifierRefused, check_identifier
from connectors._subject import normalise_email
from ledger import (
    DeadlineRecords,
    DeadlineTerms,
    IdentityRecords,
    Ledger,
    LedgerError,
    OpenRequestExists,
    SubjectVault,
)
from vocabulary import JURISDICTIONS, VERIFICATION_METHODS, VerificationMethod

from .assertions import AssertionRejected, PortalAssertion, read_public_keys, verify_assertion
from .deadlines import plan_deadlines, zone
from .errors import LetheError, UnreachableError
from .keys import Keyring
from .pseudonym import Pseudonymizer
from .settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from workflows import ErasurePolicy

__all__ = [
    "BACKDATE_LIMIT",
    "CHANNELS",
    "CLOCK_SKEW",
    "EXTRA_KINDS",
    "RequestDraft",
    "Submitted",
    "check_identifiers",
    "new_request_id",
    "parse_identifiers",
    "parse_received_at",
    "policy_from",
    "submit_request",
    "validate_request",
]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case

#: How a person can make a request (the record keeps it: CCPA §7101's "manner"); "cli" when
#: an operator does not say.
CHANNELS = ("email", "web-form", "portal", "phone", "mail", "in-person", "cli")
#: Identifier kinds ``--identifier KIND=VALUE`` takes: every kind but the email, which is the
#: request's own argument.
EXTRA_KINDS = tuple(sorted(IDENTIFIER_KINDS - {"email"}))
#: A request received this long ago at most can still be entered (``--received-at``).
BACKDATE_LIMIT = timedelta(days=60)
#: How far in the future a receipt time may lie (the clocks of two machines disagree).
CLOCK_SKEW = timedelta(minutes=5)


def new_request_id() -> str:
    """``er-`` and 12 random base32 characters (60 bits); says nothing about the person."""
    return "er-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def policy_from(settings: Settings) -> ErasurePolicy:
    from workflows import ErasurePolicy

    e, v = settings.erasure, settings.verification
    return ErasurePolicy(
        verification_timeout_seconds=int(e.verification_timeout_hours * 3600),
        attempt_limit=e.attempt_limit,
        erase_timeout_seconds=e.erase_timeout_seconds,
        heartbeat_timeout_seconds=e.heartbeat_timeout_seconds,
        code_ttl_seconds=int(v.code_ttl_hours * 3600),
        code_attempts=v.code_attempts,
        code_resends=v.code_resends,
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
    #: When it was entered, if it was received earlier (``RequestDraft.received_at``).
    entered_at: datetime | None = None


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
    #: When the request arrived, if before it is entered (by post, to a mailbox); the
    #: statutory clock starts then. None: it arrives now.
    received_at: datetime | None = None


def parse_identifiers(pairs: Sequence[str]) -> dict[str, str]:
    """``KIND=VALUE`` pairs as typed (``--identifier``), as a mapping; LetheError otherwise.

    No message repeats a value: a value is personal data, and an error line is kept in
    terminals, CI logs and support tickets. The same kind twice is accepted only with the
    same value.
    """
    found: dict[str, str] = {}
    for n, pair in enumerate(pairs, 1):
        kind, sep, value = pair.partition("=")
        kind = kind.strip().lower()
        if not sep or not kind:
            raise LetheError(
                f"--identifier #{n} is not KIND=VALUE (kinds: {', '.join(EXTRA_KINDS)})"
            )
        value = value.strip()
        if kind in found and found[kind] != value:
            raise LetheError(f"--identifier {kind} is given twice, with different values")
        found[kind] = value
    return found


def parse_received_at(text: str, *, timezone: str) -> datetime:
    """``--received-at``: an ISO 8601 time with its zone (``2026-03-02T09:30:00+01:00``,
    ``…Z``), or a date alone, meaning midnight at its start in ``timezone`` (the controller's
    ``[deadlines] timezone``). A time without a zone is refused: whose 09:30 would it be?"""
    raw = text.strip()
    if not raw:
        raise LetheError("--received-at is empty: give a date like 2026-03-02 or a time with zone")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(0), tzinfo=zone(timezone)).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise LetheError(
            f"--received-at {raw!r} is not a date (2026-03-02) or a time with its zone"
            " (2026-03-02T09:30:00+01:00)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LetheError(
            f"--received-at {raw!r} has no time zone: add one (+01:00, Z) or give the date alone"
        )
    return moment.astimezone(UTC)


def _check_received_at(received_at: datetime, now: datetime) -> datetime:
    if received_at.tzinfo is None:
        raise LetheError("the time of receipt must carry a time zone")
    received_at = received_at.astimezone(UTC)
    if received_at > now + CLOCK_SKEW:
        raise LetheError(
            f"--received-at {received_at:%Y-%m-%d %H:%M} UTC is in the future"
            f" (now {now:%Y-%m-%d %H:%M} UTC)"
        )
    if received_at < now - BACKDATE_LIMIT:
        raise LetheError(
            f"--received-at {received_at:%Y-%m-%d} is more than {BACKDATE_LIMIT.days} days ago:"
            " a request that old cannot be entered as received then"
        )
    return received_at


def check_identifiers(extra: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Each ``--identifier`` in the form the vault keeps (``connectors._matching.check_identifier``:
    trimmed, NFC); one line naming the kind and never the value otherwise."""
    checked: list[tuple[str, str]] = []
    for kind, value in extra.items():
        if kind == "email":
            raise LetheError(
                "--identifier email: the address is the request's EMAIL argument, not an"
                " --identifier"
            )
        if kind not in EXTRA_KINDS:
            raise LetheError(
                f"unknown identifier kind {kind!r}: use one of {', '.join(EXTRA_KINDS)}"
            )
        if not value.strip():
            raise LetheError(f"--identifier {kind} has an empty value")
        try:
            checked.append((kind, check_identifier(kind, value)))
        except IdentifierRefused as exc:
            raise LetheError(f"--identifier {kind} is refused: {exc}") from None
    return tuple(sorted(checked))


def validate_request(
    settings: Settings,
    *,
    email: str,
    jurisdiction: str | None = None,
    systems: Sequence[str] | None = None,
    verification: str | None = None,
    extra_identifiers: Mapping[str, str] | None = None,
    assertion: str | None = None,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> RequestDraft:
    """Check everything the user typed, before any server is contacted.

    ``extra_identifiers``: kinds of ``connectors.IDENTIFIER_KINDS`` other than ``email``, each
    with a value. ``received_at``: when the request arrived, if earlier than now (entered
    late): not in the future, at most ``BACKDATE_LIMIT`` ago.
    """
    try:
        normalised = normalise_email(email)
    except ValueError as exc:  # IdentifierRefused: why, never the value
        raise LetheError(f"invalid email address: {exc}") from None
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
        preverified = VerificationMethod.PREVERIFIED
        verification = preverified if assertion else settings.erasure.verification
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
    extra = check_identifiers(extra_identifiers or {})
    received = (
        _check_received_at(received_at, now or datetime.now(UTC))
        if received_at is not None
        else None
    )
    checked = _check_assertion(settings, verification, assertion, normalised, now)
    return RequestDraft(
        normalised, jurisdiction, tuple(chosen), verification, extra, checked, received
    )


def _check_assertion(
    settings: Settings,
    verification: str,
    token: str | None,
    normalised_email: str,
    now: datetime | None,
) -> PortalAssertion | None:
    if verification != VerificationMethod.PREVERIFIED:
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
    published = None
    if v.portal_jwks_url is not None:
        from .jwks import key_set

        published = key_set(
            v.portal_jwks_url,
            what="the portal's key set",
            max_age=v.portal_jwks_cache_seconds,
            min_refresh=v.portal_jwks_refresh_seconds,
        )
    return verify_assertion(
        token,
        normalised_email=normalised_email,
        trusted_keys=read_public_keys(v.portal_public_keys),
        audience=v.portal_audience,
        max_lifetime=timedelta(seconds=v.assertion_max_lifetime_seconds),
        now=now,
        key_set=published,
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
    entered_by: str | None = None,
) -> Submitted:
    """Record the receipt, seal the identifiers and start the workflow (or undo all of it).

    A request received earlier (``draft.received_at``) is recorded as received then, and
    as entered now by ``entered_by`` (default ``actor``): an ``entered`` event, so that an
    auditor sees both times. Every deadline counts from the receipt.

    One open request per person: the ledger's claim (``ledger.claims``), taken by the
    receipt's own insert, refuses a second one however many are submitted at once, before
    anything of it is written; ``allow_duplicate`` files it anyway, unclaimed.
    """
    from temporalio.service import RPCError

    from workflows import ErasureRequest, ErasureWorkflow, workflow_id_for
    from workflows.search_attributes import initial_attributes

    from .search_attributes import has_search_attributes

    subject_ref = Pseudonymizer(keys.pseudonym).subject_ref(draft.email)
    identity = IdentityRecords(ledger)
    if draft.assertion is not None and await identity.nonce_seen(draft.assertion.nonce):
        raise AssertionRejected("this portal assertion was already used (its nonce is spent)")

    request_id = new_request_id()
    workflow_id = workflow_id_for(request_id)
    entered_at = datetime.now(UTC)
    # Within the clock skew a time of receipt may lie ahead of this machine's: it is now.
    received_at = min(draft.received_at or entered_at, entered_at)
    dl = settings.deadlines
    plan = plan_deadlines(draft.jurisdiction, received_at, policy=dl.policy(), timezone=dl.timezone)
    due_at = plan.answer_by
    sealed = SubjectVault(keys.vault).seal(
        request_id, {"email": draft.email, **dict(draft.extra_identifiers)}
    )
    terms = DeadlineTerms(
        timezone=dl.timezone,
        answer_rule=plan.answer_rule,
        due_at=due_at,
        acknowledge_by=plan.acknowledge_by,
        acknowledge_rule=plan.acknowledge_rule,
        extension_limit=plan.extension_limit,
        no_extension_because=plan.no_extension_because,
    )
    assertion = draft.assertion

    def records() -> list[object]:
        """The receipt's clock and its portal assertion: in the receipt's transaction."""
        rows: list[object] = [DeadlineRecords.clock_row(request_id, terms)]
        if assertion is not None:
            rows += IdentityRecords.assertion_rows(
                request_id,
                nonce=assertion.nonce,
                issuer=assertion.issuer,
                key_id=assertion.key_id,
                methods=list(assertion.methods),
                issued_at=assertion.issued_at,
                expires_at=assertion.expires_at,
                at=entered_at,
            )
        return rows

    try:
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
            entered_at=entered_at if draft.received_at is not None else None,
            entered_by=entered_by,
            allow_duplicate=allow_duplicate,
            records=records,
        )
    except OpenRequestExists as exc:
        raise LetheError(f"{exc}; pass --allow-duplicate to file another") from None
    except LedgerError:
        # Nothing was written. A nonce spent since the look above (a concurrent submission
        # of the same assertion) is what refused it, if it is spent now.
        if assertion is not None and await identity.nonce_seen(assertion.nonce):
            raise AssertionRejected(
                "this portal assertion was already used (its nonce is spent)"
            ) from None
        raise
    try:
        indexed = await has_search_attributes(client, settings.temporal.namespace)
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
                search_attributes=indexed,
            ),
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
            # No identifier: a status, a jurisdiction, a method, a date, system names.
            search_attributes=initial_attributes(
                status="received",
                jurisdiction=draft.jurisdiction,
                verification=draft.verification,
                due_at=due_at,
                systems=draft.systems,
            )
            if indexed
            else None,
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
        entered_at if draft.received_at is not None else None,
    )
