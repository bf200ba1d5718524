"""SLO definitions: CRUD, validated against Prometheus before anything is saved."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from temporalio.service import RPCError

from sla_management.adapters.postgres import Conflict
from sla_management.adapters.prometheus import PromQLError, ShapeError
from sla_management.api.auth import Editor
from sla_management.api.deps import Deps, Services, ServiceUnavailable
from sla_management.api.errors import NotFound
from sla_management.api.routes.audit import record
from sla_management.domain.budget import BudgetStatus, ErrorBudget, compute_budget
from sla_management.domain.limits import echo
from sla_management.domain.plan import fold_results, plan_queries
from sla_management.domain.slo import SLO, CamelModel, ManagedBy, QueryUnit, SLOSpec
from sla_management.services import (
    InvalidQuery,
    notify_slo_updated,
    query_units,
    retire_slo,
    slo_with_defaults,
)
from sla_management.temporal import start_slo_workflow
from sla_management.workflows.models import LoopParams

router = APIRouter(prefix="/api/v1/slos", tags=["slos"])

_FIELD = {
    "query": "query",
    "errorQuery": "errorQuery",
    "goodQuery": "goodQuery",
    "totalQuery": "totalQuery",
}


def _invalid(field: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "loc": ("body", "sliQuery", field),
                "msg": message,
                "type": "value_error.promql",
                "input": value,
            }
        ]
    )


async def validate_queries(services: Services, spec: SLOSpec) -> dict[str, QueryUnit]:
    """Ask Prometheus whether each query runs (its own error text on failure) and learn each
    event query's unit. Raises RequestValidationError (422) or PrometheusUnavailable (503)."""
    try:
        return await query_units(services.prometheus, spec)
    except InvalidQuery as exc:
        raise _invalid(_FIELD[exc.field], exc.message, exc.query) from exc


def _resolve_defaults(services: Services, spec: SLOSpec) -> SLOSpec:
    return slo_with_defaults(services.settings, spec)


async def _get(services: Services, slo_id: str) -> SLO:
    slo = await services.db.get_slo(slo_id)
    if slo is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    return slo


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SLO, response_model_by_alias=True)
async def create_slo(spec: SLOSpec, services: Deps, response: Response, request: Request, who: Editor) -> SLO:
    spec = _resolve_defaults(services, spec)
    units = await validate_queries(services, spec)
    now = datetime.now(UTC)
    slo = SLO(
        **spec.model_dump(),
        id=str(uuid.uuid4()),
        managed_by=ManagedBy.API,
        query_units=units,
        created_at=now,
        updated_at=now,
    )
    temporal = await services.temporal()  # fail before writing if the loop cannot start
    saved = await services.db.insert_slo(slo)
    try:
        await start_slo_workflow(temporal, saved, services.settings)
    except BaseException as exc:
        # No loop means no budget: do not leave a definition behind that nothing computes.
        await services.db.delete_slo(saved.id)
        if isinstance(exc, RPCError):
            raise ServiceUnavailable(f"could not start the SLO workflow: {exc}") from exc
        raise
    await record(services, request, who, "slo.create", "slo", saved.id, after=saved)
    response.headers["Location"] = f"/api/v1/slos/{saved.id}"
    return saved


@router.get("", response_model=list[SLO], response_model_by_alias=True)
async def list_slos(
    services: Deps,
    service: str | None = None,
    namespace: str | None = None,
    layer: str | None = None,
    status: BudgetStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SLO]:
    return await services.db.list_slos(
        service=service,
        namespace=namespace,
        layer=layer,
        status=status.value if status else None,
        limit=limit,
        offset=offset,
    )


@router.get("/{slo_id}", response_model=SLO, response_model_by_alias=True)
async def get_slo(slo_id: str, services: Deps) -> SLO:
    return await _get(services, slo_id)


@router.put("/{slo_id}", response_model=SLO, response_model_by_alias=True)
async def update_slo(slo_id: str, spec: SLOSpec, services: Deps, request: Request, who: Editor) -> SLO:
    current = await _get(services, slo_id)
    if current.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(f"SLO {slo_id!r} is managed by Kubernetes: edit the SLODefinition resource instead")
    spec = _resolve_defaults(services, spec)
    units = await validate_queries(services, spec)
    updated = SLO(
        **spec.model_dump(),
        id=current.id,
        managed_by=current.managed_by,
        query_units=units,
        created_at=current.created_at,
        updated_at=datetime.now(UTC),
    )
    await services.temporal()  # fail before writing if the loop cannot be told
    saved = await services.db.update_slo(updated)
    if saved is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    await notify_slo_updated(services, saved)
    await record(services, request, who, "slo.update", "slo", saved.id, before=current, after=saved)
    return saved


@router.delete("/{slo_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_slo(slo_id: str, services: Deps, request: Request, who: Editor) -> Response:
    slo = await _get(services, slo_id)
    if slo.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(f"SLO {slo_id!r} is managed by Kubernetes: delete the SLODefinition resource instead")
    await retire_slo(services, slo_id)
    await record(services, request, who, "slo.delete", "slo", slo_id, before=slo)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class QueryOutcome(CamelModel):
    key: str
    promql: str
    time: datetime | None = None
    value: float | None = None
    points: int | None = None
    first_value: float | None = None
    last_value: float | None = None


class SLOTestResult(CamelModel):
    slo_id: str
    queries: list[QueryOutcome] = Field(default_factory=list)
    budget: ErrorBudget


@router.post("/{slo_id}/test", response_model=SLOTestResult, response_model_by_alias=True)
async def test_slo(slo_id: str, services: Deps, who: Editor) -> SLOTestResult:
    """Run the SLO's queries now over its whole window; return the raw answers and the budget
    they give. Nothing is saved."""
    slo = await _get(services, slo_id)
    settings = services.settings
    now = datetime.now(UTC)
    plan = plan_queries(slo, None, int(now.timestamp()), settings.calculator.settle_seconds)
    try:
        results = await services.prometheus.run_plan(plan)
    except (PromQLError, ShapeError) as exc:
        raise RequestValidationError(
            [
                {
                    "loc": ("path", "slo_id"),
                    "msg": f"the SLO's queries fail: {exc}",
                    "type": "value_error.promql",
                }
            ]
        ) from exc
    _, measurements = fold_results(slo, slo.query_units, None, plan, results)
    thresholds = LoopParams.from_settings(settings).thresholds
    budget = compute_budget(
        slo_id=slo.id,
        service_name=slo.service_name,
        namespace=slo.namespace,
        target=slo.target,
        window_days=slo.window_days,
        measurements=measurements,
        thresholds=thresholds,
        now=now,
    )
    outcomes: list[QueryOutcome] = [
        QueryOutcome(
            key=q.key,
            promql=q.promql,
            time=datetime.fromtimestamp(q.time, UTC),
            value=results.values.get(q.key),
        )
        for q in plan.instant
    ]
    for rq in plan.range:
        points: list[Any] = results.series.get(rq.key, [])
        outcomes.append(
            QueryOutcome(
                key=rq.key,
                promql=rq.promql,
                points=len(points),
                first_value=points[0][1] if points else None,
                last_value=points[-1][1] if points else None,
            )
        )
    return SLOTestResult(slo_id=slo.id, queries=outcomes, budget=budget)
