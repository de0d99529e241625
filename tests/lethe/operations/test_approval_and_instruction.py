"""What ``approve_identity`` and ``instruct_referral`` decide before any workflow is asked:
an unknown request, a closed one, a system the request does not have or that waits for
nothing. (What the workflow refuses: tests/lethe/test_approval_cli.py.)"""

from __future__ import annotations

import pytest

from lethe.errors import LetheError, NotFoundError
from lethe.operations.identity import approve_identity
from lethe.operations.referrals import InstructionOrder, instruct_referral
from lethe.runtime import Runtime
from tests.ledger.test_store import NOW, open_request


async def test_an_approval_of_an_unknown_or_closed_request_is_refused_here(
    runtime: Runtime,
) -> None:
    with pytest.raises(NotFoundError, match="no erasure request with id 'er-404'"):
        await approve_identity(runtime, "er-404", "called back", "kim")
    await open_request(runtime.ledger)
    await runtime.ledger.set_status("er-1", "rejected", at=NOW, actor="lethe")
    events = len(await runtime.ledger.events("er-1"))
    with pytest.raises(LetheError) as refused:
        await approve_identity(runtime, "er-1", "called back", "kim")
    assert str(refused.value) == "er-1: not approved: the request is closed (rejected)"
    assert len(await runtime.ledger.events("er-1")) == events


async def test_an_instruction_for_a_system_that_waits_for_none_is_refused_here(
    runtime: Runtime,
) -> None:
    await open_request(runtime.ledger)  # systems crm and forum, none referred
    order = InstructionOrder("erase", "acme said erase", "kim")
    with pytest.raises(LetheError, match=r"er-1 has no system 'lms' \(its systems: crm, forum\)"):
        await instruct_referral(runtime, "er-1", "lms", order)
    with pytest.raises(LetheError) as refused:
        await instruct_referral(runtime, "er-1", "crm", order)
    assert str(refused.value) == "crm of er-1 is not waiting for a controller's instruction"
