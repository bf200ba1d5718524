"""Bringing PostgreSQL and Temporal in line with a resource, and reading back what runs.

Framework-free: the kopf handlers decide what a failure means for the resource (a condition, an
event, a retry); these functions only do the work, the same work the REST API does (through
`sla_management.services`), and are idempotent, because kopf may run them again at any time:
after a retry, a restart, or a watch that replays every object.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from sla_management.adapters.postgres import DatabaseUnavailable, PolicyStore
from sla_management.adapters.prometheus import PrometheusUnavailable
from sla_management.domain.budget import ErrorBudget
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import Policy, PolicySpec, policy_workflow_id
from sla_management.domain.slo import SLO, ManagedBy, SLOSpec, workflow_id_for
from sla_management.services import (
    Services,
    ServiceUnavailable,
    notify_policy_updated,
    notify_slo_updated,
    query_units,
)
from sla_management.temporal import start_policy_workflow, start_slo_workflow
from sla_management.workflows.models import PolicyState
from sla_management.workflows.policy import PolicyWorkflow
from sla_management.workflows.slo import SLOWorkflow

# What "try again later" looks like: a dependency down, not a resource that is wrong.
UNAVAILABLE: Final[tuple[type[Exception], ...]] = (
    DatabaseUnavailable,
    PrometheusUnavailable,
    ServiceUnavailable,
    RPCError,
    TimeoutError,
)

# A status pass must not wait on a workflow longer than this: without a worker a query hangs.
QUERY_TIMEOUT: Final = timedelta(seconds=5)


class Applied(StrEnum):
    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"


def _stored(model: SLO | Policy) -> dict[str, object]:
    return model.model_dump(mode="json", exclude={"created_at", "updated_at"})


async def apply_slo(services: Services, slo_id: str, spec: SLOSpec) -> tuple[Applied, SLO]:
    """Make the row and the loop match `spec`. Raises InvalidQuery, Conflict (name taken) or
    one of UNAVAILABLE."""
    temporal = await services.temporal()  # before any write: without Temporal nothing runs
    current = await services.db.get_slo(slo_id)
    if current is not None and current.model_dump(include=set(SLOSpec.model_fields)) == spec.model_dump():
        # Same queries as stored: their units are known, and an operator restart does not ask
        # Prometheus once per resource (nor fails them all while Prometheus is down).
        units = current.query_units
    else:
        units = await query_units(services.prometheus, spec)
    now = datetime.now(UTC)
    slo = SLO(
        **spec.model_dump(),
        id=slo_id,
        managed_by=ManagedBy.KUBERNETES,
        query_units=units,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
    if current is None:
        saved = await services.db.insert_slo(slo)
        # A retry after this failed finds the row and lands in UNCHANGED, which starts the loop.
        await start_slo_workflow(temporal, saved, services.settings)
        return Applied.CREATED, saved
    if _stored(current) == _stored(slo):
        # Resumed: a running loop is left as it is (USE_EXISTING); one that ended is restarted.
        await start_slo_workflow(temporal, current, services.settings)
        return Applied.UNCHANGED, current
    # The loop hears of the change before the row is written. Should the write fail, the retry
    # still sees the old row and tells the loop again; the other order could store a
    # definition that no loop ever heard of.
    await notify_slo_updated(services, slo)
    saved = await services.db.update_slo(slo) or await services.db.insert_slo(slo)
    return Applied.UPDATED, saved


async def apply_policy(services: Services, policy_id: str, spec: PolicySpec) -> tuple[Applied, Policy]:
    """Same as apply_slo for a freeze policy. Raises Conflict or one of UNAVAILABLE."""
    temporal = await services.temporal()
    store = PolicyStore(services.db)
    current = await store.get_policy(policy_id)
    now = datetime.now(UTC)
    policy = Policy(
        **spec.model_dump(),
        id=policy_id,
        managed_by=ManagedBy.KUBERNETES,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
    task_queue = services.settings.temporal.task_queue
    if current is None:
        saved = await store.insert_policy(policy)
        await start_policy_workflow(temporal, saved, task_queue)
        return Applied.CREATED, saved
    if _stored(current) == _stored(policy):
        await start_policy_workflow(temporal, current, task_queue)
        return Applied.UNCHANGED, current
    await notify_policy_updated(services, policy)
    saved = await store.update_policy(policy) or await store.insert_policy(policy)
    return Applied.UPDATED, saved


# Reading back --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLOView:
    budget: ErrorBudget | None = None
    # (reason, message) when the loop could not be asked or is not running.
    problem: tuple[str, str] | None = None


@dataclass(frozen=True)
class PolicyView:
    state: PolicyState | None = None
    problem: tuple[str, str] | None = None


def _unreachable(workflow_id: str, exc: Exception) -> tuple[str, str]:
    if isinstance(exc, WorkflowQueryRejectedError):
        status = exc.status.name.lower() if exc.status else "closed"
        return (
            "LoopNotRunning",
            f"workflow {workflow_id} is {status}; an edit or an operator restart starts it again",
        )
    if isinstance(exc, RPCError) and exc.status is RPCStatusCode.NOT_FOUND:
        return (
            "LoopNotRunning",
            f"workflow {workflow_id} does not exist; an edit or an operator restart starts it",
        )
    if isinstance(exc, ServiceUnavailable):
        return "TemporalUnavailable", str(exc)
    # Typically no worker polls the task queue, so nobody answers the query.
    return "LoopUnreachable", f"workflow {workflow_id} did not answer: {exc}"


async def observe_slo(services: Services, slo_id: str) -> SLOView:
    """The budget the SLO's loop holds now (its `budget` query)."""
    workflow_id = workflow_id_for(slo_id)
    try:
        temporal = await services.temporal()
        budget = await temporal.get_workflow_handle(workflow_id).query(
            SLOWorkflow.budget, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (ServiceUnavailable, WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        return SLOView(problem=_unreachable(workflow_id, exc))
    return SLOView(budget=budget)


async def observe_policy(services: Services, policy_id: str) -> PolicyView:
    """Freeze, last decision and watched SLOs as the policy workflow holds them (`state`)."""
    workflow_id = policy_workflow_id(policy_id)
    try:
        temporal = await services.temporal()
        state = await temporal.get_workflow_handle(workflow_id).query(
            PolicyWorkflow.state, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (ServiceUnavailable, WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        return PolicyView(problem=_unreachable(workflow_id, exc))
    return PolicyView(state=state)


class FreezeBoard:
    """The active freezes, read from PostgreSQL at most once per `ttl` seconds: every SLO's
    status says whether its service is frozen, and one query serves all of them."""

    def __init__(self, store: PolicyStore, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._lock = asyncio.Lock()
        self._freezes: list[FreezeEvent] = []
        self._read_at: float | None = None

    async def covering(self, namespace: str, service: str) -> FreezeEvent | None:
        """The earliest active freeze on that service. Raises DatabaseUnavailable."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._read_at is None or now - self._read_at >= self._ttl:
                self._freezes = await self._store.active_freezes()
                self._read_at = now
            freezes = self._freezes
        return next((f for f in freezes if f.applies_to(namespace, service)), None)
