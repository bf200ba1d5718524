"""Activities of the SLO loop: read the SLI from Prometheus, record the budget.

Thin classes over injected clients: the math stays in `domain`, the wiring in `worker`, and the
policy fan-out (which SLO loop wakes which policy) in `control/fanout.py`, handed in as a callable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sla_management.activities.models import QuerySLIInput, RecordBudgetInput
from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.postgres import BudgetRepository, OutboxEvent
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.config import KafkaSettings
from sla_management.domain.budget import BudgetStatus, ErrorBudget
from sla_management.domain.plan import QueryResults
from sla_management.errors import PrometheusUnavailable, QueryRejected, ResultShapeError
from sla_management.observability import metrics

log = structlog.get_logger(__name__)

# Each activity is named after its method (`@activity.defn` without a name): the workflows call
# them by reference, and committed histories record an activity by that name, so a method is
# renamed only with a `workflow.patched` step and a replay test.

SEVERITY = {
    BudgetStatus.HEALTHY: "info",
    BudgetStatus.WARNING: "warning",
    BudgetStatus.CRITICAL: "critical",
    BudgetStatus.EXHAUSTED: "critical",
    BudgetStatus.NO_DATA: "info",
    BudgetStatus.UNKNOWN: "warning",
}

# Tells the policies that watch an SLO about its new budget (`control.fanout.PolicyFanOut`).
FanOut = Callable[[RecordBudgetInput], Awaitable[None]]


class SLIActivities:
    def __init__(self, prometheus: PrometheusClient) -> None:
        self._prometheus = prometheus

    @activity.defn
    async def query_sli(self, inp: QuerySLIInput) -> QueryResults:
        started = time.perf_counter()
        try:
            results = await self._prometheus.run_plan(inp.plan)
        except (QueryRejected, ResultShapeError) as exc:
            # Retrying cannot fix a query Prometheus rejects; the budget becomes UNKNOWN.
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
        except PrometheusUnavailable as exc:
            raise ApplicationError(str(exc), type="PrometheusUnavailable") from exc
        finally:
            metrics.CALCULATION_DURATION.observe(time.perf_counter() - started)
        return results


def budget_event(budget: ErrorBudget, event_id: str, settings: KafkaSettings) -> OutboxEvent:
    return OutboxEvent.envelope(
        settings.budget_topic,
        event_id=uuid.UUID(event_id),
        event_type="BUDGET_CALCULATED",
        key=budget.slo_id,
        service_name=budget.service_name,
        severity=SEVERITY[budget.status],
        body={"budget": budget.model_dump(mode="json", by_alias=True)},
    )


class BudgetActivities:
    def __init__(
        self,
        budgets: BudgetRepository,
        cache: BudgetCache,
        kafka: KafkaSettings,
        *,
        published: Callable[[], None] | None = None,
        fan_out: FanOut | None = None,
    ) -> None:
        self._budgets = budgets
        self._cache = cache
        self._kafka = kafka
        self._published = published
        self._fan_out = fan_out

    @activity.defn
    async def record_budget(self, inp: RecordBudgetInput) -> None:
        budget = inp.budget
        event = budget_event(budget, inp.event_id, self._kafka)
        # One transaction: current budget, history row, outbox event. Raises DatabaseUnavailable
        # while PostgreSQL is down: Temporal retries, nothing lost.
        await self._budgets.save(budget, event.event_id, write_history=inp.write_history, events=[event])
        await self._cache.put(budget)
        if self._published is not None:
            self._published()
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
        # Then, apart from the record: which policies hear of it.
        if self._fan_out is not None:
            await self._fan_out(inp)
        log.info(
            "budget recorded",
            slo_id=budget.slo_id,
            status=budget.status.value,
            burn_level=budget.burn_level.value,
            remaining_percent=budget.remaining_percent,
            workflow_id=activity.info().workflow_id,
        )
