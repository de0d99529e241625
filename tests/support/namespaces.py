"""A namespace of its own on the dev server, for a test that changes a namespace (registers
search attributes): the other tests of the session keep the default one as it was."""

from __future__ import annotations

import asyncio
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

__all__ = ["fresh_namespace"]


async def fresh_namespace(client: Client) -> Client:
    """A new namespace, ready; a client of it (same server, same data converter)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    for _ in range(300):
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=name)
            )
            break
        except RPCError:
            await asyncio.sleep(0.1)
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=name,
        data_converter=client.data_converter,
    )
