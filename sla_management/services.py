"""What the REST API and the Kubernetes operator both do to SLOs and policies.

They are two front doors to one control plane: both check queries against Prometheus, fill in
the same defaults, start and signal the same workflows and clean up the same way. Only how a
failure is reported differs (HTTP problem documents there, resource conditions and retries in
the operator), so nothing here knows about FastAPI or kopf.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from sla_management.adapters.active_freezes import ActiveFreezes
from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.postgres import Database, PolicyStore
from sla_management.adapters.prometheus import PrometheusClient, PromQLError, ShapeError
from sla_management.config import Settings
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.plan import render
from sla_management.domain.policy import Policy, PolicySpec
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import SLO, QueryUnit, SLOSpec
from sla_management.temporal import cancel_slo_workflow, connect, start_policy_workflow, start_slo_workflow
from sla_management.workflows.models import PolicyState, ResolveRequest


class ServiceUnavailable(Exception):
    """A dependency the request needs is down: 503, with which one in the message."""


class Services:
    """Process-wide clients, opened lazily so a process starts (and can say why it is not
    ready) while a dependency is down."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.postgresql)
        self.cache = BudgetCache(settings.redis)
        # Kept current only where something runs `active_freezes.run()` (the API's lifespan).
        self.active_freezes = ActiveFreezes(self.db)
        self.prometheus = PrometheusClient(
            settings.prometheus.url,
            timeout_seconds=settings.prometheus.timeout_seconds,
            max_retries=settings.prometheus.max_retries,
        )
        self._temporal: Client | None = None
        self._temporal_lock = asyncio.Lock()

    async def temporal(self) -> Client:
        async with self._temporal_lock:
            if self._temporal is None:
                try:
                    self._temporal = await asyncio.wait_for(connect(self.settings), timeout=5)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise ServiceUnavailable(
                        f"Temporal at {self.settings.temporal.address} is unreachable: {exc}"
                    ) from exc
            return self._temporal

    async def aclose(self) -> None:
        await self.db.close()
        await self.cache.aclose()
        await self.prometheus.aclose()


# Validation ------------------------------------------------------------------------------


class InvalidQuery(ValueError):
    """Prometheus refused one of the SLI queries, or it cannot be analysed."""

    def __init__(self, field: str, message: str, query: str) -> None:
        super().__init__(f"sliQuery.{field}: {message}")
        self.field = field
        self.message = message
        self.query = query


async def query_units(prometheus: PrometheusClient, spec: SLOSpec) -> dict[str, QueryUnit]:
    """Ask Prometheus whether each query runs (its own error text on failure) and learn each
    event query's unit. Raises InvalidQuery, or PrometheusUnavailable when it cannot tell."""
    units: dict[str, QueryUnit] = {}
    for field, query in spec.event_queries().items():
        try:
            await prometheus.instant(render(query, 300))
        except PromQLError as exc:
            raise InvalidQuery(field, f"Prometheus rejected the query: {exc}", query) from exc
        except ShapeError as exc:
            raise InvalidQuery(field, str(exc), query) from exc
        try:
            units[field] = detect_unit(query)
        except ValueError as exc:
            raise InvalidQuery(field, f"the query could not be analysed: {exc}", query) from exc
    return units


def slo_with_defaults(settings: Settings, spec: SLOSpec) -> SLOSpec:
    if "window_days" not in spec.model_fields_set:
        spec = spec.model_copy(update={"window_days": settings.calculator.error_budget_window_days})
    return spec


def policy_with_defaults(settings: Settings, spec: PolicySpec) -> PolicySpec:
    """Omitted thresholds from POLICY__ settings; ValueError when they end up inconsistent."""
    p = settings.policy
    return spec.with_defaults(
        p.freeze_threshold_percent, p.unfreeze_threshold_percent, p.auto_unfreeze_enabled
    )


# SLOs ------------------------------------------------------------------------------------


async def forget_in_policies(services: Services, slo_id: str) -> None:
    temporal = await services.temporal()
    for policy in await PolicyStore(services.db).list_policies():
        with contextlib.suppress(RPCError):  # no workflow, nothing to forget
            await temporal.get_workflow_handle(policy.workflow_id).signal("forget", slo_id)


async def notify_slo_updated(services: Services, slo: SLO) -> None:
    """Hand a changed definition to its loop (or start a fresh loop if it is gone)."""
    temporal = await services.temporal()
    # Policies that watched the old definition drop it; the next pass tells those that watch
    # the new one.
    await forget_in_policies(services, slo.id)
    try:
        await temporal.get_workflow_handle(slo.workflow_id).signal("definition_updated", slo)
    except RPCError:
        # The loop is gone (e.g. terminated by hand): start a fresh one with the new definition.
        await start_slo_workflow(temporal, slo, services.settings)


async def retire_slo(services: Services, slo_id: str) -> None:
    """Stop the loop and remove the definition; safe to repeat after a partial failure."""
    temporal = await services.temporal()
    await cancel_slo_workflow(temporal, slo_id)
    await services.db.delete_slo(slo_id)
    await services.cache.delete(slo_id)
    await forget_in_policies(services, slo_id)


# Policies --------------------------------------------------------------------------------


async def notify_policy_updated(services: Services, policy: Policy) -> None:
    temporal = await services.temporal()
    try:
        await temporal.get_workflow_handle(policy.workflow_id).signal("policy_updated", policy)
    except RPCError:
        await start_policy_workflow(temporal, policy, services.settings.temporal.task_queue)


async def _stop_workflow(temporal: Client, workflow_id: str, timeout: float = 30) -> None:
    """Cancel a workflow and wait until it has closed (a cancel only asks)."""
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        await handle.cancel()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return  # never started, or already closed
        raise ServiceUnavailable(f"Temporal refused to stop {workflow_id}: {exc}") from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
        if loop.time() > deadline:
            raise ServiceUnavailable(f"{workflow_id} did not stop within {timeout:g}s: is a worker running?")
        await asyncio.sleep(0.2)


# Longest minFreezeMinutes: how long a lifted freeze keeps the retiring policy from freezing again.
_HOLD_MINUTES = 10080


async def retire_policy(services: Services, policy: Policy) -> None:
    """Stop the policy's workflow, lift the freeze it holds, remove it; safe to repeat.

    The workflow stops before its freeze is lifted. Lifted first, a policy with
    minFreezeMinutes 0 (or a budget dropping meanwhile) freezes again before the cancel lands,
    and that freeze outlives the policy. A freeze the stopped run still holds is lifted by a
    short run of the same workflow, given that freeze as its state and held back from freezing
    again, so annotations are removed and the end recorded as for any other freeze.
    """
    temporal = await services.temporal()
    store = PolicyStore(services.db)
    task_queue = services.settings.temporal.task_queue
    await _stop_workflow(temporal, policy.workflow_id)
    for _ in range(3):
        held = [f for f in await store.active_freezes() if f.policy_id == policy.id]
        if not held:
            await store.delete_policy(policy.id)
            return
        handle = await start_policy_workflow(
            temporal,
            policy.model_copy(update={"min_freeze_minutes": _HOLD_MINUTES}),
            task_queue,
            state=PolicyState(freeze=held[0], loaded=True),
        )
        # Already lifted by whatever run answered: nothing left to do there.
        with contextlib.suppress(WorkflowUpdateFailedError):
            await handle.execute_update(
                "resolve",
                ResolveRequest(resolved_by="system", reason="policy deleted"),
                result_type=FreezeEvent,
            )
        await _stop_workflow(temporal, policy.workflow_id)
    raise ServiceUnavailable(f"the freeze of policy {policy.id} could not be lifted; try again")
