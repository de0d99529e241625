"""One system's part of a request: erase → (poll while pending) → verify → outcome.

A child workflow per system keeps each system's retries, timers and history apart: one slow or
broken system never holds up the others, and can be retried alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities import (
        ErasureActivities,
        RecordingActivities,
        SystemFailure,
        SystemOutcome,
        SystemTask,
    )

    from .types import ErasurePolicy, SystemErasure

__all__ = ["SystemErasureWorkflow", "describe_activity_failure"]

#: Error types an activity raises that no retry can fix.
PERMANENT_ERRORS = [
    "PermanentError",
    "BlastRadiusExceeded",
    "ConnectorConfigError",
    "SystemNotConfigured",
    "SubjectUnavailable",
]

_MAX_POLLS = 1000


def describe_activity_failure(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        what = f"{cause.type}: {cause.message}" if cause.type else cause.message
    elif isinstance(cause, TemporalTimeout):
        what = f"timed out ({cause.type.name.lower() if cause.type else 'unknown'})"
    else:
        what = str(cause or err)
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        what += " (retries exhausted)"
    return what


def _retry(policy: ErasurePolicy) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.retry_initial_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=policy.retry_max_interval_seconds),
        maximum_attempts=policy.attempt_limit,
        non_retryable_error_types=PERMANENT_ERRORS,
    )


@workflow.defn(name="SystemErasureWorkflow")
class SystemErasureWorkflow:
    def __init__(self) -> None:
        self._stage = "erasing"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, job: SystemErasure) -> SystemOutcome:
        policy = job.policy
        task = SystemTask(job.request_id, job.system, job.round)
        timeout = timedelta(seconds=policy.erase_timeout_seconds)
        heartbeat = timedelta(seconds=policy.heartbeat_timeout_seconds)
        retry = _retry(policy)
        try:
            outcome = await workflow.execute_activity_method(
                ErasureActivities.erase_in_system,
                task,
                start_to_close_timeout=timeout,
                heartbeat_timeout=heartbeat,
                retry_policy=retry,
            )
            polls = 0
            while outcome.outcome == "pending" and polls < _MAX_POLLS:
                self._stage = "pending"
                await workflow.sleep(timedelta(seconds=outcome.poll_after_seconds or 300))
                outcome = await workflow.execute_activity_method(
                    ErasureActivities.poll_system,
                    task,
                    start_to_close_timeout=timeout,
                    heartbeat_timeout=heartbeat,
                    retry_policy=retry,
                )
                polls += 1
            if outcome.outcome in {"erased", "retained"} and outcome.verifiable:
                self._stage = "verifying"
                check = await workflow.execute_activity_method(
                    ErasureActivities.verify_in_system,
                    task,
                    start_to_close_timeout=timeout,
                    heartbeat_timeout=heartbeat,
                    retry_policy=retry,
                )
                if not check.clean:
                    left = ", ".join(f"{k}={v}" for k, v in sorted(check.remaining.items()))
                    outcome = replace(
                        outcome,
                        outcome="failed",
                        error=f"verification after erase found items left: {left}",
                    )
        except ActivityError as err:
            self._stage = "failed"
            return await workflow.execute_activity_method(
                RecordingActivities.record_system_failure,
                SystemFailure(
                    job.request_id, job.system, job.round, describe_activity_failure(err)
                ),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=60)),
            )
        self._stage = outcome.outcome
        return outcome
