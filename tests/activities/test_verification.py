"""Verification and deadline activities with a real ledger and a real SMTP server on loopback.

The code is read from the delivered message, as the requester would read it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import (
    AcknowledgementNotice,
    CodeAttempt,
    CodeChallenge,
    ConsoleMailer,
    DeadlineActivities,
    DeadlineEvent,
    ExtensionOrder,
    SmtpConfig,
    SmtpMailer,
    VerificationActivities,
)
from ledger import DeadlineRecords, DeadlineTerms, Ledger, RequestEvent, VerificationCode
from tests.support.smtp import Inbox, smtp_server

EMAIL = "ada@example.org"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
async def opened(sqlite_ledger: Ledger) -> AsyncIterator[Ledger]:
    now = datetime.now(UTC)
    for rid, email in (("er-1", EMAIL), ("er-2", "bob@example.org")):
        assert sqlite_ledger.vault is not None
        await sqlite_ledger.open_request(
            request_id=rid,
            subject_ref=f"ps_{rid}",
            jurisdiction="gdpr",
            verification_method="email",
            channel="cli",
            systems=["crm"],
            workflow_id=f"erasure/{rid}",
            received_at=now,
            due_at=now + timedelta(days=30),
            sealed=sqlite_ledger.vault.seal(rid, {"email": email}),
            actor="cli",
        )
        await DeadlineRecords(sqlite_ledger).open_clock(
            rid,
            DeadlineTerms(
                "UTC",
                "gdpr",
                now + timedelta(days=30),
                now + timedelta(days=1),
                "policy",
                None,
                "no",
            ),
        )
    yield sqlite_ledger


def mailer(inbox: Inbox) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig("127.0.0.1", inbox.port, sender="privacy@example.com", security="none")
    )


def challenge(rid: str, *, ttl: timedelta = timedelta(hours=72)) -> CodeChallenge:
    now = datetime.now(UTC)
    return CodeChallenge(rid, now + ttl, 5, now + timedelta(days=30))


async def test_the_code_travels_by_smtp_and_only_its_hash_stays(
    opened: Ledger, inbox: Inbox
) -> None:
    acts = VerificationActivities(opened, mailer(inbox))
    env = ActivityEnvironment()
    assert (await env.run(acts.send_verification_code, challenge("er-1"))).newly_sent
    [message] = await inbox.wait_for(1)
    assert message["To"] == EMAIL and "er-1" in message["Subject"]
    code = inbox.code_in(message)
    # A retried activity does not send a second, different code.
    assert not (await env.run(acts.send_verification_code, challenge("er-1"))).newly_sent
    assert len(inbox.messages) == 1
    async with opened.session() as s:
        stored = repr((await s.execute(sa.select(VerificationCode))).scalars().all()[0].__dict__)
        events = repr((await s.execute(sa.select(RequestEvent))).scalars().all())
    assert code not in stored and code not in events and EMAIL not in events

    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    verdicts = []
    for n, c in enumerate((wrong, code, code), 1):
        # Three checks: three activities, each with its own id (a retry would keep it).
        env.info = replace(env.info, activity_id=f"check-{n}")
        verdicts.append(
            await env.run(acts.check_verification_code, CodeAttempt("er-1", c, "operator:kim"))
        )
    assert [v.outcome for v in verdicts] == ["wrong_code", "accepted", "used"]
    kinds = [e.kind for e in await opened.events("er-1")]
    assert kinds.count("verification_code_refused") == 2
    assert "verification_code_accepted" in kinds and "acknowledged" in kinds
    clock = await DeadlineRecords(opened).clock("er-1")
    assert clock is not None and clock.acknowledged_at is not None


async def test_a_code_for_another_request_is_refused(opened: Ledger, inbox: Inbox) -> None:
    acts = VerificationActivities(opened, mailer(inbox))
    env = ActivityEnvironment()
    await env.run(acts.send_verification_code, challenge("er-1"))
    await env.run(acts.send_verification_code, challenge("er-2"))
    messages = await inbox.wait_for(2)
    by_to = {m["To"]: inbox.code_in(m) for m in messages}
    crossed = await env.run(
        acts.check_verification_code, CodeAttempt("er-1", by_to["bob@example.org"], "op")
    )
    assert crossed.outcome == "wrong_code"
    own = await env.run(
        acts.check_verification_code, CodeAttempt("er-2", by_to["bob@example.org"], "op")
    )
    assert own.outcome == "accepted"


async def test_an_expired_code_opens_nothing(opened: Ledger, inbox: Inbox) -> None:
    acts = VerificationActivities(opened, mailer(inbox))
    env = ActivityEnvironment()
    await env.run(acts.send_verification_code, challenge("er-1", ttl=timedelta(seconds=-1)))
    code = inbox.code_in((await inbox.wait_for(1))[0])
    verdict = await env.run(acts.check_verification_code, CodeAttempt("er-1", code, "op"))
    assert verdict.outcome == "expired"


async def test_mail_failures_are_told_apart(opened: Ledger, inbox: Inbox) -> None:
    env = ActivityEnvironment()
    inbox.refuse.add(EMAIL)
    with pytest.raises(ApplicationError) as refused:
        await env.run(
            VerificationActivities(opened, mailer(inbox)).send_verification_code, challenge("er-1")
        )
    assert refused.value.type == "MailRejected" and refused.value.non_retryable
    assert EMAIL not in str(refused.value)

    down = SmtpMailer(SmtpConfig("127.0.0.1", 9, security="none", timeout=2))
    with pytest.raises(ApplicationError) as unreachable:
        await env.run(
            VerificationActivities(opened, down).send_verification_code, challenge("er-2")
        )
    assert unreachable.value.type == "MailUnavailable" and not unreachable.value.non_retryable

    with pytest.raises(ApplicationError) as unconfigured:
        await env.run(
            VerificationActivities(opened, None).send_verification_code, challenge("er-2")
        )
    assert unconfigured.value.type == "MailNotConfigured"


async def test_acknowledgement_by_mail_or_recorded_as_not_sent(
    opened: Ledger, inbox: Inbox
) -> None:
    env = ActivityEnvironment()
    due = datetime.now(UTC) + timedelta(days=30)
    sent = await env.run(
        DeadlineActivities(opened, mailer(inbox)).send_acknowledgement,
        AcknowledgementNotice("er-1", due),
    )
    [message] = await inbox.wait_for(1)
    assert sent and message["To"] == EMAIL and f"{due:%d %B %Y}" in message.get_content()
    assert not await env.run(
        DeadlineActivities(opened, None).send_acknowledgement, AcknowledgementNotice("er-2", due)
    )
    assert "acknowledgement_not_sent" in [e.kind for e in await opened.events("er-2")]


async def test_extension_is_recorded_and_the_requester_told(opened: Ledger) -> None:
    console = ConsoleMailer(write=lambda _text: None)
    acts = DeadlineActivities(opened, console)
    env = ActivityEnvironment()
    before = (await opened.require_request("er-1")).due_at
    later = before + timedelta(days=14)
    previous = await env.run(
        acts.record_deadline_extension, ExtensionOrder("er-1", later, "many systems", "kim")
    )
    assert previous == before and (await opened.require_request("er-1")).due_at == later
    [notice] = console.outbox
    assert notice["To"] == EMAIL and "many systems" in notice.get_content()
    with pytest.raises(ApplicationError) as twice:
        await env.run(
            acts.record_deadline_extension,
            ExtensionOrder("er-1", later + timedelta(days=1), "more", "kim"),
        )
    assert twice.value.type == "ExtensionRefused" and "already extended" in str(twice.value)
    # A timer for the old deadline: nothing recorded, the deadline in force comes back.
    current = await env.run(
        acts.record_deadline_event, DeadlineEvent("er-1", "deadline_overdue", before)
    )
    assert current == later
    assert "deadline_overdue" not in [e.kind for e in await opened.events("er-1")]
