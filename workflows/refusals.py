"""Signals read by the workflow itself, so that a refused one is recorded, never applied.

The payload codec (``lethe/codec.py``) hands the SDK a marker for every payload not encrypted
under the payload key, and reading the marker raises an ``ApplicationError`` of type
``PayloadRefused``. For a workflow start or an update the SDK turns that into a failed start
or a rejected update, answered to the caller. A signal has nobody to answer, and the SDK
would only drop it with a line in the worker's log: so our signal handlers take the raw
payload (``RawValue``) and read it here. A refused (or malformed) signal changes nothing; it
is counted, and the first few of each run are recorded in the ledger by an activity
(``record_refused_signal``: a ``payload_refused`` event and an operator alert).

Recording is new behaviour, behind the ``record-refused-signals`` patch: a history written
before it replays as it ran (the SDK had dropped a malformed signal without a command).
"""

from __future__ import annotations

from typing import TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import RefusalActivities, RefusedSignal

from .activity_options import REFUSAL_RECORD

__all__ = ["PAYLOAD_REFUSED", "RECORD_REFUSED_SIGNALS", "Refused", "SignalReader"]

T = TypeVar("T")

#: The error type the codec's converter raises for a refused payload (``lethe.codec``).
PAYLOAD_REFUSED = "PayloadRefused"
#: Patch: a refused or malformed signal is recorded (an activity), no longer only dropped.
RECORD_REFUSED_SIGNALS = "record-refused-signals"
#: Refusals recorded per workflow run; the rest are only counted (a flood is one story).
RECORDED_AT_MOST = 3


class Refused:
    """A signal argument that was not applied, and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class SignalReader:
    """Reads signal arguments for one workflow run and records the refused ones."""

    def __init__(self) -> None:
        self.refused = 0

    def read(self, raw: RawValue, as_type: type[T], signal: str) -> T | Refused:
        try:
            value = workflow.payload_converter().from_payload(raw.payload, as_type)
        except ApplicationError as err:
            if err.type != PAYLOAD_REFUSED:
                raise
            return Refused(err.message)
        except Exception:  # encrypted by a key holder, but not what the signal takes
            return Refused(f"refused: the payload is not a well-formed {signal!r} signal")
        if not isinstance(value, as_type):
            return Refused(f"refused: the payload is not a well-formed {signal!r} signal")
        return value

    async def record(self, request_id: str, signal: str, refused: Refused) -> None:
        """Count the refusal; record the first few (an activity), from patched code on."""
        self.refused += 1
        workflow.logger.warning("signal refused", extra={"signal": signal})
        if not workflow.patched(RECORD_REFUSED_SIGNALS) or self.refused > RECORDED_AT_MOST:
            return
        try:
            await workflow.execute_activity_method(
                RefusalActivities.record_refused_signal,
                RefusedSignal(
                    request_id,
                    workflow.info().workflow_id,
                    signal,
                    refused.reason,
                    self.refused,
                ),
                **REFUSAL_RECORD,
            )
        except ActivityError:  # never fail the request over its record of a refusal
            workflow.logger.warning("signal refusal not recorded", extra={"signal": signal})
