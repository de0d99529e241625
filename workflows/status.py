"""A request's final status, from its systems' outcomes. Pure and deterministic.

The rule itself lives with the ledger (``ledger.request_status``), which applies it to the
latest outcome of each system when a request is answered and after every later round. The
workflows use it only to replay histories recorded before the answer was computed there
(``ErasureWorkflow``, patch ``status-from-ledger``).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # The one list of final statuses is the ledger's (``ledger.receipts``).
    from activities import FINAL_STATUSES, request_status

__all__ = ["FINAL_STATUSES", "final_status"]

final_status = request_status
