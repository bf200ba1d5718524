"""Prometheus rule files for the SLOs: recording rules and burn-rate alerts (`domain/rules.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from sla_management.api.deps import Deps
from sla_management.control import slos
from sla_management.domain.rules import render_rule_file

router = APIRouter(prefix="/api/v1", tags=["rules"])

YAML = "application/yaml"
YAML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {YAML: {"schema": {"type": "string"}}}, "description": "A YAML file."}
}
SlothMetadata = Annotated[
    bool,
    Query(alias="slothMetadata", description="Sloth's metadata series for every SLO, not only those asking."),
]


@router.get("/slos/{slo_id}/rules", response_class=Response, responses=YAML_RESPONSE)
async def slo_rules(slo_id: str, clients: Deps, sloth_metadata: SlothMetadata = False) -> Response:
    """One SLO's recording rules and page/ticket burn-rate alerts, as a Prometheus rule file."""
    slo = await slos.get_slo(clients, slo_id)
    return Response(render_rule_file([slo], sloth_metadata), media_type=YAML)


@router.get("/rules", response_class=Response, responses=YAML_RESPONSE)
async def rules(
    clients: Deps,
    namespace: Annotated[str | None, Query(description="Only SLOs of this namespace.")] = None,
    service: Annotated[str | None, Query(description="Only SLOs of this service.")] = None,
    sloth_metadata: SlothMetadata = False,
) -> Response:
    """All SLOs' rules as one file for Prometheus' `rule_files` (`sla rules > slo-rules.yaml`)."""
    found = await slos.all_slos(clients, namespace=namespace, service=service)
    return Response(render_rule_file(found, sloth_metadata), media_type=YAML)
