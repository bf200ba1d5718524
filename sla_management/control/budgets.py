"""Budgets: read from the cache, then PostgreSQL, then the SLO's workflow; summaries; a pass now."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import Field

from sla_management.control.clients import Clients
from sla_management.control.slos import get_slo
from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.slo import CamelModel
from sla_management.domain.windows import BURN_WINDOWS
from sla_management.errors import Invalid, NotFound, Unavailable, echo
from sla_management.workflows import client as loops


class SLOBrief(CamelModel):
    slo_id: str
    service_name: str
    remaining_percent: float | None
    status: BudgetStatus
    burn_level: BurnLevel


class BudgetSummary(CamelModel):
    total: int
    by_status: dict[str, int]
    by_burn_level: dict[str, int]
    worst: list[SLOBrief] = Field(default_factory=list)


class BurnRateReport(CamelModel):
    slo_id: str
    burn_rates: dict[str, float | None]
    burn_level: BurnLevel
    fast_threshold: float
    slow_threshold: float
    windows_seconds: dict[str, int]
    calculated_at: datetime


async def get_budget(clients: Clients, slo_id: str) -> ErrorBudget:
    if (cached := await clients.cache.get(slo_id)) is not None:
        return cached
    slo = await get_slo(clients, slo_id)
    if (stored := await clients.budgets.current(slo_id)) is not None:
        await clients.cache.put(stored)
        return stored
    # Not persisted yet (first pass still running): the workflow may already know it.
    try:
        live = await loops.slo_budget(await clients.temporal(), slo.id)
    except (Unavailable, NotFound):
        live = None
    if live is None:
        raise NotFound(f"SLO {echo(slo_id)} has no budget yet: its first calculation has not finished")
    return live


async def summary(clients: Clients, worst: int = 5) -> BudgetSummary:
    budgets = await clients.budgets.latest()
    total = await clients.slos.count()
    by_status = Counter(b.status.value for b in budgets)
    by_level = Counter(b.burn_level.value for b in budgets)
    ranked = sorted(
        (b for b in budgets if b.remaining_percent is not None),
        key=lambda b: b.remaining_percent if b.remaining_percent is not None else 0.0,
    )
    return BudgetSummary(
        total=total,
        by_status={s.value: by_status.get(s.value, 0) for s in BudgetStatus},
        by_burn_level={lvl.value: by_level.get(lvl.value, 0) for lvl in BurnLevel},
        worst=[
            SLOBrief(
                slo_id=b.slo_id,
                service_name=b.service_name,
                remaining_percent=b.remaining_percent,
                status=b.status,
                burn_level=b.burn_level,
            )
            for b in ranked[:worst]
        ],
    )


async def list_budgets(
    clients: Clients,
    *,
    service: str | None = None,
    namespace: str | None = None,
    status: BudgetStatus | None = None,
    burn_level: BurnLevel | None = None,
) -> list[ErrorBudget]:
    return await clients.budgets.latest(
        service=service,
        namespace=namespace,
        status=status.value if status else None,
        burn_level=burn_level.value if burn_level else None,
    )


async def history(
    clients: Clients, slo_id: str, start: datetime | None, end: datetime | None, limit: int
) -> list[ErrorBudget]:
    if start and end and start > end:
        raise Invalid("query.from", "`from` must not be after `to`")
    await get_slo(clients, slo_id)
    return await clients.budgets.history(slo_id, start, end, limit)


async def burn_report(clients: Clients, slo_id: str) -> BurnRateReport:
    budget = await get_budget(clients, slo_id)
    thresholds = clients.settings.thresholds()
    return BurnRateReport(
        slo_id=slo_id,
        burn_rates=budget.burn_rates,
        burn_level=budget.burn_level,
        fast_threshold=thresholds.burn_fast,
        slow_threshold=thresholds.burn_slow,
        windows_seconds=BURN_WINDOWS,
        calculated_at=budget.calculated_at,
    )


async def recalculate(clients: Clients, slo_id: str) -> ErrorBudget:
    """Run a pass now and answer with its budget (a Temporal update on the SLO's workflow)."""
    slo = await get_slo(clients, slo_id)
    prometheus = clients.settings.prometheus
    timeout = prometheus.timeout_seconds * (prometheus.max_retries + 1) + 30
    return await loops.recalculate_now(await clients.temporal(), slo, clients.settings, timeout)


async def prune_history(clients: Clients) -> int:
    """Drop budget history and published outbox events older than the retention."""
    retention = clients.settings.calculator.history_retention_days
    older_than = datetime.now(UTC) - timedelta(days=retention)
    removed = await clients.budgets.prune_history(older_than)
    await clients.outbox.prune_published(older_than)
    return removed
