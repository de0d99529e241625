"""Which systems a retry or a backup replay erases again, and why not, without Temporal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import ErasureRequestRecord, ErasureRound, Ledger, SystemOutcomeRecord
from lethe.errors import LetheError, NotFoundError
from lethe.operations.later_rounds import (
    Replay,
    Skipped,
    replay_backup,
    replay_systems,
    retry_refusal,
    settled,
)
from lethe.runtime import Runtime
from tests.support.requests import ERASED, NOW, finished_request


def request(status: str = "completed", *, open_: bool = False) -> ErasureRequestRecord:
    return ErasureRequestRecord(
        request_id="er-1",
        subject_ref="ps_" + "0" * 32,
        status=status,
        systems=["crm", "forum", "vendor"],
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        completed_at=None if open_ else NOW + timedelta(days=2),
    )


def outcome(system: str, kind: str, round_: int = 0) -> SystemOutcomeRecord:
    return SystemOutcomeRecord(system=system, round=round_, outcome=kind, evidence={})


UNFINISHED = ErasureRound(request_id="er-1", system="crm", round=1)


@pytest.mark.parametrize(
    ("open_", "latest", "unfinished", "refusal"),
    [
        # The request's own erasure of the system is under way: not a failure (yet).
        (True, None, None, "crm of er-1 has no final outcome yet (not started)"),
        (True, "in_progress", None, "has no final outcome yet (round 0 is in_progress)"),
        (True, "referred", None, "has no final outcome yet (round 0 is referred)"),
        # Ended without failing: nothing to retry.
        (False, "erased", None, "crm did not fail in er-1 (its latest outcome is erased)"),
        (False, "referred", None, "its latest outcome is referred); nothing to retry"),
        (False, None, None, "its latest outcome is none"),
        # Failed, or not searched for want of an identifier: retried, open or not.
        (False, "failed", None, None),
        (True, "failed", None, None),
        (False, "not_searched", None, None),
        # A round that started and never finished (a worker died) is resumed.
        (False, "erased", UNFINISHED, None),
        (True, "in_progress", UNFINISHED, None),
    ],
)
def test_a_retry_is_refused_unless_the_system_failed_or_a_round_was_cut_short(
    open_: bool, latest: str | None, unfinished: ErasureRound | None, refusal: str | None
) -> None:
    said = retry_refusal(
        request(open_=open_),
        "crm",
        outcome("crm", latest) if latest else None,
        unfinished,
    )
    if refusal is None:
        assert said is None
    else:
        assert said is not None and refusal in said


def test_a_retry_names_the_request_s_systems_when_given_another() -> None:
    said = retry_refusal(request(), "billing", None, None)
    assert said == "er-1 has no system 'billing' (its systems: crm, forum, vendor)"


def test_referred_is_not_settled_while_it_waits_for_the_controller() -> None:
    assert settled(outcome("crm", "erased")) and settled(outcome("crm", "failed"))
    assert not settled(outcome("crm", "referred")) and not settled(None)


def test_a_finished_request_is_replayed_in_every_system_asked() -> None:
    chosen, skipped = replay_systems(request(), ["crm", "forum"], {}, shredded=False)
    assert (chosen, skipped) == (["crm", "forum"], [])


def test_an_open_request_is_replayed_only_where_its_own_erasure_ended() -> None:
    latest = {
        "crm": outcome("crm", "erased"),
        "forum": outcome("forum", "in_progress"),
        "vendor": outcome("vendor", "referred"),
    }
    chosen, skipped = replay_systems(
        request("erasing", open_=True), ["crm", "forum", "vendor"], latest, shredded=False
    )
    assert chosen == ["crm"]
    assert skipped == [Skipped("er-1", "still erasing, no final outcome yet in forum, vendor")]


@pytest.mark.parametrize("status", ["rejected", "cancelled"])
def test_a_refused_request_was_never_erased_and_is_not_replayed(status: str) -> None:
    chosen, skipped = replay_systems(request(status), ["crm"], {}, shredded=False)
    assert chosen == [] and skipped == [Skipped("er-1", f"{status}: never erased")]


def test_a_request_whose_identifiers_are_shredded_cannot_be_replayed() -> None:
    chosen, skipped = replay_systems(request(), ["crm"], {}, shredded=True)
    assert chosen == [] and skipped == [Skipped("er-1", "identifiers already shredded")]


def test_an_open_request_with_nothing_ended_says_only_that() -> None:
    chosen, skipped = replay_systems(request("erasing", open_=True), ["crm"], {}, shredded=True)
    assert chosen == [] and [s.why for s in skipped] == [
        "still erasing, no final outcome yet in crm"
    ]


async def test_a_replay_with_nothing_to_erase_says_why_for_each_request(
    runtime: Runtime, sqlite_ledger: Ledger
) -> None:
    await finished_request(sqlite_ledger, "er-r", {"crm": ERASED}, status="rejected")
    subject = "ps_" + b"er-r".hex()[:32]
    with pytest.raises(LetheError) as refused:
        await replay_backup(
            runtime, Replay("restore of crm, 2026-01-30", "ops", subject_ref=subject)
        )
    assert str(refused.value) == "nothing to replay (er-r: rejected: never erased)"


async def test_a_replay_checks_the_systems_asked_against_each_request(
    runtime: Runtime, sqlite_ledger: Ledger
) -> None:
    await finished_request(sqlite_ledger, "er-s", {"crm": ERASED})
    order = Replay("restore", "ops", request_id="er-s", systems=["crm", "billing"])
    with pytest.raises(LetheError, match="unknown system 'billing': er-s's systems are crm"):
        await replay_backup(runtime, order)


async def test_a_replay_of_a_person_without_requests_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFoundError, match="no erasure request for pseudonym ps_"):
        await replay_backup(runtime, Replay("restore", "ops", subject_ref="ps_" + "f" * 32))
