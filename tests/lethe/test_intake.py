"""Intake refuses a second request for a person whose first one is still being worked on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from temporalio.client import Client

from ledger import Ledger
from lethe.errors import LetheError
from lethe.intake import submit_request, validate_request
from lethe.keys import Keyring
from lethe.pseudonym import Pseudonymizer
from lethe.settings import Settings, SystemConfig
from vocabulary import OPEN_STATUSES

NOW = datetime(2026, 3, 2, tzinfo=UTC)


class NoServer:
    """Fails the test if intake gets as far as starting a workflow."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"intake reached the Temporal client ({name})")


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
async def test_an_open_request_blocks_a_second_one(
    sqlite_ledger: Ledger, keys: Keyring, tmp_path: Any, status: str
) -> None:
    assert sqlite_ledger.vault is not None
    ref = Pseudonymizer(keys.pseudonym).subject_ref("ada@example.org")
    await sqlite_ledger.open_request(
        request_id="er-first",
        subject_ref=ref,
        jurisdiction="gdpr",
        verification_method="operator",
        channel="cli",
        systems=["crm"],
        workflow_id="erasure/er-first",
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
        sealed=sqlite_ledger.vault.seal("er-first", {"email": "ada@example.org"}),
        actor="cli",
    )
    await sqlite_ledger.set_status("er-first", status, at=NOW, actor="lethe")
    settings = Settings(
        home=tmp_path, database_url="", systems={"crm": SystemConfig("crm", "sql", {})}
    )
    draft = validate_request(settings, email="ADA@example.org", verification="operator")
    with pytest.raises(LetheError, match=f"already has an open request er-first \\({status}\\)"):
        await submit_request(
            draft,
            settings=settings,
            ledger=sqlite_ledger,
            client=cast(Client, NoServer()),
            keys=keys,
        )
    assert [r.request_id for r in await sqlite_ledger.list_requests()] == ["er-first"]


def test_a_draft_shows_no_identifier_in_its_repr(tmp_path: Any) -> None:
    """A draft holds the address in the clear until intake seals it: a log line or a
    traceback that shows it must not show the person."""
    settings = Settings(
        home=tmp_path, database_url="", systems={"crm": SystemConfig("crm", "sql", {})}
    )
    draft = validate_request(
        settings,
        email="ada@example.org",
        verification="operator",
        extra_identifiers={"name": "Ada Byron"},
    )
    assert draft.email == "ada@example.org" and "crm" in repr(draft)
    assert "ada@" not in repr(draft) and "Byron" not in str(draft)
