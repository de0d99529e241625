"""One open request per person, held by the database: concurrent submissions for one person
are one request, on SQLite and on PostgreSQL (one process, and separate connections)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ledger import (
    ControllerReferrals,
    ErasureRequestRecord,
    Ledger,
    OutcomeEntry,
    PortalAssertionRecord,
    RequestClock,
    RequestEvent,
    RequestStatuses,
    SubjectVault,
    SubjectVaultEntry,
    create_ledger_engine,
    upgrade_schema,
)
from lethe.assertions import mint_assertion, public_key_text
from lethe.errors import LetheError, UnreachableError
from lethe.intake import Submitted, submit_request, validate_request
from lethe.keys import Keyring
from lethe.settings import Settings, SystemConfig, VerificationSettings
from tests.conftest import POSTGRES_URL, postgres_schema

PORTAL = Ed25519PrivateKey.generate()
EMAIL = "ada@example.org"


class Starts:
    """A Temporal client that records the workflows intake starts (or refuses to)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.started: list[str] = []
        self._fail = fail

    async def start_workflow(self, *_args: Any, id: str, **_kwargs: Any) -> None:
        if self._fail:
            raise RPCError("frontend unreachable", RPCStatusCode.UNAVAILABLE, b"")
        self.started.append(id)


def settings_in(home: Path) -> Settings:
    return Settings(
        home=home,
        database_url="",
        systems={"crm": SystemConfig("crm", "sql", {})},
        verification=VerificationSettings(
            portal_public_keys=(public_key_text(PORTAL.public_key()),)
        ),
    )


async def submit(
    ledger: Ledger,
    keys: Keyring,
    settings: Settings,
    client: Starts,
    *,
    email: str = EMAIL,
    portal: bool = False,
    allow_duplicate: bool = False,
) -> Submitted:
    draft = validate_request(
        settings,
        email=email,
        verification="preverified" if portal else "operator",
        assertion=mint_assertion(PORTAL, email, audience="lethe") if portal else None,
    )
    return await submit_request(
        draft,
        settings=settings,
        ledger=ledger,
        client=cast(Client, client),
        keys=keys,
        allow_duplicate=allow_duplicate,
    )


async def count(ledger: Ledger, model: Any) -> int:
    async with ledger.session() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def holder(ledger: Ledger, subject_ref: str) -> str | None:
    async with ledger.session() as s:
        return await s.scalar(
            sa.select(ErasureRequestRecord.request_id).where(
                ErasureRequestRecord.open_subject_ref == subject_ref
            )
        )


def refusals(results: list[Any]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]


async def assert_one_request_written(ledger: Ledger, client: Starts, results: list[Any]) -> None:
    """Exactly one accepted; the rest refused in one line naming it; nothing else written."""
    accepted = [r for r in results if isinstance(r, Submitted)]
    assert len(accepted) == 1, results
    first = accepted[0]
    refused = refusals(results)
    assert len(refused) == len(results) - 1
    for exc in refused:
        assert isinstance(exc, LetheError), repr(exc)
        assert str(exc) == (
            f"this person already has an open request {first.request_id} (received);"
            " pass --allow-duplicate to file another"
        )
    assert client.started == [first.workflow_id]
    for model in (ErasureRequestRecord, SubjectVaultEntry, RequestClock):
        assert await count(ledger, model) == 1, model
    async with ledger.session() as s:
        others = await s.scalar(
            sa.select(sa.func.count()).where(RequestEvent.request_id != first.request_id)
        )
    assert others == 0
    assert await holder(ledger, first.subject_ref) == first.request_id


async def test_ten_concurrent_submissions_are_one_request(
    ledger: Ledger, keys: Keyring, tmp_path: Path
) -> None:
    settings, client = settings_in(tmp_path), Starts()
    results = await asyncio.gather(
        *(submit(ledger, keys, settings, client) for _ in range(10)), return_exceptions=True
    )
    await assert_one_request_written(ledger, client, list(results))


async def test_ten_concurrent_portal_submissions_spend_one_nonce(
    ledger: Ledger, keys: Keyring, tmp_path: Path
) -> None:
    """Each refused submission leaves its portal assertion unspent: nothing of it is kept."""
    settings, client = settings_in(tmp_path), Starts()
    results = await asyncio.gather(
        *(submit(ledger, keys, settings, client, portal=True) for _ in range(10)),
        return_exceptions=True,
    )
    await assert_one_request_written(ledger, client, list(results))
    assert await count(ledger, PortalAssertionRecord) == 1


