"""The custom search attributes of a request's workflow: what the Temporal Web UI and
``temporal workflow list -q`` filter on ("what is overdue, stuck, escalated").

No identifier ever goes in one (a search attribute is indexed in plain text by the cluster's
visibility store): a status word, a jurisdiction code, a verification method, a date, the
configured names of systems, a flag. ``tests/test_pii_canary.py`` checks it.

A request's workflow carries them only when its input says so (``ErasureRequest.
search_attributes``: intake sets it when the namespace has them registered, ``lethe dev`` and
``lethe init`` register them), and only in histories that took the ``lethe-search-attributes``
patch: histories recorded before either replay unchanged.
"""

from __future__ import annotations

from datetime import datetime

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

__all__ = [
    "DUE_DATE",
    "JURISDICTION",
    "LETHE_SEARCH_ATTRIBUTES",
    "OVERDUE",
    "SEARCH_ATTRIBUTES_PATCH",
    "STATUS",
    "SYSTEMS",
    "VERIFICATION",
    "initial_attributes",
    "status_update",
]

STATUS = SearchAttributeKey.for_keyword("LetheStatus")
JURISDICTION = SearchAttributeKey.for_keyword("LetheJurisdiction")
VERIFICATION = SearchAttributeKey.for_keyword("LetheVerification")
DUE_DATE = SearchAttributeKey.for_datetime("LetheDueDate")
SYSTEMS = SearchAttributeKey.for_keyword_list("LetheSystems")
OVERDUE = SearchAttributeKey.for_bool("LetheOverdue")

#: Every one of them, as registered on a namespace (``lethe.search_attributes.register``).
LETHE_SEARCH_ATTRIBUTES = (STATUS, JURISDICTION, VERIFICATION, DUE_DATE, SYSTEMS, OVERDUE)

#: The patch a workflow takes before its first upsert: histories without it never upsert.
SEARCH_ATTRIBUTES_PATCH = "lethe-search-attributes"


def initial_attributes(
    *, status: str, jurisdiction: str, verification: str, due_at: datetime, systems: tuple[str, ...]
) -> TypedSearchAttributes:
    """What a request's workflow starts with (intake passes them to ``start_workflow``)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STATUS, status),
            SearchAttributePair(JURISDICTION, jurisdiction),
            SearchAttributePair(VERIFICATION, verification),
            SearchAttributePair(DUE_DATE, due_at),
            SearchAttributePair(SYSTEMS, list(systems)),
            SearchAttributePair(OVERDUE, False),
        ]
    )


def status_update(status: str) -> SearchAttributeUpdate[str]:
    return STATUS.value_set(status)
