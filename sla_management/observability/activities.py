"""Worker interceptor: metrics and log context for every activity attempt.

In one place rather than in each activity, so a new activity is measured without anyone
remembering to, and the activities stay about their work.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from sla_management.observability import metrics

# Workflow ids are `slo-<id>` and `policy-<id>` (domain.slo / domain.policy).
_ID_PREFIXES = {"slo-": "slo_id", "policy-": "policy_id"}


def log_context(workflow_id: str | None) -> dict[str, str]:
    """The ids a log line of this workflow's activities should carry."""
    if not workflow_id:
        return {}
    bound = {"workflow_id": workflow_id}
    for prefix, key in _ID_PREFIXES.items():
        if workflow_id.startswith(prefix):
            bound[key] = workflow_id.removeprefix(prefix)
    return bound


class ActivityTelemetryInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        name = info.activity_type
        if info.attempt > 1:
            metrics.ACTIVITY_RETRIES.labels(name).inc()
        waited = (info.started_time - info.current_attempt_scheduled_time).total_seconds()
        metrics.ACTIVITY_SCHEDULE_TO_START.labels(name).observe(max(waited, 0.0))
        outcome = "failed"
        started = time.perf_counter()
        # Contextvars are per task and each attempt runs in its own task: nothing leaks between
        # attempts, and the binding covers every log line the activity's clients write.
        with structlog.contextvars.bound_contextvars(
            **log_context(info.workflow_id), activity=name, attempt=info.attempt
        ):
            try:
                result = await super().execute_activity(input)
                outcome = "ok"
                return result
            except (asyncio.CancelledError, CancelledError):
                outcome = "cancelled"
                raise
            finally:
                metrics.ACTIVITY_DURATION.labels(name).observe(time.perf_counter() - started)
                metrics.ACTIVITY_EXECUTIONS.labels(name, outcome).inc()
