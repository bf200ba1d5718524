"""Activities of the SLO loop: read the SLI from Prometheus, record the budget.

Thin classes over injected clients: the math stays in `domain`, the wiring in `worker`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.kafka import OutboxRelay
from sla_management.adapters.postgres import Database, OutboxEvent, PolicyStore
from sla_management.adapters.prometheus import (
    PrometheusClient,
    PrometheusUnavailable,
    PromQLError,
    ShapeError,
)
from sla_management.config import KafkaSettings
from sla_management.domain.budget import BudgetStatus, ErrorBudget
from sla_management.domain.plan import QueryResults
from sla_management.domain.policy import Observation, Policy, band
from sla_management.observability import metrics
from sla_management.temporal import start_policy_workflow
from sla_management.workflows.models import QuerySLIInput, RecordBudgetInput

log = structlog.get_logger(__name__)

SEVERITY = {
    BudgetStatus.HEALTHY: "info",
    BudgetStatus.WARNING: "warning",
    BudgetStatus.CRITICAL: "critical",
    BudgetStatus.EXHAUSTED: "critical",
    BudgetStatus.NO_DATA: "info",
    BudgetStatus.UNKNOWN: "warning",
}


class SLIActivities:
    def __init__(self, prometheus: PrometheusClient) -> None:
        self._prometheus = prometheus

    @activity.defn(name="query_sli")
    async def query_sli(self, inp: QuerySLIInput) -> QueryResults:
        started = time.perf_counter()
        try:
            results = await self._prometheus.run_plan(inp.plan)
        except (PromQLError, ShapeError) as exc:
            # Retrying cannot fix a query Prometheus rejects; the budget becomes UNKNOWN.
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
        except PrometheusUnavailable as exc:
            raise ApplicationError(str(exc), type="PrometheusUnavailable") from exc
        finally:
            metrics.CALCULATION_DURATION.observe(time.perf_counter() - started)
        return results


def budget_event(budget: ErrorBudget, event_id: str, settings: KafkaSettings) -> OutboxEvent:
    payload = {
        "eventId": event_id,
        "eventType": "BUDGET_CALCULATED",
        "budget": budget.model_dump(mode="json", by_alias=True),
    }
    return OutboxEvent(
        topic=settings.budget_topic,
        key=budget.slo_id,
        payload=payload,
        headers={
            "event_type": "BUDGET_CALCULATED",
            "service_name": budget.service_name,
            "severity": SEVERITY[budget.status],
            "event_id": event_id,
        },
        event_id=uuid.UUID(event_id),
    )


@dataclass(frozen=True)
class _Selectable:
    namespace: str
    service_name: str
    layer: str | None
    labels: dict[str, str]


class PolicyDirectory:
    """Policies read from PostgreSQL at most every few seconds: every pass of every SLO asks
    which policies watch it."""

    def __init__(self, store: PolicyStore, ttl_seconds: float = 5.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._policies: list[Policy] = []
        self._loaded_at = float("-inf")

    async def all(self) -> list[Policy]:
        if time.monotonic() - self._loaded_at > self._ttl:
            self._policies = await self._store.list_policies()
            self._loaded_at = time.monotonic()
        return self._policies


class BudgetActivities:
    def __init__(
        self,
        db: Database,
        cache: BudgetCache,
        kafka: KafkaSettings,
        relay: OutboxRelay | None = None,
        client: Client | None = None,
        policies: PolicyDirectory | None = None,
    ) -> None:
        self._db = db
        self._cache = cache
        self._kafka = kafka
        self._relay = relay
        self._client = client
        self._policies = policies

    @activity.defn(name="record_budget")
    async def record_budget(self, inp: RecordBudgetInput) -> None:
        budget = inp.budget
        event = budget_event(budget, inp.event_id, self._kafka)
        # Raises DatabaseUnavailable while PostgreSQL is down: Temporal retries, nothing lost.
        await self._db.save_budget(budget, event.event_id, write_history=inp.write_history, events=[event])
        await self._cache.put(budget)
        if self._relay is not None:
            self._relay.wake()
        metrics.CALCULATIONS.labels(budget.slo_id, budget.service_name, budget.status.value).inc()
        metrics.set_budget(
            budget.slo_id,
            budget.service_name,
            status_gauge=budget.status.gauge,
            remaining=budget.remaining_percent,
            consumed=budget.consumed_percent,
            burn_rates=budget.burn_rates,
            calculated_at=budget.calculated_at,
        )
        await self._notify_policies(inp)
        log.info(
            "budget recorded",
            slo_id=budget.slo_id,
            status=budget.status.value,
            burn_level=budget.burn_level.value,
            remaining_percent=budget.remaining_percent,
            workflow_id=activity.info().workflow_id,
        )

    async def _notify_policies(self, inp: RecordBudgetInput) -> None:
        """Signal each watching policy when the budget crossed something it decides on."""
        if self._client is None or self._policies is None:
            return
        budget = inp.budget
        probe = _Selectable(budget.namespace, budget.service_name, inp.layer, inp.labels)
        now = Observation.of(budget, inp.slo_name)
        for policy in await self._policies.all():
            if not policy.covers(probe):
                continue
            if not inp.notify_policies and band(policy, inp.previous) == band(policy, now):
                continue
            await start_policy_workflow(self._client, policy, activity.info().task_queue, observe=now)
            metrics.POLICY_SIGNALS.inc()
