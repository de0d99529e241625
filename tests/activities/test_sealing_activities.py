"""seal_request against a real SQLite ledger, in Temporal's ActivityEnvironment."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import SealingActivities
from ledger import Ledger, ProofLog, TreeHeadSigner
from tests.support.requests import finished_request


async def test_sealing_is_idempotent_and_refuses_unknown_requests(sqlite_ledger: Ledger) -> None:
    key = Ed25519PrivateKey.generate()
    sealing = SealingActivities(ProofLog(sqlite_ledger, TreeHeadSigner(key)))
    env = ActivityEnvironment()
    await finished_request(sqlite_ledger, "er-1")

    first = await env.run(sealing.seal_request, "er-1")
    # crm, forum, the request's state, and its 4 events
    assert (first.appended, first.tree_size) == (7, 7) and first.root_hash
    again = await env.run(sealing.seal_request, "er-1")  # a retry after the commit
    assert (again.appended, again.tree_size, again.root_hash) == (0, 7, first.root_hash)
    assert [e.kind for e in await sqlite_ledger.events("er-1")].count("sealed") == 1

    with pytest.raises(ApplicationError) as refused:
        await env.run(sealing.seal_request, "er-404")
    assert refused.value.non_retryable and refused.value.type == "UnknownRequest"
