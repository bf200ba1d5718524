"""Imports (Prometheus alert rules, OpenSLO v1, Sloth) and OpenSLO export.

The file is the request body, as text (YAML; JSON is YAML too); `control/imports.py` converts it
and creates each SLO exactly as `POST /api/v1/slos` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sla_management.api.auth import Editor, Principal
from sla_management.api.deps import Deps, actor
from sla_management.api.routes.rules import YAML, YAML_RESPONSE
from sla_management.control import slos
from sla_management.control.clients import Clients
from sla_management.control.imports import ImportReport, import_slos
from sla_management.domain.interop.common import DEFAULT_NAMESPACE, Conversion
from sla_management.domain.interop.openslo import export_openslo, import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.sloth import import_sloth
from sla_management.domain.limits import DNS_LABEL_PATTERN, TARGET_MAX
from sla_management.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["import/export"])

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file, as sent: YAML (or JSON).",
        "content": {YAML: {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}
Namespace = Annotated[
    str,
    Query(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Namespace for SLOs whose file does not name one (a Kubernetes namespace name).",
    ),
]
DryRun = Annotated[
    bool,
    Query(alias="dryRun", description="Convert and check the queries with Prometheus, but create nothing."),
]


async def _file_text(request: Request) -> str:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("body", "the file is not UTF-8 text") from exc
    if not text.strip():
        raise Invalid("body", "the request body is empty: send the file as the body")
    return text


async def _import(
    convert: Callable[[str], Conversion],
    request: Request,
    clients: Clients,
    who: Principal,
    dry_run: bool,
) -> ImportReport:
    text = await _file_text(request)
    return await import_slos(clients, text, convert, actor(request, who), dry_run=dry_run)


@router.post(
    "/slos/import/alerts", response_model=ImportReport, response_model_by_alias=True, openapi_extra=_FILE_BODY
)
async def import_alert_rules(
    request: Request,
    clients: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    default_target: Annotated[
        float,
        Query(
            alias="defaultTarget", gt=0, le=TARGET_MAX, description="Objective for alerts that state none."
        ),
    ] = 0.99,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from the alert rules of a Prometheus rule file (e.g. `slo-alerts.yaml`)."""
    return await _import(
        lambda text: import_alerts(text, namespace=namespace, default_target=default_target),
        request,
        clients,
        who,
        dry_run,
    )


@router.post(
    "/slos/import/openslo",
    response_model=ImportReport,
    response_model_by_alias=True,
    openapi_extra=_FILE_BODY,
)
async def import_openslo_file(
    request: Request,
    clients: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from OpenSLO v1 `SLO` objects (inline or referenced `SLI`, Prometheus sources)."""
    return await _import(
        lambda text: import_openslo(text, namespace=namespace), request, clients, who, dry_run
    )


@router.post(
    "/slos/import/sloth", response_model=ImportReport, response_model_by_alias=True, openapi_extra=_FILE_BODY
)
async def import_sloth_file(
    request: Request,
    clients: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from Sloth `prometheus/v1` specs (or `PrometheusServiceLevel` resources)."""
    return await _import(lambda text: import_sloth(text, namespace=namespace), request, clients, who, dry_run)


@router.get("/slos/{slo_id}/openslo", response_class=Response, responses=YAML_RESPONSE)
async def slo_openslo(slo_id: str, clients: Deps) -> Response:
    """The SLO as an OpenSLO v1 `SLO` object (YAML)."""
    return Response(export_openslo([await slos.get_slo(clients, slo_id)]), media_type=YAML)


@router.get("/openslo", response_class=Response, responses=YAML_RESPONSE)
async def openslo(
    clients: Deps,
    namespace: Annotated[str | None, Query(description="Only SLOs of this namespace.")] = None,
    service: Annotated[str | None, Query(description="Only SLOs of this service.")] = None,
) -> Response:
    """All (matching) SLOs as OpenSLO v1, one YAML document each (`sla export openslo`)."""
    found = await slos.all_slos(clients, namespace=namespace, service=service)
    return Response(export_openslo(found), media_type=YAML)
