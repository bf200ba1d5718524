"""SLO definitions: CRUD, validated against Prometheus before anything is saved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from sla_management.api.auth import Editor
from sla_management.api.deps import Deps, actor
from sla_management.control import slos
from sla_management.control.slos import SLOPreview
from sla_management.domain.budget import BudgetStatus
from sla_management.domain.slo import SLO, ManagedBy, SLOSpec

router = APIRouter(prefix="/api/v1/slos", tags=["slos"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SLO, response_model_by_alias=True)
async def create_slo(spec: SLOSpec, clients: Deps, response: Response, request: Request, who: Editor) -> SLO:
    saved = await slos.create_slo(clients, spec, actor(request, who))
    response.headers["Location"] = f"/api/v1/slos/{saved.id}"
    return saved


@router.get("", response_model=list[SLO], response_model_by_alias=True)
async def list_slos(
    clients: Deps,
    service: str | None = None,
    namespace: str | None = None,
    layer: str | None = None,
    status: BudgetStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SLO]:
    return await slos.list_slos(
        clients, service=service, namespace=namespace, layer=layer, status=status, limit=limit, offset=offset
    )


@router.get("/{slo_id}", response_model=SLO, response_model_by_alias=True)
async def get_slo(slo_id: str, clients: Deps) -> SLO:
    return await slos.get_slo(clients, slo_id)


@router.put("/{slo_id}", response_model=SLO, response_model_by_alias=True)
async def update_slo(slo_id: str, spec: SLOSpec, clients: Deps, request: Request, who: Editor) -> SLO:
    return await slos.update_slo(clients, slo_id, spec, actor(request, who))


@router.delete("/{slo_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_slo(slo_id: str, clients: Deps, request: Request, who: Editor) -> Response:
    await slos.retire_slo(clients, slo_id, actor(request, who), via=ManagedBy.API)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{slo_id}/test", response_model=SLOPreview, response_model_by_alias=True)
async def test_slo(slo_id: str, clients: Deps, _: Editor) -> SLOPreview:
    """Run the SLO's queries now over its whole window; return the raw answers and the budget
    they give. Nothing is saved."""
    return await slos.preview_slo(clients, slo_id)
