"""Lethe's custom search attributes on a Temporal namespace: registered by ``lethe dev`` and
``lethe init`` (the operator service's ``AddSearchAttributes``), looked up by intake, which
starts a request's workflow with them only where the namespace has them (an attribute the
namespace does not know would fail the workflow's every task).

Temporal Cloud registers custom search attributes through its own console or ``tcld``, not
the operator service: there, register the names and types of
``workflows.search_attributes.LETHE_SEARCH_ATTRIBUTES`` once (docs/production.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.service import RPCError

from workflows.search_attributes import LETHE_SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from temporalio.client import Client

    from .keys import Keyring
    from .settings import Settings

__all__ = ["has_search_attributes", "register_for", "register_search_attributes"]

# Whether a cluster's namespace has them (one lookup per process, cluster and namespace).
_FOUND: dict[tuple[str, str], bool] = {}


def _where(client: Client, namespace: str) -> tuple[str, str]:
    return client.service_client.config.target_host, namespace


def _wanted() -> dict[str, IndexedValueType.ValueType]:
    # The SDK's enum has the API's numbers.
    return {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in LETHE_SEARCH_ATTRIBUTES
    }


async def _registered(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the ones the namespace lacks (idempotent); the names added. Raises ``RPCError``
    (the cluster refuses: Temporal Cloud, no permission) and ``ValueError`` (a name already
    registered with another type)."""
    have = await _registered(client, namespace)
    wanted = _wanted()
    clash = [n for n, t in wanted.items() if n in have and have[n] != t]
    if clash:
        raise ValueError(
            f"search attribute {clash[0]} is registered on namespace {namespace} with another"
            " type than Lethe's"
        )
    missing = {n: t for n, t in wanted.items() if n not in have}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    _FOUND[_where(client, namespace)] = True
    return sorted(missing)


async def has_search_attributes(client: Client, namespace: str) -> bool:
    """Whether every one of Lethe's is registered on the namespace, with its type (False when
    the cluster will not say)."""
    service = getattr(client, "service_client", None)
    if service is None:  # a stand-in client that only starts workflows: none to look at
        return False
    key = _where(client, namespace)
    if key not in _FOUND:
        try:
            have = await _registered(client, namespace)
        except RPCError:
            return False
        _FOUND[key] = all(have.get(n) == t for n, t in _wanted().items())
    return _FOUND[key]


async def register_for(settings: Settings, keys: Keyring, *, timeout: float = 5.0) -> str:
    """Register them on the configured namespace, if Temporal answers; one line saying what
    happened (``lethe init`` prints it: an unreachable cluster is not init's failure)."""
    from .errors import UnreachableError
    from .temporal import connect

    t = settings.temporal
    try:
        client = await connect(t, keys, timeout=timeout)
    except UnreachableError:
        return (
            f"not registered: Temporal is not reachable at {t.address} (run `lethe init` again"
            " once it is; on Temporal Cloud register them there: docs/production.md)"
        )
    try:
        added = await register_search_attributes(client, t.namespace)
    except (RPCError, ValueError) as exc:
        return f"not registered on namespace {t.namespace}: {str(exc).splitlines()[0][:200]}"
    if added:
        return f"registered {', '.join(added)} on namespace {t.namespace}"
    return f"already registered on namespace {t.namespace}"
