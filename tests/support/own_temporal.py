"""A Temporal test server of a test's own, for tests that start erasure workflows through the
intake with no worker to run them. On the session's shared time-skipping server such
workflows would stay pending (terminating them does not help): their unfinished workflow tasks
hold the server's time still, and every later test that skips time times out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.testing import WorkflowEnvironment

from lethe.keys import Keyring
from lethe.temporal import data_converter
from tests.conftest import _binary

__all__ = ["own_test_server"]


@asynccontextmanager
async def own_test_server(keys: Keyring) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=data_converter(keys),
    )
    try:
        yield env
    finally:
        await env.shutdown()
