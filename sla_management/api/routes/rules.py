"""Prometheus rule files for the SLOs: recording rules and burn-rate alerts (`domain/rules.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from sla_management.api.deps import Deps, Services
from sla_management.api.errors import NotFound
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLO

router = APIRouter(prefix="/api/v1", tags=["rules"])

YAML = "application/yaml"
_YAML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {YAML: {"schema": {"type": "string"}}}, "description": "A YAML file."}
}
_PAGE = 1000
SlothMetadata = Annotated[
    bool,
    Query(alias="slothMetadata", description="Sloth's metadata series for every SLO, not only those asking."),
]


async def get_slo(services: Services, slo_id: str) -> SLO:
    slo = await services.db.get_slo(slo_id)
    if slo is None:
        raise NotFound(f"no SLO with id {slo_id!r}")
    return slo


async def all_slos(services: Services, *, namespace: str | None, service: str | None) -> list[SLO]:
    """Every SLO that matches, page by page (the store answers at most 1000 at a time)."""
    found: list[SLO] = []
    while True:
        page = await services.db.list_slos(
            namespace=namespace, service=service, limit=_PAGE, offset=len(found)
        )
        found.extend(page)
        if len(page) < _PAGE:
            return found


@router.get("/slos/{slo_id}/rules", response_class=Response, responses=_YAML_RESPONSE)
async def slo_rules(slo_id: str, services: Deps, sloth_metadata: SlothMetadata = False) -> Response:
    """One SLO's recording rules and page/ticket burn-rate alerts, as a Prometheus rule file."""
    slo = await get_slo(services, slo_id)
    return Response(render_rule_file([slo], sloth_metadata), media_type=YAML)


@router.get("/rules", response_class=Response, responses=_YAML_RESPONSE)
async def rules(
    services: Deps,
    namespace: Annotated[str | None, Query(description="Only SLOs of this namespace.")] = None,
    service: Annotated[str | None, Query(description="Only SLOs of this service.")] = None,
    sloth_metadata: SlothMetadata = False,
) -> Response:
    """All SLOs' rules as one file for Prometheus' `rule_files` (`sla rules > slo-rules.yaml`)."""
    slos = await all_slos(services, namespace=namespace, service=service)
    return Response(render_rule_file(slos, sloth_metadata), media_type=YAML)
