"""A time-skipping test server of a test's own.

Needed by tests whose workflows abandon a child (the retention sweep does): afterwards the
test server no longer skips time — ``env.sleep`` waits in real time and times out
(temporalio/sdk-java#2392, sdk-typescript#1101). Such tests must not share the session's
server, or every later test that sleeps would fail.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from lethe.keys import Keyring
from lethe.temporal import data_converter


@asynccontextmanager
async def own_time_skipping_env(
    keys: Keyring, *, auto_skip: bool = True
) -> AsyncIterator[WorkflowEnvironment]:
    """``auto_skip=False``: the clock moves only on ``env.sleep``. Awaiting a result with auto
    skipping on may leap the server's clock by months (it did, now and then, while activities
    ran), which a test that reads "today" in a workflow cannot have."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=data_converter(keys),
    )
    try:
        if auto_skip:
            yield env
        else:
            with env.auto_time_skipping_disabled():
                yield env
    finally:
        await env.shutdown()