async def test_ten_submissions_from_separate_connections_on_postgresql(
    keys: Keyring, tmp_path: Path
) -> None:
    """Ten workers, each with its own engine and connection, against one PostgreSQL ledger."""
    settings, client = settings_in(tmp_path), Starts()
    async with AsyncExitStack() as stack:
        schema = await stack.enter_async_context(postgres_schema())
        ledgers = []
        for _ in range(10):
            engine = create_ledger_engine(
                POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
            )
            ledger = Ledger(engine, SubjectVault(keys.vault))
            stack.push_async_callback(ledger.dispose)
            ledgers.append(ledger)
        await upgrade_schema(ledgers[0].engine)
        results = await asyncio.gather(
            *(submit(lg, keys, settings, client) for lg in ledgers), return_exceptions=True
        )
        await assert_one_request_written(ledgers[0], client, list(results))


async def test_the_claim_is_released_by_every_final_answer(
    ledger: Ledger, keys: Keyring, tmp_path: Path
) -> None:
    """answered (from outcomes), rejected, cancelled, and withdrawn at intake: each frees the
    person for a new request, which is accepted."""
    settings, client = settings_in(tmp_path), Starts()
    first = await submit(ledger, keys, settings, client)
    with pytest.raises(LetheError, match="already has an open request"):
        await submit(ledger, keys, settings, client)

    await ledger.finish_system(
        first.request_id, "crm", 0, OutcomeEntry("erased"), at=datetime.now(UTC)
    )
    assert (
        await RequestStatuses(ledger).answer(first.request_id, at=datetime.now(UTC), actor="lethe")
        == "completed"
    )
    second = await submit(ledger, keys, settings, client)

    await ledger.set_status(
        second.request_id, "rejected", at=datetime.now(UTC), actor="lethe", reason="no code"
    )
    third = await submit(ledger, keys, settings, client)

    await ledger.set_status(
        third.request_id, "cancelled", at=datetime.now(UTC), actor="operator:kim", reason="asked"
    )
    with pytest.raises(UnreachableError):
        await submit(ledger, keys, settings, Starts(fail=True))
    assert await holder(ledger, first.subject_ref) is None  # withdrawn with its row
    fourth = await submit(ledger, keys, settings, client)
    assert await holder(ledger, fourth.subject_ref) == fourth.request_id
    assert len(client.started) == 4


async def test_a_deliberate_duplicate_is_filed_and_inherits_the_claim(
    ledger: Ledger, keys: Keyring, tmp_path: Path
) -> None:
    """--allow-duplicate files a second request while the first is open; when the first is
    answered the second holds the person's claim, so a plain submission is still refused
    while any of their requests is open."""
    settings, client = settings_in(tmp_path), Starts()
    first = await submit(ledger, keys, settings, client)
    dup = await submit(ledger, keys, settings, client, allow_duplicate=True)
    assert await holder(ledger, first.subject_ref) == first.request_id

    await ledger.set_status(first.request_id, "rejected", at=datetime.now(UTC), actor="lethe")
    assert await holder(ledger, first.subject_ref) == dup.request_id
    with pytest.raises(LetheError, match=f"open request {dup.request_id} \\(received\\)"):
        await submit(ledger, keys, settings, client)

    await ledger.set_status(dup.request_id, "cancelled", at=datetime.now(UTC), actor="op")
    assert await holder(ledger, first.subject_ref) is None
    await submit(ledger, keys, settings, client)
    # Another person is never in the way.
    await submit(ledger, keys, settings, client, email="bob@example.org")


async def test_a_later_round_of_an_answered_request_claims_nothing(
    ledger: Ledger, keys: Keyring, tmp_path: Path
) -> None:
    """A referral escalated in a later round shows the answered request as escalated again;
    the person's request was answered, so a new request of theirs is accepted, and the
    round's close leaves the new request's claim alone."""
    settings, client = settings_in(tmp_path), Starts()
    first = await submit(ledger, keys, settings, client)
    now = datetime.now(UTC)
    await ledger.finish_system(first.request_id, "crm", 0, OutcomeEntry("failed"), at=now)
    await RequestStatuses(ledger).answer(first.request_id, at=now, actor="lethe")

    referrals = ControllerReferrals(ledger)
    await referrals.open(
        request_id=first.request_id,
        system="crm",
        round_=1,
        controller="acme",
        workflow_id="round",
        answer_by=now + timedelta(days=7),
        connector_called=False,
        at=now,
    )
    await referrals.escalate(first.request_id, "crm", 1, reason="no answer", at=now)
    assert (await ledger.require_request(first.request_id)).status == "escalated"
    second = await submit(ledger, keys, settings, client)

    await referrals.instruct(
        first.request_id,
        "crm",
        1,
        instruction="erase",
        instructed_by="operator:kim",
        reason="controller said so by phone",
        at=now,
    )
    await RequestStatuses(ledger).after_round(first.request_id, at=now, actor="lethe", detail={})
    assert await holder(ledger, second.subject_ref) == second.request_id
