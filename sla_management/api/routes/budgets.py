"""Error budgets: read from the cache, then PostgreSQL, then the SLO's workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sla_management.api.auth import Editor
from sla_management.api.deps import Deps
from sla_management.control import budgets
from sla_management.control.budgets import BudgetSummary, BurnRateReport
from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])


@router.get("/summary", response_model=BudgetSummary, response_model_by_alias=True)
async def summary(clients: Deps, worst: Annotated[int, Query(ge=0, le=100)] = 5) -> BudgetSummary:
    return await budgets.summary(clients, worst)


@router.get("", response_model=list[ErrorBudget], response_model_by_alias=True)
async def list_budgets(
    clients: Deps,
    service: str | None = None,
    namespace: str | None = None,
    status: BudgetStatus | None = None,
    burn_level: Annotated[BurnLevel | None, Query(alias="burnLevel")] = None,
) -> list[ErrorBudget]:
    return await budgets.list_budgets(
        clients, service=service, namespace=namespace, status=status, burn_level=burn_level
    )


@router.get("/{slo_id}", response_model=ErrorBudget, response_model_by_alias=True)
async def get_budget(slo_id: str, clients: Deps) -> ErrorBudget:
    return await budgets.get_budget(clients, slo_id)


@router.get("/{slo_id}/history", response_model=list[ErrorBudget], response_model_by_alias=True)
async def history(
    slo_id: str,
    clients: Deps,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 5000,
) -> list[ErrorBudget]:
    return await budgets.history(clients, slo_id, start, end, limit)


@router.get("/{slo_id}/burn-rate", response_model=BurnRateReport, response_model_by_alias=True)
async def burn_rate(slo_id: str, clients: Deps) -> BurnRateReport:
    return await budgets.burn_report(clients, slo_id)


@router.post("/{slo_id}/recalculate", response_model=ErrorBudget, response_model_by_alias=True)
async def recalculate(slo_id: str, clients: Deps, _: Editor) -> ErrorBudget:
    """Run a pass now and answer with its budget (a Temporal update on the SLO's workflow)."""
    return await budgets.recalculate(clients, slo_id)
