"""How long each kind of activity may take and how it is retried, defined once.

A workflow passes one of these to ``workflow.execute_activity_method(…, **LEDGER)``. The
values are recorded in every scheduled activity of a history: change one and the workflows
already running keep the old value for the activities they have scheduled, and new ones get
the new value (a timeout or a retry policy is not part of what a replay compares).

    LEDGER            a ledger write or read: short, retried until the database is back
                      (every ledger activity is idempotent)
    LEDGER_STEP       the same, for a request's own ledger steps run as local activities
                      (``execute_local_activity_method``: in the worker that runs the
                      workflow, recorded as a marker, no activity task on the server)
    SWEEP_LEDGER      the retention sweep's ledger work: longer (a batch), a bounded retry so
                      that one bad sweep ends and the next one starts
    REFUSAL_RECORD    recording a refused signal: bounded, never fails the request over it
    STALL_CHECK       the sweep's look for stalled requests: two tries, then the next sweep
    MAIL              a code or an acknowledgement mailed: retried while the server is down;
                      a refused recipient, or no mail configured, is final
    RESEND            a new code an operator waits for: a few quick tries, then a clear no
    INSTRUCTED_RETENTION  a controller's instructed retention: as LEDGER, but a permanent
                      error (the instruction cannot be recorded as given) is final
    connector_call()  a connector's erase, poll or verify: the request's own ``ErasurePolicy``
                      says how long, how often and how fast (``connector_retry()``: its
                      retries, also those of notifying a controller)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final, TypedDict

from temporalio.common import RetryPolicy

if TYPE_CHECKING:
    from .types import ErasurePolicy

__all__ = [
    "INSTRUCTED_RETENTION",
    "LEDGER",
    "LEDGER_STEP",
    "MAIL",
    "NOTICE_ERRORS",
    "PERMANENT_ERRORS",
    "REFUSAL_RECORD",
    "RESEND",
    "STALL_CHECK",
    "SWEEP_LEDGER",
    "ActivityOptions",
    "LocalActivityOptions",
    "connector_call",
    "connector_retry",
]


class ActivityOptions(TypedDict, total=False):
    """The keyword arguments of ``workflow.execute_activity_method`` we set."""

    start_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy


class LocalActivityOptions(TypedDict, total=False):
    """The keyword arguments of ``workflow.execute_local_activity_method`` we set."""

    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    local_retry_threshold: timedelta


#: Error types an activity raises that no retry can fix.
PERMANENT_ERRORS: Final = [
    "PermanentError",
    "BlastRadiusExceeded",
    "ConnectorConfigError",
    "SystemNotConfigured",
    "SubjectUnavailable",
]
#: ... and those of telling a controller about a referral.
NOTICE_ERRORS: Final = [*PERMANENT_ERRORS, "ControllerRefused", "ControllerNotConfigured"]

_A_MINUTE = timedelta(seconds=60)

LEDGER: Final[ActivityOptions] = {
    "start_to_close_timeout": _A_MINUTE,
    "retry_policy": RetryPolicy(maximum_interval=_A_MINUTE),
}
#: As LEDGER: no schedule-to-close, so a step is retried until the database is back (each is
#: idempotent: write keys). A try is bounded by start-to-close; between tries the worker waits
#: at most a minute, which is the local retry threshold: longer waits would become timers in
#: the history. While a step runs past most of the workflow task's timeout, the worker
#: heartbeats the task (the SDK does), so a long outage does not time the request out.
LEDGER_STEP: Final[LocalActivityOptions] = {
    "start_to_close_timeout": _A_MINUTE,
    "retry_policy": RetryPolicy(maximum_interval=_A_MINUTE),
    "local_retry_threshold": _A_MINUTE,
}
SWEEP_LEDGER: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=120),
    "retry_policy": RetryPolicy(maximum_interval=_A_MINUTE, maximum_attempts=10),
}
STALL_CHECK: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=120),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}
REFUSAL_RECORD: Final[ActivityOptions] = {
    "start_to_close_timeout": _A_MINUTE,
    "retry_policy": RetryPolicy(maximum_interval=_A_MINUTE, maximum_attempts=20),
}
MAIL: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        maximum_interval=timedelta(minutes=10),
        non_retryable_error_types=["MailNotConfigured", "MailRejected", "SubjectUnavailable"],
    ),
}
RESEND: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        maximum_attempts=3,
        non_retryable_error_types=[
            "MailNotConfigured",
            "MailRejected",
            "MailUnavailable",
            "SubjectUnavailable",
        ],
    ),
}
INSTRUCTED_RETENTION: Final[ActivityOptions] = {
    "start_to_close_timeout": _A_MINUTE,
    "retry_policy": RetryPolicy(
        maximum_interval=_A_MINUTE, non_retryable_error_types=PERMANENT_ERRORS
    ),
}


def connector_retry(policy: ErasurePolicy, permanent: list[str] = PERMANENT_ERRORS) -> RetryPolicy:
    """A connector call's retries, as the request's policy sets them."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.retry_initial_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=policy.retry_max_interval_seconds),
        maximum_attempts=policy.attempt_limit,
        non_retryable_error_types=permanent,
    )


def connector_call(policy: ErasurePolicy) -> ActivityOptions:
    """A connector's erase, poll or verify: timed out, heartbeated and retried by the policy."""
    return {
        "start_to_close_timeout": timedelta(seconds=policy.erase_timeout_seconds),
        "heartbeat_timeout": timedelta(seconds=policy.heartbeat_timeout_seconds),
        "retry_policy": connector_retry(policy),
    }
