"""Error budgets: read from the cache, then PostgreSQL, then the SLO's workflow."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from sla_management.api.auth import Editor
from sla_management.api.deps import Deps, Services, ServiceUnavailable
from sla_management.api.errors import NotFound
from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.limits import echo
from sla_management.domain.slo import CamelModel
from sla_management.domain.windows import BURN_WINDOWS
from sla_management.temporal import start_slo_workflow

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])


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


async def _budget(services: Services, slo_id: str) -> ErrorBudget:
    if (cached := await services.cache.get(slo_id)) is not None:
        return cached
    slo = await services.db.get_slo(slo_id)
    if slo is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    if (stored := await services.db.current_budget(slo_id)) is not None:
        await services.cache.put(stored)
        return stored
    # Not persisted yet (first pass still running): the workflow may already know it.
    try:
        temporal = await services.temporal()
        live: ErrorBudget | None = await temporal.get_workflow_handle(slo.workflow_id).query(
            "budget", result_type=ErrorBudget
        )
    except (RPCError, ServiceUnavailable):
        live = None
    if live is None:
        raise NotFound(f"SLO {echo(slo_id)} has no budget yet: its first calculation has not finished")
    return live


@router.get("/summary", response_model=BudgetSummary, response_model_by_alias=True)
async def summary(services: Deps, worst: Annotated[int, Query(ge=0, le=100)] = 5) -> BudgetSummary:
    budgets = await services.db.list_budgets()
    total = await services.db.count_slos()
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


@router.get("", response_model=list[ErrorBudget], response_model_by_alias=True)
async def list_budgets(
    services: Deps,
    service: str | None = None,
    namespace: str | None = None,
    status: BudgetStatus | None = None,
    burn_level: Annotated[BurnLevel | None, Query(alias="burnLevel")] = None,
) -> list[ErrorBudget]:
    return await services.db.list_budgets(
        service=service,
        namespace=namespace,
        status=status.value if status else None,
        burn_level=burn_level.value if burn_level else None,
    )


@router.get("/{slo_id}", response_model=ErrorBudget, response_model_by_alias=True)
async def get_budget(slo_id: str, services: Deps) -> ErrorBudget:
    return await _budget(services, slo_id)


@router.get("/{slo_id}/history", response_model=list[ErrorBudget], response_model_by_alias=True)
async def history(
    slo_id: str,
    services: Deps,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 5000,
) -> list[ErrorBudget]:
    if start and end and start > end:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "from"),
                    "msg": "`from` must not be after `to`",
                    "type": "value_error",
                }
            ]
        )
    if await services.db.get_slo(slo_id) is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    return await services.db.budget_history(slo_id, start, end, limit)


@router.get("/{slo_id}/burn-rate", response_model=BurnRateReport, response_model_by_alias=True)
async def burn_rate(slo_id: str, services: Deps) -> BurnRateReport:
    budget = await _budget(services, slo_id)
    calc = services.settings.calculator
    return BurnRateReport(
        slo_id=slo_id,
        burn_rates=budget.burn_rates,
        burn_level=budget.burn_level,
        fast_threshold=calc.burn_rate_fast_threshold,
        slow_threshold=calc.burn_rate_slow_threshold,
        windows_seconds=BURN_WINDOWS,
        calculated_at=budget.calculated_at,
    )


@router.post("/{slo_id}/recalculate", response_model=ErrorBudget, response_model_by_alias=True)
async def recalculate(slo_id: str, services: Deps, _: Editor) -> ErrorBudget:
    """Run a pass now and answer with its budget (a Temporal update on the SLO's workflow)."""
    slo = await services.db.get_slo(slo_id)
    if slo is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    temporal = await services.temporal()
    handle = await start_slo_workflow(temporal, slo, services.settings)  # running already: same handle
    timeout = (
        services.settings.prometheus.timeout_seconds * (services.settings.prometheus.max_retries + 1) + 30
    )
    try:
        budget: ErrorBudget = await asyncio.wait_for(
            handle.execute_update("recalculate_now", result_type=ErrorBudget), timeout=timeout
        )
    except TimeoutError as exc:
        raise ServiceUnavailable("no worker answered the recalculation in time") from exc
    except WorkflowUpdateFailedError as exc:
        raise ServiceUnavailable(f"the recalculation failed: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise NotFound(f"SLO {echo(slo_id)} has no running workflow") from exc
        raise ServiceUnavailable(f"Temporal refused the recalculation: {exc}") from exc
    return budget
